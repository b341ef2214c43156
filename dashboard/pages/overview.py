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
from dashboard.navigation import NavEntry
from dashboard.services import Services
from db.analytics import budgets
from db.core.timeutil import utcnow
from db.read import overview

PATH = "/"
TITLE = "Overview"
NAV = NavEntry("Overview", 0)
SNAPSHOT = True  # drawn into the page's HTML as well (dashboard/snapshot.py): the cards show at HTML time

# The page's services, set by register(): the layout is drawn with its data, so opening the page costs no
# callback round trip (the callbacks below only redraw on a push).
_services: list[Services] = []


def layout(**_: Any) -> html.Div:
    cards: Any = None
    workers: Any = None
    chart: Any = {}
    if _services:
        cards, workers = (Static(part) for part in refresh_cards(_services[0]))
        chart = refresh_chart(_services[0], None)  # light: a browser that remembers dark redraws it
    return html.Div(
        [
            html.H3("Overview", className="mb-3"),
            html.Div(cards, id=ids.KPIS),
            dbc.Row(
                [
                    dbc.Col(
                        dbc.Card(
                            [
                                dbc.CardHeader("Tasks ended per hour · last 24 h (UTC)"),
                                dbc.CardBody(
                                    dcc.Graph(id=ids.THROUGHPUT, figure=chart, config={"displaylogo": False})
                                ),
                            ]
                        ),
                        xl=7,
                        className="mb-3",
                    ),
                    dbc.Col(
                        dbc.Card(
                            [
                                header_with(
                                    "Workers",
                                    download_link(ids.EXPORT_WORKERS, export_url("overview-workers")),
                                ),
                                dbc.CardBody(html.Div(workers, id=ids.WORKERS)),
                            ]
                        ),
                        xl=5,
                        className="mb-3",
                    ),
                ],
                className="mt-1",
            ),
        ]
    )


def refresh_cards(svc: Services) -> tuple[Any, Any]:
    """The KPI cards and the workers: their own callback, so they never wait for plotly.js (a callback with a
    graph among its outputs is held until the graph's bundle has loaded and run)."""
    now = utcnow()
    with svc.db.reading() as session:
        k = overview.kpis(session, now, timedelta(seconds=svc.settings.stuck_after_seconds))
        forget = timedelta(hours=svc.settings.worker_offline_hide_hours)
        workers = overview.live_workers(session, now, forget)
        money_limits = budgets.statuses(session, now)
    return kpi_cards(k, (budget_card(money_limits),)), workers_summary(workers, now)


def refresh_chart(svc: Services, theme: str | None) -> Any:
    now = utcnow()
    with svc.db.reading() as session:
        finished = overview.finished_series(session, now)
        created = overview.started_series(session, now)
    window = (now - timedelta(hours=24), now + timedelta(minutes=30))
    return figures.throughput(finished, created, window, theme)


def register(app: dash.Dash, svc: Services) -> None:
    _services[:] = [svc]

    # Not on load (the layout has drawn both): on a push, or a theme the browser remembers or is switched to.
    @app.callback(
        Output(ids.KPIS, "children"),
        Output(ids.WORKERS, "children"),
        Input(ids.SIGNAL, "data"),
        prevent_initial_call=True,
    )
    def _cards(_signal: Any) -> tuple[Any, Any]:
        cards, workers = refresh_cards(svc)
        return Static(cards), Static(workers)  # read-only: no Dash wrapper per node

    @app.callback(
        Output(ids.THROUGHPUT, "figure"),
        Input(ids.SIGNAL, "data"),
        Input(ids.THEME, "data"),
        prevent_initial_call=True,
    )
    def _chart(_signal: Any, theme: str | None) -> Any:
        return refresh_chart(svc, theme)
