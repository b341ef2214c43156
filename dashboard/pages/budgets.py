"""Dashboard layer: the budgets page — limits per day / week / month, overall or per tag or creator, with
progress and a projection to the period's end; budgets are added and deleted here."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, dcc, html

from dashboard import access, ids
from dashboard.components.budgets import budget_list
from dashboard.components.download import download_link, export_url
from dashboard.navigation import NavEntry
from dashboard.services import Services
from db.analytics import budgets
from db.core.timeutil import utcnow

PATH = "/budgets"
TITLE = "Budgets"
NAV = NavEntry("Budgets", 3)


def layout(**_: Any) -> html.Div:
    return html.Div(
        [
            html.Div(
                [
                    html.H3("Budgets", className="mb-0"),
                    download_link(ids.EXPORT_BUDGETS, export_url("budgets")),
                ],
                className="d-flex justify-content-between align-items-center mb-3",
            ),
            dcc.Store(id=ids.BUDGET_VERSION, data=0),
            # The list and the form keep a reading width; the title row spans the page, so Download CSV sits at
            # its right edge as on every other page (inside the 72rem it stood mid-page at 1440 px).
            html.Div(
                [
                    html.Div(id=ids.BUDGET_LIST, className="mb-4"),
                    html.H5("Add a budget"),
                    dbc.Row(
                        [
                            dbc.Col(
                                dbc.Input(id=ids.BUDGET_NAME, placeholder="name, e.g. research monthly"), md=3
                            ),
                            dbc.Col(
                                [
                                    html.Label(
                                        "period", htmlFor=ids.BUDGET_PERIOD, className="visually-hidden"
                                    ),
                                    dbc.Select(
                                        id=ids.BUDGET_PERIOD,
                                        value="month",
                                        options=[{"label": f"per {p}", "value": p} for p in budgets.PERIODS],
                                    ),
                                ],
                                md=2,
                            ),
                            dbc.Col(
                                dbc.InputGroup(
                                    [
                                        dbc.InputGroupText("$"),
                                        dbc.Input(
                                            id=ids.BUDGET_LIMIT,
                                            type="number",
                                            min=0,
                                            step="any",
                                            placeholder="limit",
                                        ),
                                    ]
                                ),
                                md=2,
                            ),
                            dbc.Col(
                                [
                                    html.Label(
                                        "applies to",
                                        htmlFor=ids.BUDGET_SCOPE_KIND,
                                        className="visually-hidden",
                                    ),
                                    dbc.Select(
                                        id=ids.BUDGET_SCOPE_KIND,
                                        value="all",
                                        options=[
                                            {"label": "all tasks", "value": "all"},
                                            {"label": "one tag", "value": "tag"},
                                            {"label": "one creator", "value": "created_by"},
                                        ],
                                    ),
                                ],
                                md=2,
                            ),
                            dbc.Col(dbc.Input(id=ids.BUDGET_SCOPE_VALUE, placeholder="tag or creator"), md=2),
                            dbc.Col(dbc.Button("Add", id=ids.BUDGET_ADD, color="primary"), md=1),
                        ],
                        className="g-2",
                    ),
                    html.Div(id=ids.BUDGET_FEEDBACK, className="mt-2"),
                ],
                style={"maxWidth": "72rem"},
            ),
        ],
    )


def listing(svc: Services) -> Any:
    with svc.db.reading() as session:
        return budget_list(budgets.statuses(session, utcnow()))


def add(
    svc: Services, name: Any, period: Any, limit: Any, scope_kind: Any, scope_value: Any
) -> tuple[Any, bool]:
    """Returns (feedback, added)."""
    denied = access.dashboard_denied(svc, "admin")
    if denied:
        return dbc.Alert(denied, color="danger", className="py-2"), False
    try:
        amount = float(limit) if limit not in (None, "") else 0.0
        with svc.recorder.transaction() as session:
            budgets.add_budget(session, str(name or ""), str(period), amount, str(scope_kind), scope_value)
    except (TypeError, ValueError) as exc:
        text = (
            f"{exc.field}: {exc.message}"
            if isinstance(exc, budgets.BudgetError)
            else "limit must be a number"
        )
        return dbc.Alert(text, color="danger", className="py-2"), False
    access.audit(svc, access.dashboard_actor(svc), "budget.create", str(name).strip(), {"limit": amount})
    return dbc.Alert(
        f"Budget {str(name).strip()!s} added.", color="success", duration=4000, className="py-2"
    ), True


def remove(svc: Services, budget_id: int) -> tuple[Any, bool]:
    """Returns (feedback, removed): a refused or stale delete says why instead of doing nothing."""
    denied = access.dashboard_denied(svc, "admin")
    if denied:
        return dbc.Alert(denied, color="danger", className="py-2"), False
    with svc.recorder.transaction() as session:
        removed = budgets.delete_budget(session, budget_id)
    if not removed:
        return dbc.Alert("That budget was already deleted.", color="warning", className="py-2"), False
    access.audit(svc, access.dashboard_actor(svc), "budget.delete", f"budget:{budget_id}")
    return dbc.Alert("Budget deleted.", color="success", duration=4000, className="py-2"), True


def register(app: dash.Dash, svc: Services) -> None:
    @app.callback(
        Output(ids.BUDGET_LIST, "children"), Input(ids.SIGNAL, "data"), Input(ids.BUDGET_VERSION, "data")
    )
    def _list(_signal: Any, _version: int) -> Any:
        return listing(svc)

    @app.callback(
        Output(ids.BUDGET_FEEDBACK, "children"),
        Output(ids.BUDGET_VERSION, "data", allow_duplicate=True),
        Input(ids.BUDGET_ADD, "n_clicks"),
        State(ids.BUDGET_NAME, "value"),
        State(ids.BUDGET_PERIOD, "value"),
        State(ids.BUDGET_LIMIT, "value"),
        State(ids.BUDGET_SCOPE_KIND, "value"),
        State(ids.BUDGET_SCOPE_VALUE, "value"),
        State(ids.BUDGET_VERSION, "data"),
        prevent_initial_call=True,
    )
    def _add(_n: int | None, name: Any, period: Any, limit: Any, kind: Any, value: Any, version: int) -> Any:
        feedback, added = add(svc, name, period, limit, kind, value)
        return feedback, (version or 0) + 1 if added else dash.no_update

    @app.callback(
        Output(ids.BUDGET_FEEDBACK, "children", allow_duplicate=True),
        Output(ids.BUDGET_VERSION, "data", allow_duplicate=True),
        Input({"type": ids.BUDGET_DELETE, "id": ALL}, "n_clicks"),
        State(ids.BUDGET_VERSION, "data"),
        prevent_initial_call=True,
    )
    def _delete(clicks: list[int | None], version: int) -> Any:
        trigger = dash.ctx.triggered_id
        if not isinstance(trigger, dict) or not any(clicks):
            raise dash.exceptions.PreventUpdate  # the list was redrawn, nothing was clicked
        feedback, _removed = remove(svc, int(trigger["id"]))
        return feedback, (version or 0) + 1
