"""Data layer: agent analytics over a Scope — the worker fleet (status, uptime, current task, utilization and
outcomes in the range) and agent roles (calls, failures, cost, tokens, durations). All aggregation happens in
SQL; each function returns one DataFrame."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, Float, and_, case, cast, func, literal, or_, select
from sqlalchemy.orm import Session, aliased

from db.costs import scoped
from db.models import Invocation, Task, Worker
from db.scope import Scope
from db.scoping import made_matching_call, task_conditions
from db.sqlfuncs import epoch, seconds_between
from db.states import InvocationStatus, TaskStatus, WorkerStatus

I = Invocation.__table__.c  # noqa: E741
T = Task.__table__.c
W = Worker.__table__.c
_EPOCH = datetime(1970, 1, 1)

DONE = TaskStatus.COMPLETED.value
# The same notion of "failed" as the overview's KPIs: a timeout is a failure, a cancellation is a choice.
FAILED = (TaskStatus.FAILED.value, TaskStatus.TIMED_OUT.value)

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


def fleet(session: Session, scope: Scope, now: datetime, limit: int = 200) -> pd.DataFrame:
    """One row per worker that is alive or was seen in the range, busy first (columns FLEET_COLUMNS).

    done / failed / success_rate / avg_task_s count the worker's tasks that ended in the range (avg over the
    completed ones). utilization is the worker's busy task-seconds inside the range — each task's
    started..completed (or now, while running) clipped to the range — over concurrency × the range's length
    (up to now: a range reaching into the future has no capacity there yet)."""
    start_s = _seconds(scope.start)
    end_s = _seconds(min(scope.end, now))
    window_s = max(0.0, end_s - start_s)
    now_s = literal(_seconds(now), Float)

    ended_in_range = and_(T.completed_at >= scope.start, T.completed_at < scope.end)
    task_end = case((T.completed_at.is_(None), now_s), else_=epoch(T.completed_at))
    lo = _greatest(epoch(T.started_at), literal(start_s, Float))
    hi = _least(task_end, literal(end_s, Float))
    stats = (
        select(
            T.worker_id.label("worker_id"),
            func.sum(case((and_(ended_in_range, T.status == DONE), 1), else_=0)).label("done"),
            func.sum(case((and_(ended_in_range, T.status.in_(FAILED)), 1), else_=0)).label("failed"),
            func.avg(
                case((and_(ended_in_range, T.status == DONE), seconds_between(T.started_at, T.completed_at)))
            ).label("avg_task_s"),
            func.sum(case((hi > lo, hi - lo), else_=0.0)).label("busy_s"),
        )
        .where(
            T.worker_id.is_not(None),
            T.started_at.is_not(None),
            T.started_at < scope.end,
            # Every task that ended in or after the range starts, plus those still running: an index range on
            # completed_at and one on status, not a scan of all tasks.
            or_(T.completed_at >= scope.start, T.status == TaskStatus.RUNNING.value),
            *_task_filters(scope),
        )
        .group_by(T.worker_id)
        .subquery()
    )

    current = aliased(Task)
    done = func.coalesce(stats.c.done, 0)
    failed = func.coalesce(stats.c.failed, 0)
    busy = func.coalesce(stats.c.busy_s, 0.0)
    capacity = W.concurrency * literal(window_s, Float)
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
            done,
            failed,
            case((done + failed > 0, cast(done, Float) / (done + failed))),
            stats.c.avg_task_s,
            busy,
            capacity,
            case((capacity > 0, cast(busy, Float) / capacity)),
        )
        .select_from(
            Worker.__table__.outerjoin(stats, stats.c.worker_id == W.id).outerjoin(
                current, current.id == W.current_task_id
            )
        )
        # Each worker process registers under a fresh id, so long-gone ones pile up: show those of the range.
        .where(or_(~offline, W.last_seen_at >= scope.start))
        .order_by(order, W.name, W.id)
        .limit(limit)
    )
    if scope.worker:
        query = query.where(W.id.in_(scope.worker))
    frame = pd.DataFrame(session.execute(query).all(), columns=FLEET_COLUMNS)
    # PostgreSQL's EXTRACT yields numeric (Decimal); the page wants plain floats.
    for column in ("uptime_s", "success_rate", "avg_task_s", "busy_s", "capacity_s", "utilization"):
        frame[column] = frame[column].astype(float)
    for column in ("done", "failed"):
        frame[column] = frame[column].astype(int)
    return frame


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


def roles(session: Session, scope: Scope) -> pd.DataFrame:
    """Per role of the calls started in the scope (columns ROLE_COLUMNS), most expensive first. The failure
    rate is over finished calls (a running call has not failed yet); durations are of finished calls, p95 by
    nearest rank below, like the overview's."""
    duration = seconds_between(I.started_at, I.completed_at)
    finished = I.completed_at.is_not(None)
    totals = scoped(
        select(
            I.role.label("role"),
            func.count().label("calls"),
            func.sum(case((finished, 1), else_=0)).label("finished"),
            func.sum(case((I.status == InvocationStatus.FAILED.value, 1), else_=0)).label("failed"),
            func.coalesce(func.sum(I.cost_usd), 0.0).label("cost"),
            func.coalesce(func.sum(I.input_tokens), 0).label("input_tokens"),
            func.coalesce(func.sum(I.output_tokens), 0).label("output_tokens"),
            func.coalesce(func.sum(I.cache_read_tokens), 0).label("cache_read_tokens"),
            func.avg(case((finished, duration))).label("avg_s"),
        ),
        scope,
    ).group_by(I.role)
    totals_q = totals.subquery()

    # p95 in the same statement: rank each role's finished calls by duration; the p95 is the largest duration
    # whose rank is within 95 % of the way (no CAST/FLOOR, which round differently in the two databases).
    ranked = scoped(
        select(
            I.role.label("role"),
            duration.label("d"),
            func.row_number().over(partition_by=I.role, order_by=duration).label("rn"),
            func.count().over(partition_by=I.role).label("n"),
        ),
        scope,
    ).where(finished)
    ranked_q = ranked.subquery()
    p95 = (
        select(ranked_q.c.role, func.max(ranked_q.c.d).label("p95_s"))
        .where(ranked_q.c.rn - 1 <= 0.95 * (ranked_q.c.n - 1))
        .group_by(ranked_q.c.role)
        .subquery()
    )
    t = totals_q.c
    query = (
        select(
            t.role,
            t.calls,
            t.finished,
            t.failed,
            case((t.finished > 0, cast(t.failed, Float) / t.finished)),
            t.cost,
            t.input_tokens,
            t.output_tokens,
            t.cache_read_tokens,
            t.avg_s,
            p95.c.p95_s,
        )
        .select_from(totals_q.outerjoin(p95, p95.c.role == t.role))
        .order_by(t.cost.desc(), t.role)
    )
    frame = pd.DataFrame(session.execute(query).all(), columns=ROLE_COLUMNS)
    for column in ("failure_rate", "cost", "avg_s", "p95_s"):
        frame[column] = frame[column].astype(float)
    for column in ("calls", "finished", "failed", "input_tokens", "output_tokens", "cache_read_tokens"):
        frame[column] = frame[column].astype(int)
    return frame
