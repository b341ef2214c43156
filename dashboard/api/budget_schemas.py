"""API layer: the pydantic models of /api/v1/budgets — a budget as created, and each budget with its spend so
far this period and the projection to the period's end (db/analytics/budgets.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from dashboard.api.schemas import Body, Model, UtcDateTime
from db.analytics.budgets import MIN_LIMIT_USD


class BudgetCreate(Body):
    name: str = Field(min_length=1, max_length=200)
    period: Literal["day", "week", "month"]
    limit_usd: float = Field(ge=MIN_LIMIT_USD, le=1e12)
    scope_kind: Literal["all", "tag", "created_by"] = "all"
    scope_value: str | None = Field(
        None, max_length=200, description="the tag or creator; required unless all"
    )


class BudgetOut(Model):
    id: int
    name: str
    period: str
    limit_usd: float
    scope_kind: str
    scope_value: str | None
    period_start: UtcDateTime
    period_end: UtcDateTime
    spent: float = Field(description="USD spent this period so far")
    projected: float = Field(description="USD at the period's end at the current burn rate")
    used: float = Field(description="spent / limit_usd")
    over: bool
    projected_over: bool


class BudgetList(Model):
    items: list[BudgetOut]
