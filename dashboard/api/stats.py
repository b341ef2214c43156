"""API layer: /stats (the overview's KPIs), /workers (the fleet) and /costs (totals, a breakdown and a series
per day, week or month over an analytics scope), read through the dashboard's own query modules."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pandas as pd
from flask.typing import ResponseReturnValue

from dashboard.api.context import ctx, respond
from dashboard.api.params import scope_of
from dashboard.api.registry import Role, endpoint
from dashboard.api.schemas import Costs, CostsQuery, Stats, WorkerList, WorkersQuery
from dashboard.services import Services
from db.analytics import costs
from db.core.timeutil import utcnow
from db.read import overview


@endpoint(
    "GET",
    "/stats",
    Role.VIEWER,
    summary="The overview's KPIs",
    responses={200: ("the figures", Stats)},
)
def stats() -> ResponseReturnValue:
    return respond(Stats, ctx().stats.get())


def overview_stats(svc: Services) -> dict[str, Any]:
    """The overview's KPIs as /stats answers them (read through ApiContext.stats, which lets concurrent
    requests share one reading)."""
    now = utcnow()
    with svc.db.reading() as session:
        k = overview.kpis(session, now, timedelta(seconds=svc.settings.stuck_after_seconds))
    return {**k.__dict__, "active": k.active, "as_of": now}


@endpoint(
    "GET",
    "/workers",
    Role.VIEWER,
    summary="Worker processes, busy and online first",
    responses={200: ("workers", WorkerList)},
    query=WorkersQuery,
)
def workers(q: WorkersQuery) -> ResponseReturnValue:
    with ctx().svc.db.reading() as session:
        # Every worker row (offline ones too: this is the record, not the live list), with today's outcomes.
        frame = overview.live_workers(session, utcnow(), None, q.limit)
    return respond(WorkerList, {"items": _records(frame)})


@endpoint(
    "GET",
    "/costs",
    Role.VIEWER,
    summary="Spend and tokens over a range: totals, a breakdown and a series per period",
    responses={200: ("the figures", Costs)},
    query=CostsQuery,
)
def cost_report(q: CostsQuery) -> ResponseReturnValue:
    scope = scope_of(q)
    with ctx().svc.db.reading() as session:
        totals = costs.totals(session, scope)
        breakdown = costs.breakdown(session, scope, q.by)
        points = costs.series(session, scope, q.period, q.by)
    money = ["cost_usd", "input_tokens", "output_tokens", "cache_read_tokens"]
    renames = dict(zip(["cost", "input", "output", "cache"], money, strict=True))
    return respond(
        Costs,
        {
            "range": {"start": scope.start, "end": scope.end, "key": scope.range_key},
            "period": q.period,
            "by": q.by,
            "totals": {
                "cost_usd": totals.cost,
                "input_tokens": totals.input_tokens,
                "output_tokens": totals.output_tokens,
                "cache_read_tokens": totals.cache_read_tokens,
                "calls": totals.calls,
                "tasks": totals.tasks,
                "completed_tasks": totals.completed_tasks,
                "cost_per_task": totals.per_task,
                "cost_per_success": totals.per_success,
            },
            "breakdown": _records(breakdown.rename(columns=renames), key=True),
            "series": _records(points.rename(columns=renames), key=True),
        },
    )


def _records(frame: pd.DataFrame, key: bool = False) -> list[dict[str, Any]]:
    """Rows as plain Python values (NaN and NaT as None; keys as text, "" for a NULL creator or tag)."""
    out = []
    for row in frame.to_dict("records"):
        clean: dict[str, Any] = {str(k): (None if _missing(v) else v) for k, v in row.items()}
        if key:
            clean["key"] = "" if clean.get("key") is None else str(clean["key"])
        for name in ("input_tokens", "output_tokens", "cache_read_tokens", "calls"):
            if name in clean and clean[name] is not None:
                clean[name] = int(clean[name])
        task = clean.get("current_task_id")
        if task is not None:
            clean["current_task_id"] = int(task)
        out.append(clean)
    return out


def _missing(value: Any) -> bool:
    if value is None or value is pd.NaT:
        return True
    return isinstance(value, float) and math.isnan(value)
