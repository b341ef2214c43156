"""Data layer: budgets — spending limits per day / week / month, overall or per tag or creator — with the
spend so far in the current period and a projection to the period's end from the current burn rate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, func, insert, select
from sqlalchemy.orm import Session

from db.analytics import costs
from db.core.models import Budget, Invocation, Task, TaskTag
from db.core.timeutil import day_start, utcnow
from db.read.scope import Scope

PERIODS = ("day", "week", "month")
SCOPES = ("all", "tag", "created_by")
# A limit below a cent is no budget, and spent / limit overflows: 0.006 / 5e-324 is infinity, which JSON cannot
# carry (the API's `used` came out null against its own schema; found by the schemathesis fuzz).
MIN_LIMIT_USD = 0.01


class BudgetError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class BudgetStatus:
    id: int
    name: str
    period: str
    limit_usd: float
    scope_kind: str
    scope_value: str | None
    period_start: datetime
    period_end: datetime
    spent: float
    projected: float

    @property
    def used(self) -> float:
        return self.spent / self.limit_usd if self.limit_usd else 0.0

    @property
    def over(self) -> bool:
        return self.spent > self.limit_usd

    @property
    def projected_over(self) -> bool:
        return self.projected > self.limit_usd


def period_bounds(period: str, now: datetime) -> tuple[datetime, datetime]:
    """The current day, ISO week (from Monday) or calendar month, in UTC."""
    day = day_start(now)
    if period == "day":
        return day, day + timedelta(days=1)
    if period == "week":
        start = day - timedelta(days=day.weekday())
        return start, start + timedelta(days=7)
    if period == "month":
        start = day.replace(day=1)
        end = (start + timedelta(days=32)).replace(day=1)
        return start, end
    raise BudgetError("period", f"must be one of {', '.join(PERIODS)}")


def add_budget(
    session: Session,
    name: str,
    period: str,
    limit_usd: float,
    scope_kind: str = "all",
    scope_value: str | None = None,
    now: datetime | None = None,
) -> int:
    name = (name or "").strip()
    if not name or len(name) > 200:
        raise BudgetError("name", "must be 1 to 200 characters")
    if period not in PERIODS:
        raise BudgetError("period", f"must be one of {', '.join(PERIODS)}")
    if not isinstance(limit_usd, int | float) or not limit_usd >= MIN_LIMIT_USD:
        raise BudgetError("limit_usd", f"must be at least {MIN_LIMIT_USD} (a cent)")
    if scope_kind not in SCOPES:
        raise BudgetError("scope_kind", f"must be one of {', '.join(SCOPES)}")
    value = (scope_value or "").strip() or None
    if scope_kind != "all" and not value:
        raise BudgetError("scope_value", f"name the {scope_kind.replace('_', ' ')} this budget is for")
    row = session.execute(
        insert(Budget)
        .values(
            name=name,
            period=period,
            limit_usd=float(limit_usd),
            scope_kind=scope_kind,
            scope_value=value if scope_kind != "all" else None,
            created_at=now or utcnow(),
        )
        .returning(Budget.id)
    ).scalar_one()
    return int(row)


def delete_budget(session: Session, budget_id: int) -> bool:
    return bool(session.execute(delete(Budget).where(Budget.id == budget_id)).rowcount)  # type: ignore[attr-defined]


def spent(session: Session, budget: Budget, start: datetime, end: datetime) -> float:
    if budget.scope_kind == "all":  # through the usage rollup: a month of calls is millions of rows
        return costs.spend(session, Scope(start=start, end=end, range_key="custom"))
    i, t = Invocation.__table__.c, Task.__table__.c
    query = select(func.coalesce(func.sum(i.cost_usd), 0.0)).where(i.started_at >= start, i.started_at < end)
    if budget.scope_kind == "created_by":
        query = query.join(Task.__table__, t.id == i.task_id).where(t.created_by == budget.scope_value)
    elif budget.scope_kind == "tag":
        tags = TaskTag.__table__.c
        query = query.where(exists().where(tags.task_id == i.task_id, tags.tag == budget.scope_value))
    return float(session.scalar(query) or 0.0)


def statuses(session: Session, now: datetime) -> list[BudgetStatus]:
    """Every budget with its spend this period and where the current burn rate would end the period."""
    out = []
    for b in session.scalars(select(Budget).order_by(Budget.period, Budget.name)):
        start, end = period_bounds(b.period, now)
        so_far = spent(session, b, start, now)
        elapsed = max((now - start).total_seconds(), 60.0)  # a minute in, a projection is still meaningful
        projected = so_far * (end - start).total_seconds() / elapsed
        out.append(
            BudgetStatus(
                b.id,
                b.name,
                b.period,
                b.limit_usd,
                b.scope_kind,
                b.scope_value,
                start,
                end,
                so_far,
                projected,
            )
        )
    return out
