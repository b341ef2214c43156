"""Data layer: the database figures behind /api/v1/metrics, cheap enough for a scrape every few seconds at a
million tasks — live states counted exactly through the status index, finished ones from the created_hourly
rollup plus the tasks created since its last refresh."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from db.analytics.rollcut import refreshed_until
from db.core.models import CreatedHourly, Task, Worker
from db.domain.states import TaskStatus

T = cast(Table, Task.__table__)
CH = cast(Table, CreatedHourly.__table__)
W = cast(Table, Worker.__table__)
LIVE = (TaskStatus.QUEUED.value, TaskStatus.RUNNING.value)


def tasks_by_status(session: Session) -> dict[str, int]:
    """Tasks per current status. Queued and running are exact; the finished states are as of the last rollup
    refresh (a minute behind at most) for tasks created before it, exact after it."""
    counts = {s.value: 0 for s in TaskStatus}
    live = select(T.c.status, func.count()).where(T.c.status.in_(LIVE)).group_by(T.c.status)
    counts.update({str(s): int(n) for s, n in session.execute(live)})
    cut = refreshed_until(session)
    finished = select(T.c.status, func.count()).where(T.c.status.not_in(LIVE))
    if cut is not None:
        rolled = (
            select(CH.c.status, func.sum(CH.c.tasks))
            .where(CH.c.hour < cut, CH.c.status.not_in(LIVE))
            .group_by(CH.c.status)
        )
        _add(counts, session.execute(rolled))
        finished = finished.where(T.c.created_at >= cut)
    _add(counts, session.execute(finished.group_by(T.c.status)))
    return counts


def _add(counts: dict[str, int], rows: Any) -> None:
    for status, n in rows:
        counts[str(status)] = counts.get(str(status), 0) + int(n or 0)


def queue_depth(session: Session, now: datetime) -> int:
    """Queued tasks a worker could claim now (retries still backing off are not counted)."""
    query = select(func.count()).where(T.c.status == TaskStatus.QUEUED.value, T.c.available_at <= now)
    return int(session.scalar(query) or 0)


def workers_by_status(session: Session) -> dict[str, int]:
    return {str(s): int(n) for s, n in session.execute(select(W.c.status, func.count()).group_by(W.c.status))}


def freshest_heartbeat(session: Session) -> datetime | None:
    """When the most recently heard-from worker that is not offline last reported."""
    last: datetime | None = session.scalar(select(func.max(W.c.last_seen_at)).where(W.c.status != "offline"))
    return last
