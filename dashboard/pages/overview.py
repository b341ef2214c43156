"""Dashboard layer: the overview page — KPI cards, throughput / status mix, worker health; pushed live."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, dcc, html

from dashboard import figures, ids
from dashboard.components.budgets import budget_card
from dashboard.components.cards import header_with
from dashboard.components.download import download_link, export_url
from dashboard.components.overview import kpi_cards, workers_summary
from dashboard.components.static import Static
from dashboard.services import Services
from db import budgets, overview
from db.timeutil import utcnow

PATH = "/"
TITLE = "Overview"


def layout(**_: Any) -> html.Div:
    return html.Div(
        [
            html.H3("Overview", className="mb-3"),
            html.Div(id=ids.KPIS),
            dbc.Row(
                [
                    dbc.Col(
                        dbc.Card(
                            [
                                dbc.CardHeader("Tasks ended per hour · last 24 h (UTC)"),
                                dbc.CardBody(dcc.Graph(id=ids.THROUGHPUT, config={"displaylogo": False})),
                            ]
                        ),
                        lg=8,
                        className="mb-3",
                    ),
                    dbc.Col(
                        dbc.Card(
                            [
                                header_with(
                                    "Workers",
                                    download_link(ids.EXPORT_WORKERS, export_url("overview-workers")),
                                ),
                                dbc.CardBody(html.Div(id=ids.WORKERS)),
                            ]
                        ),
                        lg=4,
                        className="mb-3",
                    ),
                ],
                className="mt-1",
            ),
        ]
    )


def refresh(svc: Services, theme: str | None) -> tuple[Any, Any, Any]:
    now = utcnow()
    with svc.db.reading() as session:
        k = overview.kpis(session, now, timedelta(seconds=svc.settings.stuck_after_seconds))
        finished = overview.finished_series(session, now)
        created = overview.started_series(session, now)
        forget = timedelta(hours=svc.settings.worker_offline_hide_hours)
        workers = overview.live_workers(session, now, forget)
        money_limits = budgets.statuses(session, now)
    window = (now - timedelta(hours=24), now + timedelta(minutes=30))
    return (
        kpi_cards(k, (budget_card(money_limits),)),
        figures.throughput(finished, created, window, theme),
        workers_summary(workers, now),
    )


def register(app: dash.Dash, svc: Services) -> None:
    @app.callback(
        Output(ids.KPIS, "children"),
        Output(ids.THROUGHPUT, "figure"),
        Output(ids.WORKERS, "children"),
        Input(ids.SIGNAL, "data"),
        Input(ids.THEME, "data"),
    )
    def _refresh(_signal: Any, theme: str | None) -> tuple[Any, Any, Any]:
        cards, figure, workers = refresh(svc, theme)
        return Static(cards), figure, Static(workers)  # read-only: no Dash wrapper per node
