"""Dashboard layer: the costs page — what was spent, on which model, role, kind, tag or person, over time, and
the most expensive tasks and calls. Scoped by the shared range/filter bar kept in the URL."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, dcc, html

from dashboard import figures, ids
from dashboard.clientside import js
from dashboard.components.cards import header_with
from dashboard.components.download import download_link, export_url
from dashboard.components.fmt import compact, count, money, plural, signed_percent, tokens
from dashboard.components.overview import kpi_card
from dashboard.components.static import Static
from dashboard.navigation import NavEntry
from dashboard.scopebar import scope_section
from dashboard.services import Services
from db.analytics import costs
from db.core.timeutil import utcnow
from db.read.scope import parse_scope

PATH = "/costs"
TITLE = "Costs"
NAV = NavEntry("Costs", 2)
PER = {"auto": None, "day": "day", "week": "week", "month": "month"}


def layout(**query: Any) -> html.Div:
    return html.Div(
        [
            html.H3("Costs", className="mb-3"),
            scope_section(query),
            html.Div(id=ids.COST_KPIS),
            dbc.Card(
                [
                    header_with(
                        "Cost over time, by model",
                        dbc.RadioItems(
                            id=ids.COST_PER,
                            value="auto",
                            inline=True,
                            className="small",
                            options=[{"label": k, "value": k} for k in PER],
                        ),
                    ),
                    dbc.CardBody([dcc.Graph(id=ids.COST_OVER_TIME), dcc.Graph(id=ids.COST_TOKENS)]),
                ],
                className="mb-3",
            ),
            dbc.Card(
                [
                    header_with(
                        "Breakdown",
                        html.Div(
                            [
                                dbc.RadioItems(
                                    id=ids.COST_BREAKDOWN_DIM,
                                    value="model",
                                    inline=True,
                                    className="small",
                                    options=[{"label": d, "value": d} for d in costs.BREAKDOWNS],
                                ),
                                download_link(ids.EXPORT_COST_BREAKDOWN, export_url("costs-breakdown")),
                            ],
                            className="d-flex align-items-center gap-2",
                        ),
                    ),
                    dbc.CardBody(dcc.Graph(id=ids.COST_BREAKDOWN)),
                ],
                className="mb-3",
            ),
            dbc.Row(
                [
                    dbc.Col(
                        dbc.Card(
                            [
                                header_with(
                                    "Most expensive tasks",
                                    download_link(ids.EXPORT_COST_TOP_TASKS, export_url("costs-top-tasks")),
                                ),
                                dbc.CardBody(id=ids.COST_TOP_TASKS),
                            ]
                        ),
                        lg=6,
                        className="mb-3",
                    ),
                    dbc.Col(
                        dbc.Card(
                            [
                                header_with(
                                    "Most expensive calls",
                                    download_link(ids.EXPORT_COST_TOP_CALLS, export_url("costs-top-calls")),
                                ),
                                dbc.CardBody(id=ids.COST_TOP_CALLS),
                            ]
                        ),
                        lg=6,
                        className="mb-3",
                    ),
                ]
            ),
        ]
    )


def _exact(n: int) -> str:
    return f"{tokens(n)} tokens"


def kpis(current: costs.CostTotals, previous: costs.CostTotals) -> dbc.Row:
    def change(now: float, before: float) -> str:
        if not before:
            return "no spend in the previous period" if now else ""
        return f"{signed_percent((now - before) / before)} vs previous period"

    per_success = money(current.per_success) if current.per_success is not None else "–"
    return dbc.Row(
        [
            kpi_card("Spend", money(current.cost), hint=change(current.cost, previous.cost), key="spend"),
            # Compacted: a billion-token month is "1.23B", which fits a card at every width; exact on hover.
            kpi_card(
                "Input tokens", compact(current.input_tokens), key="in", title=_exact(current.input_tokens)
            ),
            kpi_card(
                "Output tokens",
                compact(current.output_tokens),
                key="out",
                title=_exact(current.output_tokens),
            ),
            kpi_card(
                "Cache-read tokens",
                compact(current.cache_read_tokens),
                key="cache",
                title=_exact(current.cache_read_tokens),
            ),
            kpi_card(
                "Cost per task", money(current.per_task), hint=plural(current.tasks, "task"), key="per-task"
            ),
            kpi_card(
                "Per successful task",
                per_success,
                hint=f"{current.completed_tasks:,} completed",
                key="per-success",
            ),
        ],
        className="g-3",
    )


def top_tasks_table(frame: pd.DataFrame) -> Any:
    if frame.empty:
        return html.Div("No spend in this range.", className="text-muted small")
    rows = [
        html.Tr(
            [
                html.Td(dcc.Link(f"#{int(r.task_id)}", href=f"/tasks/{int(r.task_id)}")),
                html.Td(str(r.title), className="text-break"),
                html.Td(str(r.status)),
                html.Td(count(r.calls)),
                html.Td(money(float(r.cost))),
            ]
        )
        for r in frame.itertuples()
    ]
    head = html.Thead(html.Tr([html.Th(h) for h in ("Task", "Title", "Status", "Calls", "Cost")]))
    return dbc.Table([head, html.Tbody(rows)], size="sm", hover=True, responsive=True)


def top_calls_table(frame: pd.DataFrame) -> Any:
    if frame.empty:
        return html.Div("No spend in this range.", className="text-muted small")
    rows = [
        html.Tr(
            [
                html.Td(dcc.Link(f"#{int(r.task_id)}", href=f"/tasks/{int(r.task_id)}")),
                html.Td(str(r.role)),
                html.Td(str(r.model)),
                html.Td(f"{tokens(r.input)} / {tokens(r.output)}"),
                html.Td(money(float(r.cost))),
            ]
        )
        for r in frame.itertuples()
    ]
    head = html.Thead(html.Tr([html.Th(h) for h in ("Task", "Role", "Model", "Tokens in/out", "Cost")]))
    return dbc.Table([head, html.Tbody(rows)], size="sm", hover=True, responsive=True)


def refresh(svc: Services, query: str, per: str, dim: str, theme: str | None) -> tuple[Any, ...]:
    scope = parse_scope(query, utcnow())
    unit = PER.get(per) or scope.unit
    with svc.db.reading() as session:
        current = costs.totals(session, scope)
        previous = costs.totals(session, scope.previous())
        series = costs.over_time(session, scope, unit)
        by_dim = costs.breakdown(session, scope, dim if dim in costs.BREAKDOWNS else "model")
        tasks = costs.top_tasks(session, scope)
        calls = costs.top_invocations(session, scope)
    return (
        kpis(current, previous),
        figures.cost_over_time(series, (scope.start, scope.end), unit, theme),
        figures.tokens_over_time(series, (scope.start, scope.end), theme),
        figures.breakdown_bars(by_dim, dim, theme),
        top_tasks_table(tasks),
        top_calls_table(calls),
    )


def tokens_style(tokens: go.Figure) -> dict[str, str]:
    """The tokens chart hidden when it is the empty state: the cost chart above it already says "no data", and
    two identical placeholders stacked in one card read as a glitch."""
    return {"display": "none"} if figures.is_empty(tokens) else {}


def register(app: dash.Dash, svc: Services) -> None:
    @app.callback(
        Output(ids.COST_KPIS, "children"),
        Output(ids.COST_OVER_TIME, "figure"),
        Output(ids.COST_TOKENS, "figure"),
        Output(ids.COST_TOKENS, "style"),
        Output(ids.COST_BREAKDOWN, "figure"),
        Output(ids.COST_TOP_TASKS, "children"),
        Output(ids.COST_TOP_CALLS, "children"),
        Input(ids.PAGE_SCOPE, "data"),
        Input(ids.COST_PER, "value"),
        Input(ids.COST_BREAKDOWN_DIM, "value"),
        Input(ids.SIGNAL, "data"),
        Input(ids.THEME, "data"),
    )
    def _refresh(query: str, per: str, dim: str, _signal: Any, theme: str | None) -> Any:
        cards, over_time, tokens, breakdown, top_tasks, top_calls = refresh(svc, query, per, dim, theme)
        # The cards and tables are read-only: drawn without a Dash wrapper per node.
        return (
            Static(cards),
            over_time,
            tokens,
            tokens_style(tokens),
            breakdown,
            Static(top_tasks),
            Static(top_calls),
        )

    # The download links carry the page's scope (its URL query) and the breakdown's dimension.
    app.clientside_callback(
        js(
            """
            function(query, dim) {
                const scope = (query || "").replace(/^[?]/, "");
                const join = (path, extra) => path + "?" + [scope, extra].filter(Boolean).join("&");
                const dimension = dim ? "dim=" + encodeURIComponent(dim) : "";
                return [join($breakdown, dimension), join($tasks, ""), join($calls, "")];
            }
            """,
            breakdown=export_url("costs-breakdown"),
            tasks=export_url("costs-top-tasks"),
            calls=export_url("costs-top-calls"),
        ),
        Output(ids.EXPORT_COST_BREAKDOWN, "href"),
        Output(ids.EXPORT_COST_TOP_TASKS, "href"),
        Output(ids.EXPORT_COST_TOP_CALLS, "href"),
        Input(ids.PAGE_SCOPE, "data"),
        Input(ids.COST_BREAKDOWN_DIM, "value"),
    )
