"""Data layer: cost and token analytics over a Scope — totals with the previous period, cost over time by model,
breakdowns by a dimension, the most expensive tasks and calls. All aggregation happens in SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from db.analytics.rollcut import cut, split
from db.analytics.rollup_read import UNITS, Read, run
from db.analytics.rollup_spec import CREATED, USAGE
from db.core.frames import to_frame
from db.core.models import Invocation, Task, TaskTag, Worker
from db.domain.states import TaskKind
from db.read.scope import Scope
from db.read.scope_sql import call_conditions, task_conditions

I = Invocation.__table__.c  # noqa: E741
T = Task.__table__.c
WIDE_RANGE = timedelta(days=7)
COSTLIEST_WINDOW = 2_000
# What a breakdown or series may group by: every dimension of the usage spec (tags and creators are read
# from the calls, the others from the rollups where they cover the range).
BREAKDOWNS: tuple[str, ...] = tuple(d.name for d in USAGE.dims)
SPEND = ("cost_usd", "input_tokens", "output_tokens", "cache_read_tokens")
TOTALS = Read("costs.totals", USAGE, (*SPEND, "calls"))
COST = Read("costs.spend", USAGE, ("cost_usd",))
SERIES = Read("costs.series", USAGE, SPEND, by_choices=BREAKDOWNS, units=UNITS)
BREAKDOWN = Read("costs.breakdown", USAGE, (*SPEND, "calls"), by_choices=BREAKDOWNS)
CREATED_TASKS = Read("costs.tasks_created", CREATED, ("tasks",), by=("status",))
# The scope bar's role and model choices.
USED = Read("costs.roles_models", USAGE, ("calls",), by=("role", "model"))


def scoped(query: Select[Any], scope: Scope) -> Select[Any]:
    """Invocations started in the scope's range whose call and task match its filters."""
    query = query.select_from(Invocation.__table__.join(Task.__table__, T.id == I.task_id)).where(
        I.started_at >= scope.start, I.started_at < scope.end
    )
    return query.where(*call_conditions(scope), *task_conditions(scope))


@dataclass(frozen=True)
class CostTotals:
    cost: float
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    calls: int
    tasks: int
    completed_tasks: int

    @property
    def per_task(self) -> float | None:
        return self.cost / self.tasks if self.tasks else None

    @property
    def per_success(self) -> float | None:
        """What one successful task costs, failures' spend included."""
        return self.cost / self.completed_tasks if self.completed_tasks else None


def rollup_cut(session: Session, scope: Scope) -> datetime | None:
    """Where the part read from usage_hourly ends (the calls after it are read themselves); None when the
    scope is read from the calls alone."""
    rolled = split(session, scope, dims=USAGE.rolled_dims).rolled
    return None if rolled is None else rolled[1]


def totals(session: Session, scope: Scope) -> CostTotals:
    # With a role or model filter, "tasks" are the distinct tasks with a matching call, which cannot be
    # summed by bucket: that one pass over the calls gives the spend too, so the rollup would be read for
    # nothing.
    if scope.role or scope.model or not cut(session, scope, USAGE.rolled_dims).rolled:
        return _raw_totals(session, scope)
    spend = run(session, TOTALS, scope).iloc[0]
    # "tasks" are those created in the range (distinct tasks cannot be summed by bucket).
    created = run(session, CREATED_TASKS, scope).set_index("status")["tasks"]
    return CostTotals(
        float(spend["cost_usd"]),
        int(spend["input_tokens"]),
        int(spend["output_tokens"]),
        int(spend["cache_read_tokens"]),
        int(spend["calls"]),
        int(created.sum()),
        int(created.get("completed", 0)),
    )


def spend(session: Session, scope: Scope) -> float:
    """What the calls started in the scope cost: rolled buckets where the rollups keep the scope's filters,
    the rest from the calls (budgets read this on every overview refresh)."""
    return float(run(session, COST, scope).iloc[0]["cost_usd"])


def _raw_totals(session: Session, scope: Scope) -> CostTotals:
    row = session.execute(
        scoped(
            select(
                func.coalesce(func.sum(I.cost_usd), 0.0),
                func.coalesce(func.sum(I.input_tokens), 0),
                func.coalesce(func.sum(I.output_tokens), 0),
                func.coalesce(func.sum(I.cache_read_tokens), 0),
                func.count(),
                func.count(func.distinct(I.task_id)),
                func.count(func.distinct(case((T.status == "completed", I.task_id)))),
            ),
            scope,
        )
    ).one()
    return CostTotals(
        float(row[0]), int(row[1]), int(row[2]), int(row[3]), int(row[4]), int(row[5]), int(row[6])
    )


SERIES_COLUMNS = ["bucket", "key", "cost", "input", "output", "cache"]
NAMES = {"cost_usd": "cost", "input_tokens": "input", "output_tokens": "output", "cache_read_tokens": "cache"}


def over_time(session: Session, scope: Scope, unit: str | None = None) -> pd.DataFrame:
    """Cost and tokens per time bucket (the scope's, or day/week/month) and model: columns bucket, model, cost,
    input, output, cache."""
    frame = _series(session, scope, unit or scope.unit, "model").rename(columns={"key": "model"})
    return frame.sort_values("bucket").reset_index(drop=True)


def series(session: Session, scope: Scope, unit: str, dim: str) -> pd.DataFrame:
    """Cost and tokens per time bucket and value of `dim` (one of BREAKDOWNS), for the REST API: columns
    bucket, key, cost, input, output, cache; ordered by bucket, then cost (highest first)."""
    if dim not in BREAKDOWNS:
        raise ValueError(f"cannot group costs by {dim!r}")
    frame = _series(session, scope, unit, dim)
    return frame.sort_values(["bucket", "cost"], ascending=[True, False]).reset_index(drop=True)


def _series(session: Session, scope: Scope, unit: str, dim: str) -> pd.DataFrame:
    frame = run(session, SERIES, scope, by=(dim,), unit=unit)
    return frame.rename(columns={dim: "key", **NAMES})[SERIES_COLUMNS]


def breakdown(session: Session, scope: Scope, dim: str) -> pd.DataFrame:
    """Cost, tokens and calls per value of `dim`, most expensive first: columns key, cost, input, output, cache,
    calls. By tag, a task with two tags counts under both."""
    if dim not in BREAKDOWNS:
        raise ValueError(f"cannot break down by {dim!r}")
    frame = run(session, BREAKDOWN, scope, by=(dim,)).rename(columns={dim: "key", **NAMES})
    return frame.sort_values("cost", ascending=False).reset_index(drop=True)


def top_tasks(session: Session, scope: Scope, limit: int = 10) -> pd.DataFrame:
    """The most expensive tasks created in the range, by their whole cost (the task row's running total, so a
    million-task range is an index walk). With a role or model filter, only the matching calls' cost counts."""
    columns = ["task_id", "title", "status", "kind", "cost", "calls"]
    if scope.role or scope.model:
        cost = func.sum(I.cost_usd)
        rows = session.execute(
            scoped(select(T.id, T.title, T.status, T.kind, cost.label("cost"), func.count()), scope)
            .group_by(T.id, T.title, T.status, T.kind)
            .order_by(cost.desc())
            .limit(limit)
        ).all()
        return to_frame(rows, columns)
    query = select(T.id, T.title, T.status, T.kind, T.cost_usd, T.invocation_count).where(
        T.created_at >= scope.start, T.created_at < scope.end, T.cost_usd > 0
    )
    query = query.where(*task_conditions(scope)).order_by(T.cost_usd.desc()).limit(limit)
    if scope.span >= WIDE_RANGE:
        # As top_invocations: the costliest tasks overall, then the range; exact when enough of them are in it.
        costliest = select(T.id).order_by(T.cost_usd.desc()).limit(COSTLIEST_WINDOW).scalar_subquery()
        rows = session.execute(query.where(T.id.in_(costliest))).all()
        if len(rows) == limit:
            return to_frame(rows, columns)
    return to_frame(session.execute(query).all(), columns)


def top_invocations(session: Session, scope: Scope, limit: int = 10) -> pd.DataFrame:
    """The most expensive calls in the range. Over a wide range the cost index is walked from the top and the
    range applied to what it yields (a sort of millions of calls otherwise); a narrow range is read directly."""
    columns = ["id", "task_id", "role", "model", "input", "output", "cost"]
    query = scoped(
        select(I.id, I.task_id, I.role, I.model, I.input_tokens, I.output_tokens, I.cost_usd), scope
    )
    if scope.span >= WIDE_RANGE:
        costliest = select(I.id).order_by(I.cost_usd.desc()).limit(COSTLIEST_WINDOW).scalar_subquery()
        rows = session.execute(
            query.where(I.id.in_(costliest)).order_by(I.cost_usd.desc()).limit(limit)
        ).all()
        if len(rows) == limit:
            return to_frame(rows, columns)
    rows = session.execute(query.order_by(I.cost_usd.desc()).limit(limit)).all()
    return to_frame(rows, columns)


def dimension_values(session: Session, since: datetime, limit: int = 200) -> dict[str, list[str]]:
    """Choices for the scope bar's filters. Roles and models used since `since` come from usage_hourly for
    the hours it has and from the calls after that (a distinct over a month of calls took 2 s at a million
    tasks); tags are walked along their index one value at a time, never a scan of every tag row."""

    def distinct(query: Select[Any]) -> list[str]:
        return [v for v in session.scalars(query.distinct().limit(limit)) if v]

    def walk(column: Any) -> list[str]:
        found: list[str] = []
        while len(found) < limit:
            query = select(func.min(column))
            if found:
                query = query.where(column > found[-1])
            value = session.scalar(query)
            if value is None:
                break
            found.append(value)
        return [v for v in found if v]

    # Up to the end of time: whatever was used since `since`, the hours and minutes from the rollups.
    used = run(session, USED, Scope(start=since, end=datetime.max))
    rolled = {dim: {str(v) for v in used[dim]} for dim in ("role", "model")}
    return {
        "kind": [k.value for k in TaskKind],
        "tag": walk(TaskTag.__table__.c.tag),
        "role": sorted(rolled["role"] - {""})[:limit],
        "model": sorted(rolled["model"] - {""})[:limit],
        "worker": distinct(select(Worker.__table__.c.id).order_by(Worker.__table__.c.id)),
    }
