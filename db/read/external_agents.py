"""Data layer: external agents — the programs that report their own tasks (POST /events with a `worker`,
OTLP's resource service.name) and so have no row in `workers` — with their tasks and calls over a Scope."""

from __future__ import annotations

from typing import cast

import pandas as pd
from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from db.core.frames import to_frame
from db.core.models import Task
from db.core.sqlfuncs import count_if, seconds_between
from db.domain.states import FAILURES, TaskKind, TaskStatus
from db.read.scope import Scope
from db.read.scope_sql import task_conditions

T = cast(Table, Task.__table__)
COLUMNS = [
    "agent",
    "tasks",
    "running",
    "done",
    "failed",
    "calls",
    "input_tokens",
    "output_tokens",
    "cost",
    "avg_task_s",
    "last_seen_at",
]


def external_agents(session: Session, scope: Scope, limit: int = 100) -> pd.DataFrame:
    """One row per agent that ran external tasks created in the scope, the most recently active first."""
    c = T.c
    query = (
        select(
            c.worker_id.label("agent"),
            func.count().label("tasks"),
            count_if(c.status == TaskStatus.RUNNING.value).label("running"),
            count_if(c.status == TaskStatus.COMPLETED.value).label("done"),
            count_if(c.status.in_(FAILURES)).label("failed"),
            func.coalesce(func.sum(c.invocation_count), 0).label("calls"),
            func.coalesce(func.sum(c.input_tokens), 0).label("input_tokens"),
            func.coalesce(func.sum(c.output_tokens), 0).label("output_tokens"),
            func.coalesce(func.sum(c.cost_usd), 0.0).label("cost"),
            func.avg(seconds_between(c.started_at, c.completed_at)).label("avg_task_s"),
            func.max(c.last_updated_at).label("last_seen_at"),
        )
        .where(
            c.kind == TaskKind.EXTERNAL.value,
            c.worker_id.is_not(None),
            c.created_at >= scope.start,
            c.created_at < scope.end,
            *task_conditions(scope),
        )
        .group_by(c.worker_id)
        .order_by(func.max(c.last_updated_at).desc())
        .limit(limit)
    )
    return to_frame(session.execute(query), COLUMNS)
