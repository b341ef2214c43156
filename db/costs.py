"""Data layer: cost and token analytics over a Scope — totals with the previous period, cost over time by model,
breakdowns by a dimension, the most expensive tasks and calls. All aggregation happens in SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from db.frames import add_up, to_frame
from db.models import CreatedHourly, Invocation, Task, TaskTag, UsageHourly, Worker
from db.rollcut import Split, bucket_hours, refreshed_until, split
from db.scope import Scope
from db.scoping import call_conditions, task_conditions
from db.sqlfuncs import bucket
from db.states import TaskKind

I = Invocation.__table__.c  # noqa: E741
T = Task.__table__.c
U = UsageHourly.__table__.c
CH = CreatedHourly.__table__.c
WIDE_RANGE = timedelta(days=7)
COSTLIEST_WINDOW = 2_000
# usage_hourly's dimensions (provider is no scope filter, but a breakdown).
ROLLED_DIMS: dict[str, Any] = {"model": U.model, "role": U.role, "provider": U.provider, "kind": U.kind}

BREAKDOWN_TAGS = TaskTag.__table__.alias("breakdown_tags")
BREAKDOWNS: dict[str, Any] = {
    "model": I.model,
    "role": I.role,
    "provider": I.provider,
    "kind": T.kind,
    "created_by": T.created_by,
    # An alias: the scope's tag filter is an EXISTS over task_tags, which would otherwise correlate to this
    # join and lose its FROM.
    "tag": BREAKDOWN_TAGS.c.tag,
}


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


def _split(session: Session, scope: Scope) -> Split:
    """Whole hours from usage_hourly when it keeps the scope's filters, the edges from the calls."""
    return split(session, scope, dims=("kind", "role", "model"))


def rollup_cut(session: Session, scope: Scope) -> datetime | None:
    """Where the part read from usage_hourly ends (the calls after it are read themselves); None when the
    scope is read from the calls alone."""
    rolled = _split(session, scope).rolled
    return None if rolled is None else rolled[1]


def _rolled(query: Select[Any], scope: Scope, window: tuple[datetime, datetime]) -> Select[Any]:
    query = query.where(U.hour >= window[0], U.hour < window[1])
    for dim, column in (("role", U.role), ("model", U.model), ("kind", U.kind)):
        values = getattr(scope, dim)
        if values:
            query = query.where(column.in_(values))
    return query


def totals(session: Session, scope: Scope) -> CostTotals:
    cut = _split(session, scope)
    # With a role or model filter, "tasks" are the distinct tasks with a matching call, which cannot be
    # summed by hour: that one pass over the calls gives the spend too, so the rollup would be read for nothing.
    if cut.rolled is None or scope.role or scope.model:
        return _raw_totals(session, scope)
    rolled = session.execute(
        _rolled(
            select(
                func.coalesce(func.sum(U.cost_usd), 0.0),
                func.coalesce(func.sum(U.input_tokens), 0),
                func.coalesce(func.sum(U.output_tokens), 0),
                func.coalesce(func.sum(U.cache_read_tokens), 0),
                func.coalesce(func.sum(U.calls), 0),
            ),
            scope,
            cut.rolled,
        )
    ).one()
    edges = [_raw_totals(session, part) for part in cut.raw]
    tasks, completed = _tasks_created(session, scope)
    return CostTotals(
        float(rolled[0]) + sum(e.cost for e in edges),
        int(rolled[1]) + sum(e.input_tokens for e in edges),
        int(rolled[2]) + sum(e.output_tokens for e in edges),
        int(rolled[3]) + sum(e.cache_read_tokens for e in edges),
        int(rolled[4]) + sum(e.calls for e in edges),
        tasks,
        completed,
    )


def _tasks_created(session: Session, scope: Scope) -> tuple[int, int]:
    """With the rollup, "tasks" are those created in the range (distinct tasks cannot be summed by hour):
    whole hours from created_hourly, the edges from the tasks."""
    cut = split(session, scope)
    tasks = completed = 0
    if cut.rolled:
        done = case((CH.status == "completed", CH.tasks), else_=0)
        where = [CH.hour >= cut.rolled[0], CH.hour < cut.rolled[1]]
        row = session.execute(
            select(func.coalesce(func.sum(CH.tasks), 0), func.coalesce(func.sum(done), 0)).where(
                *where, *([CH.kind.in_(scope.kind)] if scope.kind else [])
            )
        ).one()
        tasks, completed = int(row[0]), int(row[1])
    for part in cut.raw:
        query = select(
            func.count(), func.coalesce(func.sum(case((T.status == "completed", 1), else_=0)), 0)
        ).where(T.created_at >= part.start, T.created_at < part.end)
        if scope.kind:
            query = query.where(T.kind.in_(scope.kind))
        row = session.execute(query).one()
        tasks, completed = tasks + int(row[0]), completed + int(row[1])
    return tasks, completed


def spend(session: Session, scope: Scope) -> float:
    """What the calls started in the scope cost: whole hours from usage_hourly when it keeps the scope's
    filters, the rest from the calls (budgets read this on every overview refresh)."""
    cut = split(session, scope, dims=tuple(ROLLED_DIMS))
    total = 0.0
    if cut.rolled:
        where = [U.hour >= cut.rolled[0], U.hour < cut.rolled[1]]
        for dim, column in ROLLED_DIMS.items():
            if getattr(scope, dim, ()):
                where.append(column.in_(getattr(scope, dim)))
        total += float(session.scalar(select(func.coalesce(func.sum(U.cost_usd), 0.0)).where(*where)) or 0.0)
    for part in cut.raw:
        total += float(session.scalar(scoped(select(func.coalesce(func.sum(I.cost_usd), 0.0)), part)) or 0.0)
    return total


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


def over_time(session: Session, scope: Scope, unit: str | None = None) -> pd.DataFrame:
    """Cost and tokens per time bucket (the scope's, or day/week/month) and model: columns bucket, model, cost,
    input, output, cache."""
    frame = _series(session, scope, unit or scope.unit, "model").rename(columns={"key": "model"})
    return frame.sort_values("bucket").reset_index(drop=True)


def series(session: Session, scope: Scope, unit: str, dim: str) -> pd.DataFrame:
    """Cost and tokens per time bucket and value of `dim` (a BREAKDOWNS key), for the REST API: columns
    bucket, key, cost, input, output, cache; ordered by bucket, then cost (highest first)."""
    if dim not in BREAKDOWNS:
        raise ValueError(f"cannot group costs by {dim!r}")
    frame = _series(session, scope, unit, dim)
    return frame.sort_values(["bucket", "cost"], ascending=[True, False]).reset_index(drop=True)


def _series(session: Session, scope: Scope, unit: str, dim: str) -> pd.DataFrame:
    """Whole hours from usage_hourly when it keeps `dim` and the scope's filters, the rest from the calls."""
    rolled_dim = dim in ROLLED_DIMS and unit != "minute"
    cut = _split(session, scope) if rolled_dim else Split(None, (scope,))
    frames = [_raw_series(session, part, unit, dim) for part in cut.raw]
    if cut.rolled is not None:
        # Hours and days are bucketed in SQL (fewer rows back); weeks and months from the hours in pandas,
        # where the calendar arithmetic is the same on both databases.
        in_sql = unit in ("hour", "day")
        b = bucket(U.hour, unit) if in_sql else U.hour
        key = ROLLED_DIMS[dim]
        rows = session.execute(
            _rolled(
                select(
                    b,
                    key,
                    func.sum(U.cost_usd),
                    func.sum(U.input_tokens),
                    func.sum(U.output_tokens),
                    func.sum(U.cache_read_tokens),
                ),
                scope,
                cut.rolled,
            ).group_by(b, key)
        ).all()
        rolled = to_frame(rows, SERIES_COLUMNS)
        rolled["bucket"] = (
            pd.to_datetime(rolled["bucket"]) if in_sql else bucket_hours(rolled["bucket"], unit)
        )
        frames.insert(0, rolled)
    frame = add_up(frames, SERIES_COLUMNS[:2], SERIES_COLUMNS[2:])
    frame["bucket"] = pd.to_datetime(frame["bucket"])
    return frame


def _raw_series(session: Session, scope: Scope, unit: str, dim: str) -> pd.DataFrame:
    b = bucket(I.started_at, unit)
    key = BREAKDOWNS[dim]
    query = scoped(
        select(
            b.label("bucket"),
            key,
            func.sum(I.cost_usd),
            func.sum(I.input_tokens),
            func.sum(I.output_tokens),
            func.sum(I.cache_read_tokens),
        ),
        scope,
    )
    if dim == "tag":
        query = query.join(BREAKDOWN_TAGS, BREAKDOWN_TAGS.c.task_id == T.id)
    frame = to_frame(session.execute(query.group_by(b, key)).all(), SERIES_COLUMNS)
    frame["bucket"] = pd.to_datetime(frame["bucket"])  # text from SQL; the rolled part's are timestamps
    return frame


def breakdown(session: Session, scope: Scope, dim: str) -> pd.DataFrame:
    """Cost, tokens and calls per value of `dim`, most expensive first: columns key, cost, input, output, cache,
    calls. By tag, a task with two tags counts under both."""
    if dim not in BREAKDOWNS:
        raise ValueError(f"cannot break down by {dim!r}")
    columns = ["key", "cost", "input", "output", "cache", "calls"]
    cut = _split(session, scope) if dim in ROLLED_DIMS else Split(None, (scope,))
    frames = [_raw_breakdown(session, part, dim) for part in cut.raw]
    if cut.rolled is not None:
        key = ROLLED_DIMS[dim]
        rows = session.execute(
            _rolled(
                select(
                    key,
                    func.sum(U.cost_usd),
                    func.sum(U.input_tokens),
                    func.sum(U.output_tokens),
                    func.sum(U.cache_read_tokens),
                    func.sum(U.calls),
                ),
                scope,
                cut.rolled,
            ).group_by(key)
        ).all()
        frames.insert(0, to_frame(rows, columns))
    frame = add_up(frames, columns[:1], columns[1:])
    return frame.sort_values("cost", ascending=False).reset_index(drop=True)


def _raw_breakdown(session: Session, scope: Scope, dim: str) -> pd.DataFrame:
    key = BREAKDOWNS[dim]
    query = select(
        key.label("key"),
        func.sum(I.cost_usd),
        func.sum(I.input_tokens),
        func.sum(I.output_tokens),
        func.sum(I.cache_read_tokens),
        func.count(),
    )
    query = scoped(query, scope)
    if dim == "tag":
        query = query.join(BREAKDOWN_TAGS, BREAKDOWN_TAGS.c.task_id == T.id)
    rows = session.execute(query.group_by(key).order_by(func.sum(I.cost_usd).desc())).all()
    return to_frame(rows, ["key", "cost", "input", "output", "cache", "calls"])


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

    cut = refreshed_until(session)
    calls_since = since if cut is None or cut <= since else cut
    rolled: dict[str, set[str]] = {"role": set(), "model": set()}
    if cut is not None and cut > since:
        for role, model in session.execute(
            select(U.role, U.model).where(U.hour >= since, U.hour < cut).distinct()
        ):
            rolled["role"].add(role)
            rolled["model"].add(model)
    recent_roles = distinct(select(I.role).where(I.started_at >= calls_since))
    recent_models = distinct(select(I.model).where(I.started_at >= calls_since))
    return {
        "kind": [k.value for k in TaskKind],
        "tag": walk(TaskTag.__table__.c.tag),
        "role": sorted((rolled["role"] | set(recent_roles)) - {""})[:limit],
        "model": sorted((rolled["model"] | set(recent_models)) - {""})[:limit],
        "worker": distinct(select(Worker.__table__.c.id).order_by(Worker.__table__.c.id)),
    }
