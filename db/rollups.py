"""Data layer: keeps the usage_hourly rollup in step with invocations. Each refresh recomputes the recent
hours (a call's usage may land after its hour began) and is idempotent; the first one builds everything."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, case, delete, func, insert, select, text
from sqlalchemy.orm import Session

from db.models import Invocation, JobLease, Task, UsageHourly
from db.sqlfuncs import hour_floor, seconds_between

JOB = "rollup:usage_hourly"
# Calls whose usage is recorded more than this after their hour began are folded in by the next full rebuild.
LOOKBACK = timedelta(hours=3)
PG_LOCK = 7_291_002


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def rebuild(session: Session, since: datetime | None) -> None:
    """Recompute every hour from `since` (None: all)."""
    i, t, u = Invocation.__table__.c, Task.__table__.c, cast(Table, UsageHourly.__table__)
    hour = hour_floor(i.started_at)
    dims = (i.model, i.role, i.provider, t.kind)
    source = (
        select(
            hour,
            *dims,
            func.count(),
            func.sum(case((i.status == "failed", 1), else_=0)),
            func.sum(i.input_tokens),
            func.sum(i.output_tokens),
            func.sum(i.cache_read_tokens),
            func.sum(i.cost_usd),
            func.coalesce(func.sum(seconds_between(i.started_at, i.completed_at)), 0.0),
        )
        .select_from(Invocation.__table__.join(Task.__table__, t.id == i.task_id))
        .group_by(hour, *dims)
    )
    wipe = delete(u)
    if since is not None:
        source = source.where(i.started_at >= since)
        wipe = wipe.where(u.c.hour >= since)
    session.execute(wipe)
    columns = [
        "hour",
        "model",
        "role",
        "provider",
        "kind",
        "calls",
        "failed_calls",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cost_usd",
        "duration_s",
    ]
    session.execute(insert(u).from_select(columns, source))


def refresh(session: Session, now: datetime) -> None:
    """The recent hours, or everything on the first run. Safe from several workers at once: on PostgreSQL an
    advisory lock serialises them, on SQLite the write transaction does."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_LOCK})
    lease = session.get(JobLease, JOB)
    since = floor_hour(now) - LOOKBACK if lease is not None and lease.last_key else None
    if since is not None and session.execute(select(UsageHourly.id).limit(1)).first() is None:
        since = None  # the rollup is empty (new table, or wiped): build it all
    rebuild(session, since)
    if lease is None:
        session.add(
            JobLease(name=JOB, holder=None, expires_at=None, last_run_at=now, last_key=now.isoformat())
        )
    else:
        lease.last_run_at = now
        lease.last_key = now.isoformat()
