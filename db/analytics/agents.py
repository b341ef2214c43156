"""Data layer: agent analytics over a Scope — the worker fleet (status, uptime, current task, utilization and
outcomes in the range) and agent roles (calls, failures, cost, tokens, durations). All aggregation happens in
SQL; each function returns one DataFrame."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, Float, and_, case, func, literal, or_, select
from sqlalchemy.orm import Session, aliased

from db.analytics import bins, histograms
from db.analytics.costs import scoped
from db.analytics.performance import EXACT_BELOW
from db.analytics.rollup_read import Read, combine, parts_of, rolled, run
from db.analytics.rollup_spec import USAGE, WORKERS
from db.core.frames import to_frame
from db.core.models import Invocation, Task, Worker
from db.core.sqlfuncs import epoch, seconds_between
from db.domain.states import TaskStatus, WorkerStatus
from db.lifecycle import horizon
from db.read.scope import Scope
from db.read.scope_sql import made_matching_call, task_conditions

I = Invocation.__table__.c  # noqa: E741
T = Task.__table__.c
W = Worker.__table__.c
_EPOCH = datetime(1970, 1, 1)

# The same notion of "failed" as the overview's KPIs: a timeout is a failure, a cancellation is a choice.

FLEET_COLUMNS = [
    "id",
    "name",
    "host",
    "pid",
    "status",
    "concurrency",
    "running_count",
    "current_task_id",
    "current_task_title",
    "started_at",
    "last_seen_at",
    "stopped_at",
    "uptime_s",
    "done",
    "failed",
    "success_rate",
    "avg_task_s",
    "busy_s",
    "capacity_s",
    "utilization",
]
ROLE_COLUMNS = [
    "role",
    "calls",
    "finished",
    "failed",
    "failure_rate",
    "cost",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "avg_s",
    "p95_s",
]


def _seconds(at: datetime) -> float:
    """Epoch seconds of a naive-UTC time, computed here so SQL compares floats with floats."""
    return (at - _EPOCH).total_seconds()


def _least(a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[Any]:
    # CASE rather than least()/min(): SQLite and PostgreSQL spell the two-argument minimum differently.
    return case((a < b, a), else_=b)


def _greatest(a: ColumnElement[Any], b: ColumnElement[Any]) -> ColumnElement[Any]:
    return case((a > b, a), else_=b)


def _task_filters(scope: Scope) -> list[ColumnElement[bool]]:
    """The scope's filters as conditions on tasks: kind and tag directly (workers are this view's rows);
    role and model as "the task made such a call" (a worker's tasks that used model X)."""
    call = made_matching_call(scope)
    return task_conditions(scope, worker=False) + ([call] if call is not None else [])


STATS = ["done", "failed", "done_s", "busy_s"]


FLEET_COUNTS = Read("agents.fleet", WORKERS, ("done", "failed", "done_s"), by=("worker",))
BUSY = Read("agents.busy", WORKERS, ("busy_s",), by=("worker",))


def _worker_stats(session: Session, scope: Scope, now: datetime) -> pd.DataFrame:
    """Per worker over the range: tasks that ended completed or failed and the run time of the completed ones
    (the workers spec: rolled buckets, raw edges), and busy task-seconds. Whole hours of busy time come from
    worker_hourly, which counts a task's whole run in the hour it ended; at the edges of the range busy time
    is a different measure — each task's started..completed (or now, while running) clipped to the range.
    Columns worker_id, STATS."""
    counts = run(session, FLEET_COUNTS, scope)
    by = ("worker",)
    parts = parts_of(session, BUSY, scope, by, None)
    frames = [rolled(session, BUSY, scope, by, None, grain, window) for grain, window in parts.rolled]
    frames += [_busy_inside(session, scope, part, now) for part in parts.raw]
    busy = combine(WORKERS, frames, ["worker"], ("busy_s",), False)
    both = counts.merge(busy, on="worker", how="outer").rename(columns={"worker": "worker_id"})
    both[STATS] = both[STATS].astype(float).fillna(0.0)  # PostgreSQL's EXTRACT yields Decimal
    return both[["worker_id", *STATS]]


def _busy_inside(session: Session, scope: Scope, part: Scope, now: datetime) -> pd.DataFrame:
    """Busy task-seconds per worker inside `part`: runs that ended in it, and (in the part that reaches the
    end of the range) runs still going, each clipped to the range."""
    start_s = _seconds(scope.start)
    end_s = _seconds(min(scope.end, now))
    now_s = literal(_seconds(now), Float)
    task_end = case((T.completed_at.is_(None), now_s), else_=epoch(T.completed_at))
    lo = _greatest(epoch(T.started_at), literal(start_s, Float))
    hi = _least(task_end, literal(end_s, Float))
    ended = and_(T.completed_at >= part.start, T.completed_at < part.end)
    counted = or_(ended, T.status == TaskStatus.RUNNING.value) if part.end == scope.end else ended
    rows = session.execute(
        select(T.worker_id, func.sum(case((hi > lo, hi - lo), else_=0.0)))
        .where(
            T.worker_id.is_not(None),
            T.started_at.is_not(None),
            T.started_at < part.end,
            counted,
            *_task_filters(part),
        )
        .group_by(T.worker_id)
    ).all()
    return to_frame(rows, ["worker", "busy_s"])


def fleet(session: Session, scope: Scope, now: datetime, limit: int = 200) -> pd.DataFrame:
    """One row per worker that is alive or was seen in the range, busy first (columns FLEET_COLUMNS).

    done / failed / success_rate / avg_task_s count the worker's tasks that ended in the range (avg over the
    completed ones). utilization is the worker's busy task-seconds inside the range over concurrency × the
    range's length (up to now: a range reaching into the future has no capacity there yet)."""
    window_s = max(0.0, _seconds(min(scope.end, now)) - _seconds(scope.start))
    now_s = literal(_seconds(now), Float)
    current = aliased(Task)
    offline = W.status == WorkerStatus.OFFLINE.value
    order = case(
        (W.status == WorkerStatus.BUSY.value, 0), (W.status == WorkerStatus.ONLINE.value, 1), else_=2
    )
    query = (
        select(
            W.id,
            W.name,
            W.host,
            W.pid,
            W.status,
            W.concurrency,
            W.running_count,
            W.current_task_id,
            current.title,
            W.started_at,
            W.last_seen_at,
            W.stopped_at,
            case((offline, seconds_between(W.started_at, W.stopped_at)), else_=now_s - epoch(W.started_at)),
        )
        .select_from(Worker.__table__.outerjoin(current, current.id == W.current_task_id))
        # Each worker process registers under a fresh id, so long-gone ones pile up: show those of the range.
        .where(or_(~offline, W.last_seen_at >= scope.start))
        .order_by(order, W.name, W.id)
        .limit(limit)
    )
    if scope.worker:
        query = query.where(W.id.in_(scope.worker))
    workers = to_frame(session.execute(query).all(), FLEET_COLUMNS[:13])
    stats = _worker_stats(session, scope, now).set_index("worker_id")
    frame = workers.join(stats, on="id")
    frame[STATS] = frame[STATS].astype(float).fillna(0.0)
    done, failed = frame["done"], frame["failed"]
    frame["success_rate"] = (done / (done + failed)).where(done + failed > 0)
    frame["avg_task_s"] = (frame["done_s"] / done).where(done > 0)
    frame["capacity_s"] = frame["concurrency"].astype(float) * window_s
    frame["utilization"] = (frame["busy_s"] / frame["capacity_s"]).where(frame["capacity_s"] > 0)
    for column in ("uptime_s", "success_rate", "avg_task_s", "busy_s", "capacity_s", "utilization"):
        frame[column] = frame[column].astype(float)
    for column in ("done", "failed"):
        frame[column] = frame[column].astype(int)
    return frame[FLEET_COLUMNS].reset_index(drop=True)


@dataclass(frozen=True)
class FleetTotals:
    online: int
    busy: int
    offline: int
    done: int
    failed: int
    busy_s: float
    capacity_s: float

    @property
    def utilization(self) -> float | None:
        return self.busy_s / self.capacity_s if self.capacity_s else None

    @property
    def success_rate(self) -> float | None:
        return self.done / (self.done + self.failed) if self.done + self.failed else None


def fleet_totals(frame: pd.DataFrame) -> FleetTotals:
    """Fleet-wide figures from `fleet`'s rows (already aggregated in SQL, one per worker): fleet utilization
    weighs each worker by its capacity rather than averaging percentages."""
    statuses = frame["status"].value_counts()
    return FleetTotals(
        online=int(statuses.get(WorkerStatus.ONLINE.value, 0)),
        busy=int(statuses.get(WorkerStatus.BUSY.value, 0)),
        offline=int(statuses.get(WorkerStatus.OFFLINE.value, 0)),
        done=int(frame["done"].sum()),
        failed=int(frame["failed"].sum()),
        busy_s=float(frame["busy_s"].sum()),
        capacity_s=float(frame["capacity_s"].sum()),
    )


ROLE_SUMS = ["calls", "finished", "failed", "cost", "input_tokens", "output_tokens", "cache_read_tokens"]


ROLE_READ = Read(
    "agents.roles",
    USAGE,
    (
        "calls",
        "finished_calls",
        "failed_calls",
        "cost_usd",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "duration_s",
    ),
    by=("role",),
)


def _role_sums(session: Session, scope: Scope) -> pd.DataFrame:
    """Per role of the calls started in the range: ROLE_SUMS and duration_s (of the finished ones), from the
    usage spec (rolled buckets, raw edges)."""
    frame = run(session, ROLE_READ, scope)
    frame.columns = pd.Index(["role", *ROLE_SUMS, "duration_s"])
    frame[["cost", "duration_s"]] = frame[["cost", "duration_s"]].astype(float)
    return frame


def _exact_p95(session: Session, scope: Scope) -> dict[str, float]:
    """p95 per role of finished calls' durations, by nearest rank below: one sort per role."""
    duration = seconds_between(I.started_at, I.completed_at)
    ranked = scoped(
        select(
            I.role.label("role"),
            duration.label("d"),
            func.row_number().over(partition_by=I.role, order_by=duration).label("rn"),
            func.count().over(partition_by=I.role).label("n"),
        ),
        scope,
    ).where(I.completed_at.is_not(None))
    q = ranked.subquery()
    # The largest duration whose rank is within 95 % of the way (no CAST/FLOOR, which round differently in
    # the two databases).
    rows = session.execute(
        select(q.c.role, func.max(q.c.d)).where(q.c.rn - 1 <= 0.95 * (q.c.n - 1)).group_by(q.c.role)
    ).all()
    return {str(role): float(p95) for role, p95 in rows}


def _estimated_p95(session: Session, scope: Scope) -> dict[str, float]:
    """p95 per role read from call-duration histograms (db/analytics/histograms.py)."""
    per_role = histograms.read(session, scope, ("call",))
    found = {role: bins.estimate(histograms.counts({role: c}), 95) for role, c in per_role["call"].items()}
    return {role: p for role, p in found.items() if p is not None}


def roles(session: Session, scope: Scope, exact_below: int = EXACT_BELOW) -> pd.DataFrame:
    """Per role of the calls started in the scope (columns ROLE_COLUMNS), most expensive first. The failure
    rate is over finished calls (a running call has not failed yet); durations are of finished calls, p95 by
    nearest rank below, like the overview's: exact up to `exact_below` finished calls, read from histograms
    (within about 1 %) above."""
    sums = _role_sums(session, scope)
    finished = sums["finished"].astype(float)
    sums["failure_rate"] = (sums["failed"] / finished).where(finished > 0)
    sums["avg_s"] = (sums["duration_s"] / finished).where(finished > 0)
    exact = finished.sum() < horizon.exact_below(session, scope.start, exact_below)
    p95 = _exact_p95(session, scope) if exact else _estimated_p95(session, scope)
    sums["p95_s"] = sums["role"].map(p95)
    frame = sums.sort_values(["cost", "role"], ascending=[False, True])[ROLE_COLUMNS].reset_index(drop=True)
    for column in ("failure_rate", "cost", "avg_s", "p95_s"):
        frame[column] = frame[column].astype(float)
    for column in ("calls", "finished", "failed", "input_tokens", "output_tokens", "cache_read_tokens"):
        frame[column] = frame[column].astype(int)
    return frame
