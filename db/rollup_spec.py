"""Data layer: the declarative rollup specs — per rollup its source rows, time column, dimensions and
measures — and the fold generated from one, which keeps its hourly and per-minute tables. db/rollup_read.py
generates the reads (rolled and raw SELECTs) from the same spec."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import FromClause, Select, Table, case, delete, func, insert, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement

from db.bins import bin_index
from db.models import (
    CreatedHourly,
    CreatedMinutely,
    FinishedHourly,
    FinishedMinutely,
    Invocation,
    RuntimeHourly,
    RuntimeMinutely,
    Task,
    TaskTag,
    UsageHourly,
    UsageMinutely,
)
from db.scope import Scope
from db.scoping import call_conditions, task_conditions
from db.sqlfuncs import count_if, hour_floor, minute_floor, seconds_between
from db.states import InvocationStatus

I = Invocation.__table__.c  # noqa: E741
T = Task.__table__.c
Window = tuple[datetime, datetime] | None
GRAINS = ("hour", "minute")
CALL_DURATION = seconds_between(I.started_at, I.completed_at)
RUN_TIME = seconds_between(T.started_at, T.completed_at)  # a task's last attempt's run
FLOORS = {"hour": hour_floor, "minute": minute_floor}


@dataclass(frozen=True)
class Dim:
    """A dimension: its expression over the source rows; `rolled` when the rollup tables keep it (a column of
    the same name), else a read grouped by it goes to the source rows; `join` adds what its expression needs."""

    name: str
    raw: ColumnElement[Any]
    rolled: bool = True
    join: Callable[[Select[Any]], Select[Any]] | None = None


@dataclass(frozen=True)
class Measure:
    """An additive measure: its aggregate over the source rows; the rollup column of the same name holds it
    per bucket, and a rolled read sums that column."""

    name: str
    raw: ColumnElement[Any]


@dataclass(frozen=True)
class Spec:
    name: str
    source: FromClause
    time: ColumnElement[Any]  # the source rows' time, the one the buckets and a scope's range are on
    dims: tuple[Dim, ...]
    measures: tuple[Measure, ...]
    tables: dict[str, Table]  # grain -> table; its time column is named after the grain
    conditions: Callable[[Scope], list[ColumnElement[bool]]]  # a scope's filters on the source rows
    # Source rows that have no time yet (a task that has not ended) are in no bucket.
    timed: tuple[ColumnElement[bool], ...] = ()

    def dim(self, name: str) -> Dim:
        for d in self.dims:
            if d.name == name:
                return d
        raise ValueError(f"{self.name} has no dimension {name!r}")

    @property
    def rolled_dims(self) -> tuple[str, ...]:
        return tuple(d.name for d in self.dims if d.rolled)

    def fold_select(self, window: Window, grain: str) -> Select[Any]:
        """One row per bucket and combination of the rolled dimensions, with every measure."""
        at = FLOORS[grain](self.time)
        dims = [d.raw for d in self.dims if d.rolled]
        return (
            select(at, *dims, *(m.raw for m in self.measures))
            .select_from(self.source)
            .where(*self.timed, *within(self.time, window))
            .group_by(at, *dims)
        )

    def fold(self, session: Session, window: Window, grain: str = "hour") -> None:
        """Replaces the window's rows of the `grain` table by those computed from the source rows (one DELETE,
        one INSERT … SELECT): folding a window twice gives the same rows."""
        table = self.tables[grain]
        session.execute(delete(table).where(*within(table.c[grain], window)))
        columns = [grain, *self.rolled_dims, *(m.name for m in self.measures)]
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
    tables={"hour": _table(UsageHourly), "minute": _table(UsageMinutely)},
    conditions=lambda scope: [*call_conditions(scope), *task_conditions(scope)],
)

CREATED = Spec(
    name="created",
    source=Task.__table__,
    time=T.created_at,
    dims=(Dim("kind", T.kind), Dim("status", T.status)),
    measures=(Measure("tasks", func.count()),),
    tables={"hour": _table(CreatedHourly), "minute": _table(CreatedMinutely)},
    conditions=task_conditions,
)

# Tasks that ended, by completed_at (only a terminal status sets it; a retry clears it). The worker dimension
# is named after the scope's filter, so a scope on workers is answered from the rollups too.
FINISHED = Spec(
    name="finished",
    source=Task.__table__,
    time=T.completed_at,
    dims=(Dim("kind", T.kind), Dim("status", T.status), Dim("worker", T.worker_id)),
    measures=(
        Measure("tasks", func.count()),
        Measure("started", count_if(T.started_at.is_not(None))),
        Measure("run_s", func.coalesce(func.sum(RUN_TIME), 0.0)),
    ),
    tables={"hour": _table(FinishedHourly), "minute": _table(FinishedMinutely)},
    conditions=task_conditions,
    timed=(T.completed_at.is_not(None),),
)

# The same tasks per run-time bin (db/bins.py; NULL for a task that never started): a percentile adds bin
# counts. Apart from FINISHED so that table is not multiplied by the bins.
RUNTIMES = Spec(
    name="runtimes",
    source=Task.__table__,
    time=T.completed_at,
    dims=(
        Dim("kind", T.kind),
        Dim("status", T.status),
        Dim("bin", case((T.started_at.is_not(None), bin_index(RUN_TIME)))),
    ),
    measures=(Measure("tasks", func.count()),),
    tables={"hour": _table(RuntimeHourly), "minute": _table(RuntimeMinutely)},
    conditions=task_conditions,
    timed=(T.completed_at.is_not(None),),
)

SPECS = (USAGE, CREATED, FINISHED, RUNTIMES)
