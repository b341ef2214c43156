"""Data layer: the database figures behind /api/v1/metrics, cheap enough for a scrape every few seconds at a
million tasks — live states counted exactly through the status index, finished ones from the created_hourly
rollup plus the tasks created since its last refresh (the created-tasks spec's read, db/analytics/rollup_read.py)."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from db.analytics.rollup_read import Read, run
from db.analytics.rollup_spec import CREATED
from db.core.models import Task, Worker
from db.domain.states import TaskStatus
from db.read.scope import Scope

T = cast(Table, Task.__table__)
W = cast(Table, Worker.__table__)
LIVE = (TaskStatus.QUEUED.value, TaskStatus.RUNNING.value)


# All of time: the hours the rollup has, then the tasks created since its last refresh.
EVER = Scope(start=datetime.min, end=datetime.max)
BY_STATUS = Read("api_metrics.by_status", CREATED, ("tasks",), by=("status",), minutes=False)


def tasks_by_status(session: Session) -> dict[str, int]:
    """Tasks per current status. Queued and running are exact; the finished states are as of the last rollup
    refresh (a minute behind at most) for tasks created before it, exact after it."""
    counts = {s.value: 0 for s in TaskStatus}
    live = select(T.c.status, func.count()).where(T.c.status.in_(LIVE)).group_by(T.c.status)
    counts.update({str(s): int(n) for s, n in session.execute(live)})
    for status, n in run(session, BY_STATUS, EVER).itertuples(index=False):
        if status not in LIVE:
            counts[str(status)] = counts.get(str(status), 0) + int(n or 0)
    return counts


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
