"""Data layer: performance analytics over a Scope — throughput, cycle / queue / processing times, retries,
duration distributions, outcomes by kind over time, tool-call frequency, peak hours, and the per-bucket volume
series that the forecast and the spike flags are computed from. Aggregation happens in SQL; the forecast and
anomaly rules are pure functions of an already-aggregated series."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Float, and_, case, cast, func, literal, or_, select, union_all
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement

from db.costs import scoped as scoped_invocations
from db.models import Activity, Invocation, Task
from db.scope import Scope
from db.scoping import made_matching_call, task_conditions
from db.sqlfuncs import bucket, first_word, hour_of_day, seconds_between, weekday
from db.states import ActivityType, TaskStatus

T = Task.__table__.c
A = Activity.__table__.c
I = Invocation.__table__.c  # noqa: E741

COMPLETED = TaskStatus.COMPLETED.value
# Outcomes of work: a cancelled task says nothing about whether the work succeeds, so rates leave it out.
FAILURES = (TaskStatus.FAILED.value, TaskStatus.TIMED_OUT.value)
OUTCOMES = (COMPLETED, *FAILURES)

# Log-like duration bins (1-2-5 steps): the right edge in seconds of each bin but the last, which is open.
BIN_EDGES: tuple[float, ...] = (1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 21600, 86400)
BOX_PERCENTILES = {"min": 0, "p25": 25, "median": 50, "p75": 75, "p95": 95, "max": 100}
FREQ = {"minute": "min", "hour": "h", "day": "D"}
STEP = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}


# --- scoping -----------------------------------------------------------------------------------------------


def task_filters(scope: Scope) -> list[ColumnElement[bool]]:
    """The scope's filters on a task. Role and model select tasks that made at least one matching call."""
    call = made_matching_call(scope)
    return task_conditions(scope) + ([call] if call is not None else [])


def finished_in(scope: Scope) -> list[ColumnElement[bool]]:
    """Tasks that ended in the range (completed_at is only set on a terminal state; a retry clears it)."""
    return [T.completed_at >= scope.start, T.completed_at < scope.end, *task_filters(scope)]


def _completed_in(scope: Scope) -> list[ColumnElement[bool]]:
    return [*finished_in(scope), T.status == COMPLETED, T.started_at.is_not(None)]


# Cycle time spans every attempt; processing time is the last attempt's run. Queue wait starts at
# available_at, not created_at: for a retried task created → started would count its earlier attempts (and any
# deliberate retry back-off) as queueing.
CYCLE = seconds_between(T.created_at, T.completed_at)
PROCESSING = seconds_between(T.started_at, T.completed_at)
QUEUE_WAIT = seconds_between(T.available_at, T.started_at)


def rank(n: int, pct: int) -> int:
    """1-based rank of the pct-th percentile among n sorted values (nearest rank at or below)."""
    return (n - 1) * pct // 100 + 1


def percentiles(
    session: Session,
    expr: ColumnElement[Any],
    where: list[ColumnElement[bool]],
    pcts: tuple[int, ...],
    by: ColumnElement[Any] | None = None,
) -> dict[Any, tuple[int, dict[int, float]]]:
    """Exact percentiles of `expr` over the rows matching `where`, per value of `by` (or under the key None):
    {key: (n, {pct: value})}. One sort per group (row_number over the bounded range, identical on both
    databases), and only the rows at the wanted ranks leave the database."""
    key = by if by is not None else literal(None)
    partition = [by] if by is not None else None
    sub = (
        select(
            key.label("key"),
            expr.label("v"),
            func.row_number().over(partition_by=partition, order_by=expr).label("rn"),
            func.count().over(partition_by=partition).label("n"),
        )
        .where(*where)
        .subquery()
    )
    # `//` is integer division in SQL too, so the database picks the same ranks as rank() does.
    wanted = or_(*(sub.c.rn == (sub.c.n - 1) * pct // 100 + 1 for pct in pcts))
    found: dict[Any, tuple[int, dict[int, float]]] = {}
    by_rank: dict[Any, dict[int, float]] = {}
    for k, v, rn, n in session.execute(select(sub.c.key, sub.c.v, sub.c.rn, sub.c.n).where(wanted)):
        by_rank.setdefault(k, {})[int(rn)] = float(v)
        found[k] = (int(n), {})
    for k, (n, values) in found.items():
        values.update({pct: by_rank[k][rank(n, pct)] for pct in pcts})
    return found


# --- KPIs --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    avg: float | None
    p50: float | None
    p95: float | None


@dataclass(frozen=True)
class PerfKpis:
    hours: float
    completed: int
    failed: int  # failed or timed out
    cancelled: int
    first_attempt_ok: int
    retried: int  # outcomes that needed more than one attempt
    cycle: Timing
    queue_wait: Timing
    processing: Timing

    @property
    def outcomes(self) -> int:
        return self.completed + self.failed

    @property
    def throughput_per_hour(self) -> float:
        return self.completed / self.hours if self.hours else 0.0

    @property
    def success_rate(self) -> float | None:
        return self.completed / self.outcomes if self.outcomes else None

    @property
    def first_attempt_success_rate(self) -> float | None:
        return self.first_attempt_ok / self.outcomes if self.outcomes else None

    @property
    def retry_rate(self) -> float | None:
        return self.retried / self.outcomes if self.outcomes else None


def kpis(session: Session, scope: Scope) -> PerfKpis:
    """Over tasks that ended in the range: cycle and processing times of the completed ones, queue wait of
    every one that started, and the outcome counts behind throughput, success and retry rates."""

    def count_if(*cond: ColumnElement[bool]) -> Any:
        return func.coalesce(func.sum(case((and_(*cond), 1), else_=0)), 0)

    done = T.status == COMPLETED
    outcome = T.status.in_(OUTCOMES)
    started = T.started_at.is_not(None)
    row = session.execute(
        select(
            count_if(done),
            count_if(T.status.in_(FAILURES)),
            count_if(T.status == TaskStatus.CANCELLED.value),
            count_if(done, T.attempt == 1),
            count_if(outcome, T.attempt > 1),
            count_if(done, started),
            count_if(started),
            func.avg(case((and_(done, started), CYCLE))),
            func.avg(case((and_(done, started), PROCESSING))),
            func.avg(case((started, QUEUE_WAIT))),
        ).where(*finished_in(scope))
    ).one()
    completed, failed, cancelled, first_ok, retried, n_done, n_started = (int(v) for v in row[:7])
    avg_cycle, avg_processing, avg_wait = (None if v is None else float(v) for v in row[7:])

    def pick(expr: ColumnElement[Any], where: list[ColumnElement[bool]], n: int) -> dict[int, float]:
        return percentiles(session, expr, where, (50, 95))[None][1] if n else {}

    done_where = _completed_in(scope)
    cycle = pick(CYCLE, done_where, n_done)
    processing = pick(PROCESSING, done_where, n_done)
    wait = pick(QUEUE_WAIT, [*finished_in(scope), started], n_started)
    return PerfKpis(
        hours=scope.span.total_seconds() / 3600.0,
        completed=completed,
        failed=failed,
        cancelled=cancelled,
        first_attempt_ok=first_ok,
        retried=retried,
        cycle=Timing(avg_cycle, cycle.get(50), cycle.get(95)),
        queue_wait=Timing(avg_wait, wait.get(50), wait.get(95)),
        processing=Timing(avg_processing, processing.get(50), processing.get(95)),
    )


# --- durations ---------------------------------------------------------------------------------------------


def bin_label(n: int) -> str:
    def short(seconds: float) -> str:
        if seconds < 60:
            return f"{seconds:g}s"
        if seconds < 3600:
            return f"{seconds / 60:g}m"
        if seconds < 86400:
            return f"{seconds / 3600:g}h"
        return f"{seconds / 86400:g}d"

    if n == 0:
        return f"<{short(BIN_EDGES[0])}"
    if n >= len(BIN_EDGES):
        return f"≥{short(BIN_EDGES[-1])}"
    return f"{short(BIN_EDGES[n - 1])}–{short(BIN_EDGES[n])}"


def duration_histogram(session: Session, scope: Scope) -> pd.DataFrame:
    """Processing times of the tasks completed in the range, binned in SQL into log-like bins per kind:
    columns kind, bin, label, count — every bin between each kind's shortest and longest, zeros included."""
    seconds = PROCESSING
    index = case(*((seconds < edge, n) for n, edge in enumerate(BIN_EDGES)), else_=len(BIN_EDGES))
    rows = session.execute(
        select(T.kind, index.label("bin"), func.count())
        .where(*_completed_in(scope))
        .group_by(T.kind, index)
        .order_by(T.kind, index)
    ).all()
    frame = pd.DataFrame(rows, columns=["kind", "bin", "count"])
    parts = []
    for kind, part in frame.groupby("kind", sort=True):
        bins = range(int(part["bin"].min()), int(part["bin"].max()) + 1)
        full = part.set_index("bin")["count"].reindex(bins, fill_value=0)
        parts.append(pd.DataFrame({"kind": kind, "bin": list(bins), "count": full.to_numpy()}))
    out = pd.concat(parts, ignore_index=True) if parts else frame
    out["count"] = out["count"].astype(int)
    out["label"] = [bin_label(int(b)) for b in out["bin"]]
    return out[["kind", "bin", "label", "count"]]


def duration_quantiles(session: Session, scope: Scope) -> pd.DataFrame:
    """Per kind, the five numbers of a box plot plus p95 of completed tasks' processing times: columns kind,
    n, min, p25, median, p75, p95, max. One statement: a sort per kind, a handful of rows back."""
    got = percentiles(session, PROCESSING, _completed_in(scope), tuple(BOX_PERCENTILES.values()), by=T.kind)
    records = [
        {"kind": kind, "n": n, **{name: values[pct] for name, pct in BOX_PERCENTILES.items()}}
        for kind, (n, values) in sorted(got.items())
    ]
    return pd.DataFrame(records, columns=["kind", "n", *BOX_PERCENTILES])


# --- outcomes, tools, peak hours ---------------------------------------------------------------------------


def outcomes_over_time(session: Session, scope: Scope, unit: str | None = None) -> pd.DataFrame:
    """Tasks that ended per bucket, kind and final status: columns bucket, kind, status, count."""
    b = bucket(T.completed_at, unit or scope.unit)
    rows = session.execute(
        select(b.label("bucket"), T.kind, T.status, func.count())
        .where(*finished_in(scope))
        .group_by(b, T.kind, T.status)
        .order_by(b, T.kind, T.status)
    ).all()
    frame = pd.DataFrame(rows, columns=["bucket", "kind", "status", "count"])
    frame["bucket"] = pd.to_datetime(frame["bucket"])
    return frame


def tool_calls(session: Session, scope: Scope, limit: int = 20) -> pd.DataFrame:
    """The most used tools: `tool_exec` activity lines in the range, counted by their first word. Columns tool,
    calls, tasks. With a role/model filter, only lines of a matching call count."""
    tool = first_word(A.message)
    query = (
        select(tool.label("tool"), func.count().label("calls"), func.count(func.distinct(A.task_id)))
        .select_from(Activity.__table__.join(Task.__table__, T.id == A.task_id))
        .where(
            A.type == ActivityType.TOOL_EXEC.value,
            A.at >= scope.start,
            A.at < scope.end,
            # activity has no index on `at`; these bound the tasks by indexed columns (a task's
            # last_updated_at is at or after each of its lines), then lines come by ix_activity_task.
            T.last_updated_at >= scope.start,
            T.created_at < scope.end,
        )
    )
    query = query.where(*task_conditions(scope))
    if scope.role or scope.model:
        query = query.join(Invocation.__table__, I.id == A.invocation_id)
        if scope.role:
            query = query.where(I.role.in_(scope.role))
        if scope.model:
            query = query.where(I.model.in_(scope.model))
    rows = session.execute(query.group_by(tool).order_by(func.count().desc(), tool).limit(limit)).all()
    return pd.DataFrame(rows, columns=["tool", "calls", "tasks"])


def peak_hours(session: Session, scope: Scope) -> pd.DataFrame:
    """Tasks created per weekday (Monday = 0) and hour of day, UTC: columns weekday, hour, count."""
    day, hour = weekday(T.created_at), hour_of_day(T.created_at)
    rows = session.execute(
        select(day.label("weekday"), hour.label("hour"), func.count())
        .where(T.created_at >= scope.start, T.created_at < scope.end, *task_filters(scope))
        .group_by(day, hour)
        .order_by(day, hour)
    ).all()
    return pd.DataFrame(rows, columns=["weekday", "hour", "count"]).astype(int)


# --- the volume series, its forecast and its spikes ---------------------------------------------------------


def volume_series(session: Session, scope: Scope) -> pd.DataFrame:
    """Per bucket of the scope's unit, every bucket of the range present: tasks created, finished, failed
    (or timed out), and the cost of calls started. Columns bucket, created, finished, failed, cost, complete
    (False for a bucket the range only partly covers, such as the one in progress)."""
    unit = scope.unit
    created_b, done_b, call_b = (
        bucket(T.created_at, unit),
        bucket(T.completed_at, unit),
        bucket(I.started_at, unit),
    )
    filters = task_filters(scope)
    zero = cast(literal(0), Float)
    parts = union_all(
        select(
            created_b.label("bucket"),
            literal("created").label("metric"),
            cast(func.count(), Float).label("v"),
        )
        .where(T.created_at >= scope.start, T.created_at < scope.end, *filters)
        .group_by(created_b),
        select(done_b, literal("finished"), cast(func.count(), Float))
        .where(*finished_in(scope))
        .group_by(done_b),
        select(done_b, literal("failed"), cast(func.count(), Float))
        .where(*finished_in(scope), T.status.in_(FAILURES))
        .group_by(done_b),
        scoped_invocations(
            select(call_b, literal("cost"), func.coalesce(func.sum(I.cost_usd), zero)), scope
        ).group_by(call_b),
    )
    rows = session.execute(select(parts.subquery())).all()
    freq = FREQ[unit]
    start, end = pd.Timestamp(scope.start), pd.Timestamp(scope.end)
    index = pd.date_range(start.floor(freq), end, freq=freq, inclusive="left")
    long = pd.DataFrame(rows, columns=["bucket", "metric", "value"])
    long["bucket"] = pd.to_datetime(long["bucket"])
    wide = long.pivot_table(index="bucket", columns="metric", values="value", aggfunc="sum")
    wide = wide.reindex(index=index, columns=["created", "finished", "failed", "cost"]).fillna(0.0)
    frame = wide.rename_axis("bucket").reset_index()
    for column in ("created", "finished", "failed"):
        frame[column] = frame[column].astype(int)
    frame["complete"] = (frame["bucket"] >= start) & (frame["bucket"] + STEP[unit] <= end)
    return frame


@dataclass(frozen=True)
class Forecast:
    at: datetime  # the start of the forecast bucket
    value: float
    low: float
    high: float
    basis: int  # how many complete buckets the trend was fitted to


def forecast_next(series: pd.Series, step: timedelta, n: int = 12) -> Forecast | None:
    """Next bucket's value from a least-squares line through the last `n` points of `series` (indexed by
    bucket start, complete buckets only), with a ±2σ band of the residuals; never below zero. None with fewer
    than three points: a line through two says nothing about the noise."""
    recent = series.dropna().sort_index().iloc[-n:]
    if len(recent) < 3:
        return None
    x = np.arange(len(recent), dtype=float)
    y = recent.to_numpy(dtype=float)
    slope, intercept = np.polyfit(x, y, 1)
    predicted = float(slope * len(recent) + intercept)
    spread = float(np.std(y - (slope * x + intercept), ddof=2))
    at = pd.Timestamp(recent.index[-1]).to_pydatetime() + step
    return Forecast(
        at=at,
        value=max(0.0, predicted),
        low=max(0.0, predicted - 2 * spread),
        high=max(0.0, predicted + 2 * spread),
        basis=len(recent),
    )


def spikes(
    series: pd.Series,
    window: int = 24,
    sigmas: float = 3.0,
    min_history: int = 5,
    min_sigma: float = 0.0,
) -> pd.DataFrame:
    """Flags each point above mean + `sigmas`·σ (sample standard deviation) of up to `window` points before it;
    a point with fewer than `min_history` points before it is never flagged. σ is taken as at least `min_sigma`:
    a flat history has σ = 0, which would flag any change at all (one failure after an hour of none).
    Columns value, threshold, spike, indexed like `series`."""
    values = series.astype(float)
    history = values.shift(1).rolling(window, min_periods=min_history)
    mean = history.mean()
    sigma = np.maximum(history.std(ddof=1), min_sigma)
    threshold = mean + sigmas * sigma
    flagged = (values > threshold) & threshold.notna()
    return pd.DataFrame({"value": values, "threshold": threshold, "spike": flagged.astype(bool)})


@dataclass(frozen=True)
class VolumeAnalysis:
    forecast: Forecast | None  # tasks created in the bucket after the last complete one
    cost: pd.DataFrame  # spikes() of cost per bucket
    failed: pd.DataFrame  # spikes() of failures per bucket

    @property
    def alerts(self) -> list[tuple[str, datetime, float, float]]:
        """(metric, bucket, value, threshold) of every flagged bucket, newest first."""
        found = [
            (metric, pd.Timestamp(at).to_pydatetime(), float(row.value), float(row.threshold))
            for metric, flags in (("cost", self.cost), ("failures", self.failed))
            for at, row in flags[flags["spike"]].iterrows()
        ]
        return sorted(found, key=lambda a: a[1], reverse=True)


def analyse(frame: pd.DataFrame, unit: str) -> VolumeAnalysis:
    """The forecast and the spike flags of a volume_series() frame. The forecast fits complete buckets only:
    the bucket in progress would drag the trend down."""
    by_bucket = frame.set_index("bucket")
    complete = by_bucket[by_bucket["complete"]]
    # σ floors. Failures are counts: at least one task of noise. Spend has no natural unit, so a quarter of
    # what a bucket with any spend usually costs: work resuming after idle buckets is not a spike.
    spent = by_bucket["cost"][by_bucket["cost"] > 0]
    return VolumeAnalysis(
        forecast=forecast_next(complete["created"], STEP[unit]),
        cost=spikes(by_bucket["cost"], min_sigma=0.25 * float(spent.mean()) if len(spent) else 0.0),
        failed=spikes(by_bucket["failed"], min_sigma=1.0),
    )
