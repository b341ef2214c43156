"""Data layer: read queries of the live overview — KPIs, the throughput / status-mix series, worker health.
Aggregation happens in SQL; each function returns a small frame or dataclass."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.orm import Session

from db.core.frames import to_frame
from db.core.models import Invocation, Task, Worker
from db.core.sqlfuncs import bucket, seconds_between
from db.core.timeutil import day_start
from db.domain.liveness import stuck_condition
from db.domain.states import FAILURES, TaskStatus, WorkerStatus


@dataclass(frozen=True)
class Kpis:
    queued: int
    running: int
    stuck: int
    completed_today: int
    failed_today: int
    success_rate: float | None
    avg_duration_s: float | None
    p95_duration_s: float | None
    throughput_per_hour: int
    cost_today: float

    @property
    def active(self) -> int:
        return self.queued + self.running


def kpis(session: Session, now: datetime, stuck_after: timedelta) -> Kpis:
    t = Task.__table__.c
    active: dict[str, int] = dict(
        session.execute(
            select(t.status, func.count())
            .where(t.status.in_([TaskStatus.QUEUED.value, TaskStatus.RUNNING.value]))
            .group_by(t.status)
        ).all()
    )
    stuck = session.scalar(select(func.count()).where(stuck_condition(now, stuck_after)))
    today = day_start(now)
    # Conditional counts, not GROUP BY status: grouping tempts the planner into scanning the status index
    # instead of the small completed_at range.
    finished_ok, finished_bad = session.execute(
        select(
            func.coalesce(func.sum(case((t.status == TaskStatus.COMPLETED.value, 1), else_=0)), 0),
            func.coalesce(
                func.sum(
                    case((t.status.in_([TaskStatus.FAILED.value, TaskStatus.TIMED_OUT.value]), 1), else_=0)
                ),
                0,
            ),
        ).where(t.completed_at >= today)
    ).one()
    completed, failed = int(finished_ok), int(finished_bad)
    duration = seconds_between(t.started_at, t.completed_at)
    done_today = and_(
        t.completed_at >= today, t.status == TaskStatus.COMPLETED.value, t.started_at.is_not(None)
    )
    avg = session.scalar(select(func.avg(duration)).where(done_today))
    p95 = None
    if completed:
        offset = int(0.95 * (completed - 1))
        p95 = session.scalar(select(duration).where(done_today).order_by(duration).offset(offset).limit(1))
    last_hour = session.scalar(
        select(func.count()).where(t.completed_at >= now - timedelta(hours=1), t.status == "completed")
    )
    cost = session.scalar(
        select(func.coalesce(func.sum(Invocation.cost_usd), 0.0)).where(Invocation.started_at >= today)
    )
    return Kpis(
        queued=active.get(TaskStatus.QUEUED.value, 0),
        running=active.get(TaskStatus.RUNNING.value, 0),
        stuck=stuck or 0,
        completed_today=completed,
        failed_today=failed,
        success_rate=(completed / (completed + failed)) if (completed + failed) else None,
        avg_duration_s=float(avg) if avg is not None else None,
        p95_duration_s=float(p95) if p95 is not None else None,
        throughput_per_hour=last_hour or 0,
        cost_today=float(cost or 0.0),
    )


def finished_series(session: Session, now: datetime, hours: int = 24, unit: str = "hour") -> pd.DataFrame:
    """Tasks that ended per time bucket and final status: columns bucket, status, count."""
    t = Task.__table__.c
    b = bucket(t.completed_at, unit)
    rows = session.execute(
        select(b.label("bucket"), t.status, func.count().label("count"))
        .where(t.completed_at >= now - timedelta(hours=hours))
        .group_by(b, t.status)
        .order_by(b)
    ).all()
    frame = to_frame(rows, ["bucket", "status", "count"])
    frame["bucket"] = pd.to_datetime(frame["bucket"])
    return frame


def started_series(session: Session, now: datetime, hours: int = 24, unit: str = "hour") -> pd.DataFrame:
    """Tasks created per bucket: columns bucket, count (the demand line next to the outcomes)."""
    t = Task.__table__.c
    b = bucket(t.created_at, unit)
    rows = session.execute(
        select(b.label("bucket"), func.count().label("count"))
        .where(t.created_at >= now - timedelta(hours=hours))
        .group_by(b)
        .order_by(b)
    ).all()
    frame = to_frame(rows, ["bucket", "count"])
    frame["bucket"] = pd.to_datetime(frame["bucket"])
    return frame


def workers_frame(session: Session, limit: int = 50, hidden_before: datetime | None = None) -> pd.DataFrame:
    """Worker rows, online first: id, name, host, status, running_count, concurrency, last_seen_at, …
    With `hidden_before`, offline workers last seen before it are left out (their rows stay in the table)."""
    w = Worker.__table__.c
    order = case((w.status == "busy", 0), (w.status == "online", 1), else_=2)
    query = (
        select(
            w.id,
            w.name,
            w.host,
            w.pid,
            w.status,
            w.running_count,
            w.concurrency,
            w.current_task_id,
            w.started_at,
            w.last_seen_at,
            w.tasks_completed,
            w.tasks_failed,
        )
        .order_by(order, w.last_seen_at.desc())
        .limit(limit)
    )
    if hidden_before is not None:
        query = query.where(or_(w.status != WorkerStatus.OFFLINE.value, w.last_seen_at >= hidden_before))
    rows = session.execute(query).all()
    return pd.DataFrame(
        rows,
        columns=[
            "id",
            "name",
            "host",
            "pid",
            "status",
            "running_count",
            "concurrency",
            "current_task_id",
            "started_at",
            "last_seen_at",
            "tasks_completed",
            "tasks_failed",
        ],
    )


TODAY_COLUMNS = ["completed_today", "failed_today", "cancelled_today"]


def live_workers(
    session: Session, now: datetime, hide_offline_after: timedelta | None, limit: int = 50
) -> pd.DataFrame:
    """`workers_frame` (without workers offline for longer than `hide_offline_after`, when given) plus what
    each finished today (UTC) by outcome, counted from the tasks as the KPI cards are (failed_today holds
    failed and timed out, like "Failed today"; cancelled ones apart)."""
    hidden_before = None if hide_offline_after is None else now - hide_offline_after
    frame = workers_frame(session, limit, hidden_before=hidden_before)
    t = Task.__table__.c
    # Grouped by an expression, not the bare column: SQLite (no ANALYZE statistics) would otherwise walk
    # ix_tasks_worker_status over every task ever run for the GROUP BY's order instead of reading today's
    # rows by completed_at (200-400 ms at 100,000 tasks). Tasks without a worker form the "" group, which
    # joins no worker row.
    worker = func.coalesce(t.worker_id, "")
    rows = session.execute(
        select(
            worker,
            func.sum(case((t.status == TaskStatus.COMPLETED.value, 1), else_=0)),
            func.sum(case((t.status.in_(FAILURES), 1), else_=0)),
            func.sum(case((t.status == TaskStatus.CANCELLED.value, 1), else_=0)),
        )
        .where(t.completed_at >= day_start(now))
        .group_by(worker)
    ).all()
    today = pd.DataFrame(rows, columns=["id", *TODAY_COLUMNS]).set_index("id")
    frame = frame.join(today, on="id")
    frame[TODAY_COLUMNS] = frame[TODAY_COLUMNS].fillna(0).astype(int)
    return frame
