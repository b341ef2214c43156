"""Data layer: reads the event log in `seq` order for live listeners, never skipping an event whose
transaction is still in flight.

On PostgreSQL a sequence value is taken at INSERT but becomes visible at COMMIT, so seq 11 can be visible
before seq 10. A reader that jumped to 11 would never see 10. This reader stops at the first hole and waits
for it to fill; a hole that stays empty past `gap_timeout` is a rolled-back transaction and is passed over.
On SQLite writers are serialised, so holes never appear and the reader never waits."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Text, bindparam, cast, func, select
from sqlalchemy.orm import Session

from db.core.models import TaskEvent
from db.core.timeutil import iso

E = TaskEvent.__table__
# One encoder: json.dumps with any option builds a new JSONEncoder per call.
_COMPACT = json.JSONEncoder(separators=(",", ":"), default=str).encode


@dataclass(frozen=True)
class FeedEvent:
    seq: int
    type: str
    task_id: int | None
    from_status: str | None
    to_status: str | None
    actor: str
    payload_json: str | None  # the stored JSON text, decoded only when asked (`payload`)
    at: datetime

    @functools.cached_property
    def payload(self) -> dict[str, Any]:
        return json.loads(self.payload_json) if self.payload_json else {}

    def _head(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "seq": self.seq,
            "type": self.type,
            "at": iso(self.at),
            "task_id": self.task_id,
        }
        if self.from_status or self.to_status:
            out["from"] = self.from_status
            out["to"] = self.to_status
        # The substring test spares decoding payloads that cannot hold an id (most of a busy feed).
        raw = self.payload_json or ""
        if '"invocation_id"' in raw or '"worker_id"' in raw:
            for key in ("invocation_id", "worker_id"):
                if key in self.payload:
                    out[key] = self.payload[key]
        return out

    def message(self) -> dict[str, Any]:
        """The websocket message: seq, type, at and the entity ids, plus what live views need."""
        return {**self._head(), "data": self.payload}

    def text(self) -> str:
        """message() as compact JSON text, with the stored payload spliced in rather than decoded and
        encoded again (the change feed's cost per event under heavy ingestion)."""
        head = _COMPACT(self._head())
        return f'{head[:-1]},"data":{self.payload_json or "{}"}}}'


# The payload as its JSON text (CAST: PostgreSQL's driver would otherwise decode json columns itself).
COLUMNS = (
    E.c.seq,
    E.c.type,
    E.c.task_id,
    E.c.from_status,
    E.c.to_status,
    E.c.actor,
    cast(E.c.payload, Text),
    E.c.at,
)


def events_between(
    session: Session, after: int, upto: int | None = None, limit: int = 1000, task_id: int | None = None
) -> list[FeedEvent]:
    """Committed events with after < seq <= upto, in order (replay for a reconnecting client)."""
    query = select(*COLUMNS).where(E.c.seq > after).order_by(E.c.seq).limit(limit)
    if upto is not None:
        query = query.where(E.c.seq <= upto)
    if task_id is not None:
        query = query.where(E.c.task_id == task_id)
    return [FeedEvent(*row) for row in session.execute(query)]


def latest_seq(session: Session) -> int:
    """The newest committed event's seq (0 for an empty log): where a listener that wants only what comes next
    starts."""
    return int(session.execute(select(func.coalesce(func.max(E.c.seq), 0))).scalar_one())


# skip()'s statements, built once: a feed pumps on every commit, and building one cost more than running it.
_WINDOW = select(func.max(E.c.seq), func.count(), select(func.max(E.c.seq)).scalar_subquery()).where(
    E.c.seq > bindparam("after"), E.c.seq <= bindparam("upto")
)
_SEQS = select(E.c.seq).where(E.c.seq > bindparam("after")).order_by(E.c.seq).limit(bindparam("limit"))


class OrderedReader:
    """Holds a cursor; `read` returns the next contiguous run of committed events."""

    def __init__(self, cursor: int, gap_timeout: float = 2.0) -> None:
        self.cursor = cursor
        self.gap_timeout = gap_timeout
        self._gap_since: dict[int, float] = {}

    def read(self, session: Session, limit: int = 1000) -> list[FeedEvent]:
        rows = events_between(session, self.cursor, limit=limit)
        return rows[: self._advance([ev.seq for ev in rows])]

    def skip(self, session: Session, limit: int = 1000) -> int:
        """Moves the cursor exactly as read() would, reading only the seq numbers (for a listener with nobody
        to hand the events to, which need not decode them); returns how many it passed."""
        window = {"after": self.cursor, "upto": self.cursor + limit}
        top, count, latest = session.execute(_WINDOW, window).one()
        if latest is None or latest <= self.cursor:
            return 0  # nothing new (a wake-up for a commit already read, or for another table's write)
        if count and top - self.cursor == count:
            # No hole in the window (always so on SQLite): the seqs are known without fetching them, and the
            # cursor moves to the window's top at once (nothing in it to wait for).
            self.cursor = top
            self._forget_holes()
            return int(count)
        # A hole, or nothing in the window (the next rows may lie past a gap wider than it): read the seqs.
        return self._advance(session.scalars(_SEQS, {"after": self.cursor, "limit": limit}).all())

    def _advance(self, seqs: Sequence[int]) -> int:
        """Moves the cursor along `seqs` up to the first hole still worth waiting for; returns how many."""
        now = time.monotonic()
        taken = 0
        for seq in seqs:
            expected = self.cursor + 1
            if seq != expected:
                first_seen = self._gap_since.setdefault(expected, now)
                if now - first_seen < self.gap_timeout:
                    break  # an earlier transaction may still commit: wait for it
                self._gap_since.pop(expected, None)
            self.cursor = seq
            taken += 1
        self._forget_holes()
        return taken

    def _forget_holes(self) -> None:
        """Holes behind the cursor are no longer waited on."""
        if self._gap_since:
            for hole in [h for h in self._gap_since if h <= self.cursor]:
                del self._gap_since[hole]

    @property
    def waiting_on_gap(self) -> bool:
        return bool(self._gap_since)
