"""Dashboard layer: the overview page — KPI cards, throughput / status mix, worker health; pushed live."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, dcc, html

from dashboard import figures, ids, snapshot
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
        cards, workers = (Static(part) for part in recent_cards(_services[0]))
        # Light: a browser that remembers dark redraws it. The snapshot draws the chart's box only.
        chart = figures.box() if snapshot.is_drawing() else refresh_chart(_services[0], None)
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


# The cards drawn for the page's HTML (dashboard/snapshot.py), kept for the layout request that follows it a
# moment later: (monotonic time, the change feed's seq, the cards). Reused only at the same seq (nothing has
# happened since) and within CARDS_KEPT_S (the cards' "today", "last hour" and "seen ago" move with time).
CARDS_KEPT_S = 2.0
_recent: list[tuple[float, int, tuple[Any, Any]]] = []


def recent_cards(svc: Services) -> tuple[Any, Any]:
    seq = svc.feed.cursor if svc.feed.started else None
    if seq is None:
        return refresh_cards(svc)  # no feed to tell whether anything happened
    if _recent:
        at, kept_seq, kept = _recent[0]
        if kept_seq == seq and time.monotonic() - at < CARDS_KEPT_S:
            return kept
    cards = refresh_cards(svc)
    _recent[:] = [(time.monotonic(), seq, cards)]
    return cards


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
