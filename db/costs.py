"""Data layer: cost and token analytics over a Scope — totals with the previous period, cost over time by model,
breakdowns by a dimension, the most expensive tasks and calls. All aggregation happens in SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Select, and_, case, exists, func, select
from sqlalchemy.orm import Session

from db.models import Invocation, Task, TaskTag, Worker
from db.scope import Scope
from db.sqlfuncs import bucket
from db.states import TaskKind

I = Invocation.__table__.c  # noqa: E741
T = Task.__table__.c

BREAKDOWNS: dict[str, Any] = {
    "model": I.model,
    "role": I.role,
    "provider": I.provider,
    "kind": T.kind,
    "created_by": T.created_by,
    "tag": TaskTag.__table__.c.tag,
}


def scoped(query: Select[Any], scope: Scope) -> Select[Any]:
    """Invocations started in the scope's range whose call and task match its filters."""
    query = query.select_from(Invocation.__table__.join(Task.__table__, T.id == I.task_id)).where(
        I.started_at >= scope.start, I.started_at < scope.end
    )
    if scope.role:
        query = query.where(I.role.in_(scope.role))
    if scope.model:
        query = query.where(I.model.in_(scope.model))
    if scope.kind:
        query = query.where(T.kind.in_(scope.kind))
    if scope.worker:
        query = query.where(T.worker_id.in_(scope.worker))
    if scope.tag:
        tags = TaskTag.__table__.c
        query = query.where(exists().where(and_(tags.task_id == T.id, tags.tag.in_(scope.tag))))
    return query


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


def totals(session: Session, scope: Scope) -> CostTotals:
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


def over_time(session: Session, scope: Scope, unit: str | None = None) -> pd.DataFrame:
    """Cost and tokens per time bucket (the scope's, or day/week/month) and model: columns bucket, model, cost,
    input, output, cache."""
    b = bucket(I.started_at, unit or scope.unit)
    rows = session.execute(
        scoped(
            select(
                b.label("bucket"),
                I.model,
                func.sum(I.cost_usd),
                func.sum(I.input_tokens),
                func.sum(I.output_tokens),
                func.sum(I.cache_read_tokens),
            ),
            scope,
        )
        .group_by(b, I.model)
        .order_by(b)
    ).all()
    frame = pd.DataFrame(rows, columns=["bucket", "model", "cost", "input", "output", "cache"])
    frame["bucket"] = pd.to_datetime(frame["bucket"])
    return frame


def breakdown(session: Session, scope: Scope, dim: str) -> pd.DataFrame:
    """Cost, tokens and calls per value of `dim`, most expensive first: columns key, cost, input, output, cache,
    calls. By tag, a task with two tags counts under both."""
    if dim not in BREAKDOWNS:
        raise ValueError(f"cannot break down by {dim!r}")
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
        query = query.join(TaskTag.__table__, TaskTag.__table__.c.task_id == T.id)
    rows = session.execute(query.group_by(key).order_by(func.sum(I.cost_usd).desc())).all()
    return pd.DataFrame(rows, columns=["key", "cost", "input", "output", "cache", "calls"])


def top_tasks(session: Session, scope: Scope, limit: int = 10) -> pd.DataFrame:
    cost = func.sum(I.cost_usd)
    rows = session.execute(
        scoped(
            select(T.id, T.title, T.status, T.kind, cost.label("cost"), func.count().label("calls")), scope
        )
        .group_by(T.id, T.title, T.status, T.kind)
        .order_by(cost.desc())
        .limit(limit)
    ).all()
    return pd.DataFrame(rows, columns=["task_id", "title", "status", "kind", "cost", "calls"])


def top_invocations(session: Session, scope: Scope, limit: int = 10) -> pd.DataFrame:
    rows = session.execute(
        scoped(select(I.id, I.task_id, I.role, I.model, I.input_tokens, I.output_tokens, I.cost_usd), scope)
        .order_by(I.cost_usd.desc())
        .limit(limit)
    ).all()
    return pd.DataFrame(rows, columns=["id", "task_id", "role", "model", "input", "output", "cost"])


def dimension_values(session: Session, since: datetime, limit: int = 200) -> dict[str, list[str]]:
    """Choices for the scope bar's filters; roles and models come from recent calls (an index range, not a
    scan of every invocation ever made)."""

    def distinct(query: Select[Any]) -> list[str]:
        return [v for v in session.scalars(query.distinct().limit(limit)) if v]

    return {
        "kind": [k.value for k in TaskKind],
        "tag": distinct(select(TaskTag.__table__.c.tag).order_by(TaskTag.__table__.c.tag)),
        "role": sorted(distinct(select(I.role).where(I.started_at >= since))),
        "model": sorted(distinct(select(I.model).where(I.started_at >= since))),
        "worker": distinct(select(Worker.__table__.c.id).order_by(Worker.__table__.c.id)),
    }
