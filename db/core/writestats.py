"""Data layer: commit latency of the write path, measured with SQLAlchemy session events, rolled up per minute."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert
from sqlalchemy.orm import Session, sessionmaker

from db.core.models import WriteStat
from db.core.timeutil import from_epoch, utcnow


@dataclass(frozen=True)
class CommitSample:
    at: float
    ms: float
    events: int


class CommitStats:
    """A ring of recent commits; `flush` writes finished minutes to write_stats."""

    def __init__(self, maxlen: int = 50_000) -> None:
        self._samples: deque[CommitSample] = deque(maxlen=maxlen)
        self._lock = threading.Lock()
        self.process = f"{socket.gethostname()}:{os.getpid()}"
        self._flushed_until = time.time() // 60 * 60

    def attach(self, factory: sessionmaker[Session]) -> None:
        from sqlalchemy import event

        @event.listens_for(factory, "after_begin")
        def _begin(session: Session, _tx: object, _conn: object) -> None:
            session.info.setdefault("t0", time.perf_counter())

        @event.listens_for(factory, "after_commit")
        def _commit(session: Session) -> None:
            t0 = session.info.pop("t0", None)
            events = session.info.pop("events", 0)
            if t0 is not None:
                self.add((time.perf_counter() - t0) * 1000.0, events)

        @event.listens_for(factory, "after_rollback")
        def _rollback(session: Session) -> None:
            session.info.pop("t0", None)
            session.info.pop("events", None)

    def add(self, ms: float, events: int) -> None:
        with self._lock:
            self._samples.append(CommitSample(time.time(), ms, events))

    def recent(self, seconds: float = 60.0) -> list[CommitSample]:
        cutoff = time.time() - seconds
        with self._lock:
            return [s for s in self._samples if s.at >= cutoff]

    def minute_rows(self, now: float | None = None) -> list[dict[str, Any]]:
        """Aggregate every complete minute not yet flushed."""
        now = time.time() if now is None else now
        current = now // 60 * 60
        with self._lock:
            samples = [s for s in self._samples if self._flushed_until <= s.at < current]
            self._flushed_until = current
        buckets: dict[float, list[CommitSample]] = {}
        for s in samples:
            buckets.setdefault(s.at // 60 * 60, []).append(s)
        rows = []
        for minute, group in sorted(buckets.items()):
            ms = sorted(s.ms for s in group)
            rows.append(
                {
                    "minute": from_epoch(minute),
                    "process": self.process,
                    "commits": len(ms),
                    "events": sum(s.events for s in group),
                    "total_ms": sum(ms),
                    "p50_ms": percentile(ms, 50),
                    "p95_ms": percentile(ms, 95),
                    "max_ms": ms[-1],
                }
            )
        return rows


def flush_write_stats(session: Session, stats: CommitStats, keep_days: int = 30) -> int:
    rows = stats.minute_rows()
    if rows:
        session.execute(insert(WriteStat), rows)
    cutoff = utcnow().timestamp() - keep_days * 86400
    session.execute(delete(WriteStat).where(WriteStat.minute < from_epoch(cutoff)))
    return len(rows)


def percentile(sorted_values: list[float], pct: float) -> float:
    if not sorted_values:
        return 0.0
    k = (len(sorted_values) - 1) * pct / 100.0
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)
