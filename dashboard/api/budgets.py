"""API layer: /budgets — every budget with its spend this period and projection (viewers), adding one and
deleting one (admins, as on the Budgets page). The budget rules of the alerts watch the same figures."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Response
from flask.typing import ResponseReturnValue

from dashboard.api.budget_schemas import BudgetCreate, BudgetList, BudgetOut
from dashboard.api.context import ctx, respond
from dashboard.api.errors import ApiError, not_found
from dashboard.api.registry import Role, endpoint
from db.analytics import budgets
from db.core.timeutil import utcnow


def _out(b: budgets.BudgetStatus) -> dict[str, Any]:
    return {**asdict(b), "used": b.used, "over": b.over, "projected_over": b.projected_over}


def _all() -> list[budgets.BudgetStatus]:
    with ctx().svc.db.reading() as session:
        return budgets.statuses(session, utcnow())


@endpoint(
    "GET",
    "/budgets",
    Role.VIEWER,
    summary="Budgets with their spend this period and the projection to its end",
    responses={200: ("budgets", BudgetList)},
)
def list_budgets() -> ResponseReturnValue:
    return respond(BudgetList, {"items": [_out(b) for b in _all()]})


@endpoint(
    "POST",
    "/budgets",
    Role.ADMIN,
    summary="Add a budget (per day, week or month; overall, a tag's or a creator's)",
    responses={201: ("the budget with its figures", BudgetOut)},
    errors=(400, 413, 415, 422),
    body=BudgetCreate,
)
def create_budget(body: BudgetCreate) -> ResponseReturnValue:
    try:
        with ctx().svc.db.writing() as session:
            budget_id = budgets.add_budget(
                session, body.name, body.period, body.limit_usd, body.scope_kind, body.scope_value, utcnow()
            )
    except budgets.BudgetError as exc:
        raise ApiError(422, "validation_error", str(exc), field=exc.field) from None
    created = next(b for b in _all() if b.id == budget_id)
    return respond(BudgetOut, _out(created), 201, {"Location": f"/api/v1/budgets/{budget_id}"})


@endpoint(
    "DELETE",
    "/budgets/<task_id:budget_id>",
    Role.ADMIN,
    summary="Delete a budget",
    responses={204: ("deleted", None)},
    errors=(400, 404),
)
def delete_budget(budget_id: int) -> ResponseReturnValue:
    with ctx().svc.db.writing() as session:
        found = budgets.delete_budget(session, budget_id)
    if not found:
        raise not_found(f"budget {budget_id}", budget_id=budget_id)
    return Response(status=204)
