"""Dashboard layer: budget rows — spend against the limit with a projection to the period's end (pure)."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import html

from dashboard import ids
from dashboard.components.fmt import money, percent, plural, when
from dashboard.components.overview import kpi_card
from db.analytics.budgets import BudgetStatus


def budget_row(b: BudgetStatus) -> dbc.ListGroupItem:
    color = "danger" if b.over else "warning" if b.projected_over else "success"
    scope = "all tasks" if b.scope_kind == "all" else f"{b.scope_kind.replace('_', ' ')} {b.scope_value}"
    state = "over budget" if b.over else "on track to exceed" if b.projected_over else "on track"
    return dbc.ListGroupItem(
        [
            html.Div(
                [
                    html.Strong(b.name, className="me-2 text-break"),
                    html.Small(f"per {b.period} · {scope}", className="text-muted"),
                    dbc.Badge(state, color=color, className="ms-2"),
                    dbc.Button(
                        "delete",
                        id={"type": ids.BUDGET_DELETE, "id": b.id},
                        size="sm",
                        color="link",
                        className="ms-auto p-0",
                    ),
                ],
                className="d-flex align-items-center",
            ),
            dbc.Progress(
                value=min(100.0, b.used * 100), color=color, className="my-1", style={"height": "0.6rem"}
            ),
            html.Small(
                [
                    f"{money(b.spent)} of {money(b.limit_usd)} ({percent(b.used)}) this {b.period} · "
                    f"projected {money(b.projected)} by ",
                    when(b.period_end),
                ],
                className="text-muted",
            ),
        ],
        className=f"budget budget-{color}",
    )


def budget_list(statuses: list[BudgetStatus]) -> dbc.ListGroup | html.Div:
    if not statuses:
        return html.Div("No budgets yet. Add one below.", className="text-muted")
    return dbc.ListGroup([budget_row(b) for b in statuses])


def budget_card(statuses: list[BudgetStatus]) -> dbc.Col:
    """The overview's budget state: over budget shows red, a projection over the limit amber."""
    if not statuses:
        return kpi_card("Budgets", "none set", hint="add one on Budgets", key="budgets")
    over = sum(b.over for b in statuses)
    heading = sum(b.projected_over and not b.over for b in statuses)
    value = f"{over} over" if over else "on budget"
    total = plural(len(statuses), "budget")
    hint = f"{heading} projected over · {total}" if heading else total
    color = "danger" if over else "warning" if heading else None
    return kpi_card("Budgets", value, hint=hint, color=color, key="budgets")
