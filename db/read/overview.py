"""Data layer: read queries of the live overview — KPIs, the throughput / status-mix series, worker health.
Aggregation happens in SQL; each function returns a small frame or dataclass."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from db.analytics import bins, rollup_read
from db.analytics.performance import EXACT_BELOW
from db.analytics.rollup_read import Read
from db.analytics.rollup_spec import CREATED, FINISHED, RUNTIMES, USAGE
from db.core.models import Task, Worker
from db.core.sqlfuncs import seconds_between
from db.core.timeutil import day_start
from db.domain.liveness import stuck_condition
from db.domain.states import FAILURES, TaskStatus, WorkerStatus
from db.read.scope import Scope

COMPLETED = TaskStatus.COMPLETED.value


# Today's and the last day's figures, read from the rollups of the tasks that ended (db/analytics/rollup_spec.py): whole
# hours and minutes as buckets, only the rows since the last fold from the tasks, even early in the day.
NOW_SPAN = timedelta(0)
TODAY = Read("overview.today", FINISHED, ("tasks", "started", "run_s"), by=("status",), min_span=NOW_SPAN)
BY_WORKER = Read("overview.workers", FINISHED, ("tasks",), by=("worker", "status"), min_span=NOW_SPAN)
RUN_BINS = Read("overview.run_bins", RUNTIMES, ("tasks",), by=("status", "bin"), min_span=NOW_SPAN)
ENDED = Read("overview.ended", FINISHED, ("tasks",), by=("status",), units=("hour",), min_span=NOW_SPAN)
MADE = Read("overview.created", CREATED, ("tasks",), units=("hour",), min_span=NOW_SPAN)
SPENT = Read("overview.spent", USAGE, ("cost_usd",), min_span=NOW_SPAN)


# A field's `description` metadata is the API's (dashboard/api/schemas.py builds its Stats from Kpis).
@dataclass(frozen=True)
class Kpis:
    """The overview's cards (today is the UTC day); the API's /stats answers these fields, its schema
    generated from them."""

    queued: int
    running: int
    stuck: int = field(
        metadata={"description": "running but silent for longer than TASKLENS_STUCK_AFTER_SECONDS"}
    )
    completed_today: int
    failed_today: int
    success_rate: float | None
    avg_duration_s: float | None
    p95_duration_s: float | None
    throughput_per_hour: int
    cost_today: float
    # Read from run-time bins (db/analytics/bins.py), as the Performance page does.
    p95_estimated: bool = field(
        default=False,
        metadata={
            "description": "p95 read from run-time bins (within about 1 %), not sorted: many tasks today"
        },
    )

    @property
    def active(self) -> int:
        return self.queued + self.running


def _today(now: datetime) -> Scope:
    return Scope(start=day_start(now), end=now, range_key="custom")


def _by_status(frame: pd.DataFrame, column: str, statuses: tuple[str, ...]) -> float:
    return float(frame.loc[frame["status"].isin(statuses), column].sum()) if not frame.empty else 0.0


def ended_today(session: Session, now: datetime) -> pd.DataFrame:
    """Tasks that ended today (UTC) per final status: columns status, tasks, started, run_s (from the
    rollups: buckets, not today's rows)."""
    return rollup_read.run(session, TODAY, _today(now))


def kpis(session: Session, now: datetime, stuck_after: timedelta, exact_below: int = EXACT_BELOW) -> Kpis:
    """The overview's cards. Queued, running and stuck are read from the tasks by index; today's outcomes,
    run times and cost from the rollups (O(buckets)). p95 is exact (one sort) below `exact_below` values,
    else read from the run-time bins."""
    t = Task.__table__.c
    active: dict[str, int] = dict(
        session.execute(
            select(t.status, func.count())
            .where(t.status.in_([TaskStatus.QUEUED.value, TaskStatus.RUNNING.value]))
            .group_by(t.status)
        ).all()
    )
    stuck = session.scalar(select(func.count()).where(stuck_condition(now, stuck_after)))
    scope = _today(now)
    ended = ended_today(session, now)
    completed = int(_by_status(ended, "tasks", (COMPLETED,)))
    failed = int(_by_status(ended, "tasks", (TaskStatus.FAILED.value, TaskStatus.TIMED_OUT.value)))
    ran = int(_by_status(ended, "started", (COMPLETED,)))
    avg = _by_status(ended, "run_s", (COMPLETED,)) / ran if ran else None
    p95, estimated = _p95(session, scope, ran, exact_below)
    # ix_tasks_status_completed answers this from the index alone.
    last_hour = session.scalar(
        select(func.count()).where(t.completed_at >= now - timedelta(hours=1), t.status == COMPLETED)
    )
    cost = rollup_read.run(session, SPENT, scope)["cost_usd"].iloc[0]
    return Kpis(
        queued=active.get(TaskStatus.QUEUED.value, 0),
        running=active.get(TaskStatus.RUNNING.value, 0),
        stuck=stuck or 0,
        completed_today=completed,
        failed_today=failed,
        success_rate=(completed / (completed + failed)) if (completed + failed) else None,
        avg_duration_s=avg,
        p95_duration_s=p95,
        throughput_per_hour=last_hour or 0,
        cost_today=float(cost) if pd.notna(cost) else 0.0,
        p95_estimated=estimated,
    )


def _p95(session: Session, scope: Scope, n: int, exact_below: int) -> tuple[float | None, bool]:
    """p95 of today's completed tasks' run times and whether it is an estimate."""
    if not n:
        return None, False
    if n < exact_below:
        t = Task.__table__.c
        duration = seconds_between(t.started_at, t.completed_at)
        done = [t.completed_at >= scope.start, t.completed_at < scope.end, t.status == COMPLETED]
        query = select(duration).where(*done, t.started_at.is_not(None)).order_by(duration)
        value = session.scalar(query.offset(bins.rank(n, 95) - 1).limit(1))
        return (float(value) if value is not None else None), False
    frame = rollup_read.run(session, RUN_BINS, scope)
    done = frame[(frame["status"] == COMPLETED) & frame["bin"].notna()]
    return bins.estimate(bins.merge(zip(done["bin"], done["tasks"], strict=True)), 95), True


def finished_series(session: Session, now: datetime, hours: int = 24) -> pd.DataFrame:
    """Tasks that ended per hour and final status: columns bucket, status, count."""
    scope = Scope(start=now - timedelta(hours=hours), end=now, range_key="custom")
    frame = rollup_read.run(session, ENDED, scope, unit="hour")
    return frame.rename(columns={"tasks": "count"})[["bucket", "status", "count"]]


def started_series(session: Session, now: datetime, hours: int = 24) -> pd.DataFrame:
    """Tasks created per hour: columns bucket, count (the demand line next to the outcomes)."""
    scope = Scope(start=now - timedelta(hours=hours), end=now, range_key="custom")
    frame = rollup_read.run(session, MADE, scope, unit="hour")
    return frame.rename(columns={"tasks": "count"})[["bucket", "count"]]


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
    ended = rollup_read.run(session, BY_WORKER, _today(now))
    outcome = {COMPLETED: "completed_today", TaskStatus.CANCELLED.value: "cancelled_today"}
    outcome.update({s: "failed_today" for s in FAILURES})
    ended["column"] = ended["status"].map(outcome)
    ended = ended.dropna(subset=["column", "worker"])
    today = (
        ended.groupby(["worker", "column"])["tasks"].sum().unstack("column").reindex(columns=TODAY_COLUMNS)
        if not ended.empty
        else pd.DataFrame(columns=TODAY_COLUMNS)
    )
    frame = frame.join(today, on="id")
    frame[TODAY_COLUMNS] = frame[TODAY_COLUMNS].fillna(0).astype(int)
    return frame
