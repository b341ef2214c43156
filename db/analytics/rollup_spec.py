"""Data layer: the declarative rollup specs — per rollup its source rows, time column, dimensions and
measures — and the fold generated from one, which keeps its hourly (and, where it has them, per-minute)
tables. db/analytics/rollup_read.py generates the reads (rolled and raw SELECTs) from the same spec."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    FromClause,
    Select,
    Table,
    and_,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    literal_column,
    select,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement

from db.analytics.bins import bin_index
from db.core.models import (
    Activity,
    CreatedHourly,
    CreatedMinutely,
    FinishedHourly,
    FinishedMinutely,
    HistogramDaily,
    HistogramHourly,
    Invocation,
    RuntimeHourly,
    RuntimeMinutely,
    Task,
    TaskDaily,
    TaskHourly,
    TaskTag,
    ToolDaily,
    ToolHourly,
    UsageDaily,
    UsageHourly,
    UsageMinutely,
    WorkerHourly,
)
from db.core.sqlfuncs import (
    count_if,
    day_floor,
    first_word,
    hour_floor,
    hour_of_day,
    minute_floor,
    seconds_between,
    sum_if,
    weekday,
)
from db.domain.states import FAILURES, ActivityType, InvocationStatus, TaskStatus
from db.read.scope import DIMENSIONS, Scope
from db.read.scope_sql import call_conditions, made_matching_call, task_conditions, task_filters

I = Invocation.__table__.c  # noqa: E741
T = Task.__table__.c
A = Activity.__table__.c
Window = tuple[datetime, datetime] | None
GRAINS = ("hour", "minute")
CALL_DURATION = seconds_between(I.started_at, I.completed_at)
# Cycle spans every attempt; processing is the last attempt's run; queue wait starts at available_at, so a
# retried task's earlier attempts and back-off are not counted as queueing.
CYCLE = seconds_between(T.created_at, T.completed_at)
PROCESSING = seconds_between(T.started_at, T.completed_at)
QUEUE_WAIT = seconds_between(T.available_at, T.started_at)
# Spelled as a literal, not a bound parameter: SQLite uses the partial index ix_activity_tool_at only when it
# can see that the query's condition is the index's own.
IS_TOOL_LINE = A.type == literal_column(f"'{ActivityType.TOOL_EXEC.value}'")
FLOORS = {"hour": hour_floor, "minute": minute_floor, "day": day_floor}
# How a rolled read combines a measure's buckets: additive measures are summed, extremes kept.
AGGREGATES: dict[str, Callable[[ColumnElement[Any]], ColumnElement[Any]]] = {
    "sum": func.sum,
    "min": func.min,
    "max": func.max,
}


@dataclass(frozen=True)
class Dim:
    """A dimension: its expression over the source rows; `rolled` when the rollup tables keep it (in the
    column `column`, by default its name; a scope filter of the same name applies to that column), else a
    read grouped by it goes to the source rows; `join` adds what its expression needs. `of_time`: a function
    of the row's time (weekday, hour of day) — not stored, computed from a bucket's time as from a row's."""

    name: str
    raw: ColumnElement[Any]
    rolled: bool = True
    join: Callable[[Select[Any]], Select[Any]] | None = None
    column: str | None = None
    of_time: Callable[[Any], ColumnElement[Any]] | None = None

    @property
    def col(self) -> str:
        return self.column or self.name

    @property
    def stored(self) -> bool:
        return self.rolled and self.of_time is None


@dataclass(frozen=True)
class Measure:
    """A measure: its aggregate over the source rows; the rollup column of the same name holds it per bucket,
    and a read combines buckets (and the raw edges) by `agg`: sum (additive), min or max (extremes)."""

    name: str
    raw: ColumnElement[Any]
    agg: str = "sum"


@dataclass(frozen=True)
class Spec:
    name: str
    source: FromClause
    time: ColumnElement[Any]  # the source rows' time, the one the buckets and a scope's range are on
    dims: tuple[Dim, ...]
    measures: tuple[Measure, ...]
    # grain -> table; its time column is named after the grain. A "day" table is folded from the hours
    # (folded_from) and serves the whole days of a range read without buckets or per day, week or month.
    tables: dict[str, Table]
    conditions: Callable[[Scope], list[ColumnElement[bool]]]  # a scope's filters on the source rows
    where: tuple[ColumnElement[bool], ...] = ()  # which source rows the rollup counts at all
    # Constant columns: several specs share one table, each owning the rows with its values (a histogram's
    # metric); a fold replaces only those, a read reads only those.
    fixed: tuple[tuple[str, str], ...] = ()
    ignores: tuple[str, ...] = ()  # scope filters that do not apply to these rows (read whatever they say)
    # grain -> finer grain: that table is folded from the finer table's rows, not from the source rows.
    folded_from: tuple[tuple[str, str], ...] = ()

    def dim(self, name: str) -> Dim:
        for d in self.dims:
            if d.name == name:
                return d
        raise ValueError(f"{self.name} has no dimension {name!r}")

    def measure(self, name: str) -> Measure:
        for m in self.measures:
            if m.name == name:
                return m
        raise ValueError(f"{self.name} has no measure {name!r}")

    @property
    def rolled_dims(self) -> tuple[str, ...]:
        """The dimensions the rollup tables store: the scope filters they can apply."""
        return tuple(d.name for d in self.dims if d.stored)

    @property
    def kept_filters(self) -> tuple[str, ...]:
        """The scope filters a rolled read can honour: those on stored dimensions, and those ignored."""
        return (*self.rolled_dims, *self.ignores)

    def owns(self, table: Table) -> list[ColumnElement[bool]]:
        """The conditions selecting this spec's rows of a (shared) rollup table."""
        return [table.c[column] == value for column, value in self.fixed]

    def fold_select(self, window: Window, grain: str) -> Select[Any]:
        """One row per bucket and combination of the stored dimensions, with every measure: from the source
        rows, or for a coarser grain from the finer table's buckets, combined as each measure combines."""
        fixed: list[ColumnElement[Any]] = [literal(value) for _, value in self.fixed]
        finer = dict(self.folded_from).get(grain)
        if finer is not None:
            table = self.tables[finer]
            at = FLOORS[grain](table.c[finer])
            dims = [table.c[d.col] for d in self.dims if d.stored]
            measures = [AGGREGATES[m.agg](table.c[m.name]) for m in self.measures]
            return (
                select(at, *fixed, *dims, *measures)
                .where(*self.owns(table), *within(table.c[finer], window))
                .group_by(at, *dims)
            )
        at = FLOORS[grain](self.time)
        raw = [d.raw for d in self.dims if d.stored]
        return (
            select(at, *fixed, *raw, *(m.raw for m in self.measures))
            .select_from(self.source)
            .where(*self.where, *within(self.time, window))
            .group_by(at, *raw)
        )

    def fold(self, session: Session, window: Window, grain: str = "hour") -> None:
        """Replaces the window's rows of the `grain` table by those computed from the source rows (one DELETE,
        one INSERT … SELECT): folding a window twice gives the same rows."""
        table = self.tables[grain]
        session.execute(delete(table).where(*self.owns(table), *within(table.c[grain], window)))
        fixed = [column for column, _ in self.fixed]
        columns = [grain, *fixed, *(d.col for d in self.dims if d.stored), *(m.name for m in self.measures)]
        session.execute(insert(table).from_select(columns, self.fold_select(window, grain)))


def within(column: Any, window: Window) -> list[ColumnElement[bool]]:
    return [] if window is None else [column >= window[0], column < window[1]]


# --- the specs ---------------------------------------------------------------------------------------------

# An alias: the scope's tag filter is an EXISTS over task_tags, which would otherwise correlate to this join
# and lose its FROM.
BREAKDOWN_TAGS = TaskTag.__table__.alias("breakdown_tags")


def _table(model: Any) -> Table:
    return model.__table__  # type: ignore[no-any-return]


def _with_tags(query: Select[Any]) -> Select[Any]:
    return query.join(BREAKDOWN_TAGS, BREAKDOWN_TAGS.c.task_id == T.id)


USAGE = Spec(
    name="usage",
    source=Invocation.__table__.join(Task.__table__, T.id == I.task_id),
    time=I.started_at,
    dims=(
        Dim("model", I.model),
        Dim("role", I.role),
        Dim("provider", I.provider),
        Dim("kind", T.kind),
        Dim("created_by", T.created_by, rolled=False),
        Dim("tag", BREAKDOWN_TAGS.c.tag, rolled=False, join=_with_tags),
    ),
    measures=(
        Measure("calls", func.count()),
        Measure("failed_calls", count_if(I.status == InvocationStatus.FAILED.value)),
        Measure("finished_calls", count_if(I.completed_at.is_not(None))),
        Measure("input_tokens", func.sum(I.input_tokens)),
        Measure("output_tokens", func.sum(I.output_tokens)),
        Measure("cache_read_tokens", func.sum(I.cache_read_tokens)),
        Measure("cost_usd", func.sum(I.cost_usd)),
        Measure("duration_s", func.coalesce(func.sum(CALL_DURATION), 0.0)),
    ),
    tables={"hour": _table(UsageHourly), "minute": _table(UsageMinutely), "day": _table(UsageDaily)},
    conditions=lambda scope: [*call_conditions(scope), *task_conditions(scope)],
    folded_from=(("day", "hour"),),
)

CREATED = Spec(
    name="created",
    source=Task.__table__,
    time=T.created_at,
    dims=(
        Dim("kind", T.kind),
        Dim("status", T.status),
        Dim("weekday", weekday(T.created_at), of_time=weekday),  # Monday = 0, UTC
        Dim("hour_of_day", hour_of_day(T.created_at), of_time=hour_of_day),
    ),
    measures=(Measure("tasks", func.count()),),
    tables={"hour": _table(CreatedHourly), "minute": _table(CreatedMinutely)},
    conditions=task_filters,
)

STARTED = T.started_at.is_not(None)

# Tasks that ended (completed_at is only set on a terminal state; a retry clears it), by when they ended.
ENDED = Spec(
    name="ended",
    source=Task.__table__,
    time=T.completed_at,
    dims=(Dim("kind", T.kind), Dim("status", T.status)),
    measures=(
        Measure("tasks", func.count()),
        Measure("first_attempt", count_if(T.attempt == 1)),
        Measure("started", count_if(STARTED)),  # ever started: queue wait and run time are known
        Measure("cycle_s", sum_if(CYCLE, STARTED)),  # sums over the started ones
        Measure("processing_s", sum_if(PROCESSING, STARTED)),
        Measure("queue_s", sum_if(QUEUE_WAIT, STARTED)),
        Measure("min_processing_s", func.min(case((STARTED, PROCESSING))), agg="min"),
        Measure("max_processing_s", func.max(case((STARTED, PROCESSING))), agg="max"),
    ),
    tables={"hour": _table(TaskHourly), "day": _table(TaskDaily)},
    conditions=task_filters,
    where=(T.completed_at.is_not(None),),
    folded_from=(("day", "hour"),),
)


def _worker_conditions(scope: Scope) -> list[ColumnElement[bool]]:
    # `worker_id || ''`: the same condition, which no index answers; else SQLite walks every task a worker
    # ever ran by ix_tasks_worker_status instead of the range's few along ix_tasks_completed_at.
    call = made_matching_call(scope)
    mine = [T.worker_id.concat("").in_(scope.worker)] if scope.worker else []
    return [*task_conditions(scope, worker=False), *mine, *([call] if call is not None else [])]


# Per worker, the started tasks that ended: outcomes and run time (a task's whole run in the hour it ended).
WORKERS = Spec(
    name="workers",
    source=Task.__table__,
    time=T.completed_at,
    dims=(Dim("worker", T.worker_id, column="worker_id"),),
    measures=(
        Measure("done", count_if(T.status == TaskStatus.COMPLETED.value)),
        Measure("failed", count_if(T.status.in_(FAILURES))),
        Measure("done_s", sum_if(PROCESSING, T.status == TaskStatus.COMPLETED.value)),
        Measure("busy_s", func.coalesce(func.sum(PROCESSING), 0.0)),
    ),
    tables={"hour": _table(WorkerHourly)},
    conditions=_worker_conditions,
    where=(T.completed_at.is_not(None), T.worker_id.is_not(None), STARTED),
)


def _tool_conditions(scope: Scope) -> list[ColumnElement[bool]]:
    """Kind, worker and tag on the line's task; role and model on the call the line belongs to."""
    calls = call_conditions(scope)
    made = [exists().where(and_(I.id == A.invocation_id, *calls))] if calls else []
    return [*task_conditions(scope), *made]


# `tool_exec` activity lines, counted by their first word.
TOOLS = Spec(
    name="tools",
    source=Activity.__table__.join(Task.__table__, T.id == A.task_id),
    time=A.at,
    dims=(Dim("kind", T.kind), Dim("tool", first_word(A.message))),
    measures=(Measure("calls", func.count()),),
    tables={"hour": _table(ToolHourly), "day": _table(ToolDaily)},
    conditions=_tool_conditions,
    where=(IS_TOOL_LINE,),
    folded_from=(("day", "hour"),),
)

# --- histograms: per metric, counts and sums of a value per key and bin (db/analytics/bins.py's log bins) ------------

# tasks.update_count bins for the Database page: [edge, next edge); the last is open. Roughly logarithmic, as
# the counts are.
UPDATE_EDGES = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
HISTOGRAM_TABLES = {"hour": _table(HistogramHourly), "day": _table(HistogramDaily)}


def _histogram(
    metric: str,
    source: FromClause,
    time: ColumnElement[Any],
    key: Dim,
    value: ColumnElement[Any],
    binned: ColumnElement[Any],
    conditions: Callable[[Scope], list[ColumnElement[bool]]],
    where: tuple[ColumnElement[bool], ...],
    ignores: tuple[str, ...] = (),
) -> Spec:
    """One metric's rows of histogram_hourly (and histogram_daily, summed from them)."""
    return Spec(
        name=f"histogram.{metric}",
        source=source,
        time=time,
        dims=(key, Dim("bin", binned)),
        measures=(Measure("count", func.count()), Measure("total", func.coalesce(func.sum(value), 0.0))),
        tables=HISTOGRAM_TABLES,
        conditions=conditions,
        where=where,
        fixed=(("metric", metric),),
        ignores=ignores,
        folded_from=(("day", "hour"),),
    )


def _task_histogram(metric: str, value: ColumnElement[Any], completed_only: bool) -> Spec:
    """Over the tasks that ended, by completed_at, per kind: cycle and processing times of the completed
    ones, queue wait of every one that started."""
    done = (T.status == TaskStatus.COMPLETED.value,) if completed_only else ()
    where = (T.completed_at.is_not(None), STARTED, *done)
    kind = Dim("kind", T.kind, column="key")
    # Built once: the nested CASE over ~90 bins takes milliseconds of Python to construct.
    return _histogram(
        metric, Task.__table__, T.completed_at, kind, value, bin_index(value), task_filters, where
    )


UPDATE_COUNT = T.update_count
UPDATE_BIN = case(
    *((T.update_count < hi, n) for n, hi in enumerate(UPDATE_EDGES[1:])), else_=len(UPDATE_EDGES) - 1
)
HISTOGRAMS = {
    "cycle": _task_histogram("cycle", CYCLE, True),
    "processing": _task_histogram("processing", PROCESSING, True),
    "queue": _task_histogram("queue", QUEUE_WAIT, False),
    # Finished calls' durations per role, by the time they started.
    "call": _histogram(
        "call",
        USAGE.source,
        I.started_at,
        Dim("role", I.role, column="key"),
        CALL_DURATION,
        bin_index(CALL_DURATION),
        USAGE.conditions,
        (I.completed_at.is_not(None),),
    ),
    # Tasks' update counts per kind, by the time they were created: the Database page is about the store as
    # a whole, so no scope filter applies.
    "updates": _histogram(
        "updates",
        Task.__table__,
        T.created_at,
        Dim("kind", T.kind, column="key"),
        UPDATE_COUNT,
        UPDATE_BIN,
        lambda scope: [],
        (),
        ignores=DIMENSIONS,
    ),
}

# Tasks that ended, as ENDED, per worker too and with per-minute tables: the overview's "today" (outcomes, run
# time, per-worker outcomes) reads buckets up to the last minute fold instead of every task that ended today.
# The worker dimension is named after the scope's filter, so a scope on workers is answered from the rollups.
# Not merged with ENDED: the worker dimension multiplies the rows (at 1,000,000 generated tasks, six workers:
# finished_hourly 80,668 rows, task_hourly 20,221), which every performance read over weeks would then sum.
FINISHED = Spec(
    name="finished",
    source=Task.__table__,
    time=T.completed_at,
    dims=(Dim("kind", T.kind), Dim("status", T.status), Dim("worker", T.worker_id)),
    measures=(
        Measure("tasks", func.count()),
        Measure("started", count_if(STARTED)),
        Measure("run_s", func.coalesce(func.sum(PROCESSING), 0.0)),
    ),
    tables={"hour": _table(FinishedHourly), "minute": _table(FinishedMinutely)},
    conditions=task_conditions,
    where=(T.completed_at.is_not(None),),
)

# The same tasks per run-time bin (db/analytics/bins.py; NULL for a task that never started): a percentile of
# today's run times adds bin counts. Apart from FINISHED so that table is not multiplied by the bins.
RUNTIMES = Spec(
    name="runtimes",
    source=Task.__table__,
    time=T.completed_at,
    dims=(
        Dim("kind", T.kind),
        Dim("status", T.status),
        Dim("bin", case((STARTED, bin_index(PROCESSING)))),
    ),
    measures=(Measure("tasks", func.count()),),
    tables={"hour": _table(RuntimeHourly), "minute": _table(RuntimeMinutely)},
    conditions=task_conditions,
    where=(T.completed_at.is_not(None),),
)

SPECS = (USAGE, CREATED, ENDED, FINISHED, RUNTIMES, WORKERS, TOOLS, *HISTOGRAMS.values())
MINUTE_SPECS = tuple(spec for spec in SPECS if "minute" in spec.tables)
DAY_SPECS = tuple(spec for spec in SPECS if "day" in spec.tables)  # folded from their hours
