"""Data layer: the one filter of the calls list — the /calls grid, its CSV download and GET /api/v1/calls each
read their parameters into a CallFilter (the time range, of the call's start, in db/read/timerange's
vocabulary: range, or from/to), and apply_filter turns it into SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, or_

from db.core.sqlfuncs import contains
from db.domain.states import CallKind, InvocationStatus
from db.read.call_view import I

# The parameter names the page's address, the CSV download and the API share.
FILTER_PARAMS = ("task", "kind", "status", "model", "name", "min_cost", "range", "from", "to")


@dataclass(frozen=True)
class CallFilter:
    task_id: int | None = None
    kinds: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    # The exact model (what ix_invocations_model_started serves: one model's calls, newest first).
    model: str | None = None
    # Text in the call's name (a tool's, an agent's) or its model, any case.
    name: str | None = None
    min_cost: float | None = None
    started_from: datetime | None = None
    started_to: datetime | None = None

    def __post_init__(self) -> None:
        bad = set(self.kinds) - {k.value for k in CallKind}
        if bad:
            raise ValueError(f"unknown kind {sorted(bad)[0]!r}")
        bad = set(self.statuses) - {s.value for s in InvocationStatus}
        if bad:
            raise ValueError(f"unknown status {sorted(bad)[0]!r}")


def apply_filter(query: Select[Any], f: CallFilter) -> Select[Any]:
    if f.task_id is not None:
        query = query.where(I.task_id == f.task_id)
    if f.kinds:
        query = query.where(I.kind.in_(f.kinds))
    if f.statuses:
        query = query.where(I.status.in_(f.statuses))
    if f.model:
        query = query.where(I.model == f.model)
    if f.name and f.name.strip():
        text = f.name.strip()
        query = query.where(or_(contains(I.name, text), contains(I.model, text)))
    if f.min_cost is not None:
        query = query.where(I.cost_usd >= f.min_cost)
    if f.started_from is not None:
        query = query.where(I.started_at >= f.started_from)
    if f.started_to is not None:
        query = query.where(I.started_at < f.started_to)
    return query
