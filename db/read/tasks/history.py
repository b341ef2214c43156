"""Data layer: one task's history — its transitions, events, calls (a frame for its page, one call with its
lines for the API) and activity lines (the page's newest, the API's pages after an id, the live stream's
events) — read in one snapshot where a page combines several."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, cast

import pandas as pd
from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from db.core.frames import to_frame
from db.core.models import Activity, Invocation, TaskEvent
from db.core.sqlfuncs import seconds_between
from db.domain.states import EventType, TaskStatus
from db.live.feed import COLUMNS, FeedEvent, events_between
from db.read.call_view import CALLS
from db.read.task_view import T
from db.write.messages import unpack

A = cast(Table, Activity.__table__)
I = cast(Table, Invocation.__table__)  # noqa: E741
E = cast(Table, TaskEvent.__table__)


def transitions(session: Session, task_id: int) -> pd.DataFrame:
    rows = session.execute(
        select(E.c.seq, E.c.at, E.c.from_status, E.c.to_status, E.c.actor, E.c.payload)
        .where(E.c.task_id == task_id, E.c.type.in_(["task.created", "task.transition"]))
        .order_by(E.c.seq)
    ).all()
    frame = to_frame(rows, ["seq", "at", "from_status", "to_status", "actor", "payload"])
    # When it happened: the producer's time where a source gave one (Celery, POST /events `at`, OTLP), and
    # the task's created_at for its creation (a source's too), else when it was recorded.
    created = session.scalar(select(T.c.created_at).where(T.c.id == task_id))
    frame["at"] = [
        created
        if created is not None and not isinstance(frm, str)  # the creation: no status before it
        else datetime.fromisoformat(p["happened_at"])
        if isinstance(p, dict) and p.get("happened_at")
        else at
        for at, frm, p in zip(frame["at"], frame["from_status"], frame["payload"], strict=True)
    ]
    frame["reason"] = [p.get("reason") if isinstance(p, dict) else None for p in frame["payload"]]
    frame["attempt"] = [p.get("attempt") if isinstance(p, dict) else None for p in frame["payload"]]
    return frame.drop(columns=["payload"])


_CALL_COLUMNS = (
    *(
        I.c[n]
        for n in ("id", "iteration", "role", "provider", "model", "status", "started_at", "completed_at")
    ),
    seconds_between(I.c.started_at, I.c.completed_at).label("duration_s"),
    *(I.c[n] for n in ("input_tokens", "output_tokens", "cache_read_tokens", "cost_usd", "error")),
)


def invocations(session: Session, task_id: int) -> pd.DataFrame:
    """The task's calls for its page's table and timeline, by start, each with the attempt it belongs to."""
    rows = session.execute(
        select(*_CALL_COLUMNS).where(I.c.task_id == task_id).order_by(I.c.started_at)
    ).all()
    frame = pd.DataFrame(rows, columns=[c.name for c in _CALL_COLUMNS])
    frame["attempt"] = _attempts(session, task_id, frame)
    return frame


# Ids reported by command scripts and the events API are stored as t{task}a{attempt}-{client id}.
_NAMESPACED = re.compile(r"^t\d+a(\d+)-")


def _attempts(session: Session, task_id: int, frame: pd.DataFrame) -> list[int | None]:
    """Each call's attempt: from its namespaced id, else the attempt whose run had started when the call
    did (the task's transitions to running carry their attempt)."""
    if frame.empty:
        return []
    runs = session.execute(
        select(E.c.at, E.c.payload)
        .where(
            E.c.task_id == task_id,
            E.c.type == EventType.TRANSITION.value,
            E.c.to_status == TaskStatus.RUNNING.value,
        )
        .order_by(E.c.seq)
    ).all()
    starts = [(at, int(p["attempt"])) for at, p in runs if isinstance(p, dict) and p.get("attempt")]
    found: list[int | None] = []
    for call_id, started in zip(frame["id"], frame["started_at"], strict=True):
        match = _NAMESPACED.match(str(call_id))
        if match:
            found.append(int(match.group(1)))
            continue
        attempt = None
        for at, run_attempt in starts:
            if started is not None and not pd.isna(started) and at <= started:
                attempt = run_attempt
        found.append(attempt)
    return found


def latest_activity(session: Session, task_id: int, limit: int = 300) -> pd.DataFrame:
    """The newest `limit` lines, oldest first (the page's first load)."""
    rows = session.execute(
        select(A.c.id, A.c.at, A.c.type, A.c.stream, A.c.message, A.c.invocation_id)
        .where(A.c.task_id == task_id)
        .order_by(A.c.id.desc())
        .limit(limit)
    ).all()
    frame = to_frame(rows, ["id", "at", "type", "stream", "message", "invocation_id"])
    return frame.iloc[::-1].reset_index(drop=True)


def one_snapshot(session: Session) -> None:
    """Makes the session's later reads one snapshot: on PostgreSQL each statement of a READ COMMITTED
    transaction sees the commits made since the last, so lines read by one and seqs read by the next could
    disagree. (A SQLite read transaction is one snapshot already.) Call before the session's first read."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def activity_seqs(session: Session, task_id: int, after: int) -> list[int]:
    """Seqs of the task's activity events after `after`: which of them a load of its lines already holds."""
    return list(
        session.scalars(
            select(E.c.seq)
            .where(E.c.task_id == task_id, E.c.type == EventType.ACTIVITY.value, E.c.seq > after)
            .order_by(E.c.seq)
        )
    )


def activity_events(session: Session, task_id: int, after: int, upto: int, limit: int) -> list[FeedEvent]:
    """The task's first `limit` activity events with after < seq <= upto, in seq order (what a live page
    appends)."""
    rows = session.execute(
        select(*COLUMNS)
        .where(E.c.task_id == task_id, E.c.type == EventType.ACTIVITY.value, E.c.seq > after, E.c.seq <= upto)
        .order_by(E.c.seq)
        .limit(limit)
    )
    return [FeedEvent(*row) for row in rows]


def timeline(session: Session, task_id: int, after: int = 0, limit: int = 1000) -> list[FeedEvent]:
    """The task's events in seq order after `after` (its transitions, calls, activity, usage, progress)."""
    return events_between(session, after, None, limit=limit, task_id=task_id)


ACTIVITY_COLUMNS = ("id", "task_id", "invocation_id", "type", "stream", "message", "at")


def activity_after(session: Session, task_id: int, after: int = 0, limit: int = 500) -> list[dict[str, Any]]:
    """Up to `limit` lines with an id above `after`, oldest first (the API's pages of lines)."""
    rows = session.execute(
        select(*(A.c[c] for c in ACTIVITY_COLUMNS))
        .where(A.c.task_id == task_id, A.c.id > after)
        .order_by(A.c.id)
        .limit(limit)
    ).mappings()
    return [dict(r) for r in rows]


def invocation(session: Session, invocation_id: str, lines: int = 1000) -> dict[str, Any] | None:
    """The call and its first `lines` activity lines (`activity_truncated` says whether there were more)."""
    fields = (f.selected() for f in CALLS.api_fields(detail=True))
    row = session.execute(select(*fields).where(I.c.id == invocation_id)).mappings().first()
    if row is None:
        return None
    out = dict(row)
    out["messages"] = unpack(out["messages"])
    found = session.execute(
        select(*(A.c[c] for c in ACTIVITY_COLUMNS))
        .where(A.c.task_id == out["task_id"], A.c.invocation_id == invocation_id)
        .order_by(A.c.id)
        .limit(lines + 1)
    ).mappings()
    items = [dict(r) for r in found]
    out["activity"] = items[:lines]
    out["activity_truncated"] = len(items) > lines
    return out
