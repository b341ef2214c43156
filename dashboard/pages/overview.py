"""Dashboard layer: the overview page — KPI cards, throughput / status mix, worker health; pushed live."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, html

from dashboard import figures_svg, ids, snapshot
from dashboard.components.budgets import budget_card
from dashboard.components.cards import header_with
from dashboard.components.download import download_link, export_url
from dashboard.components.overview import kpi_cards, workers_summary
from dashboard.components.static import Static
from dashboard.components.svg import Svg
from dashboard.kept import Kept
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
    chart: Any = None
    if _services:
        cards, workers = (Static(part) for part in recent_cards(_services[0]))
        # The snapshot draws the chart's frame only: its read (~40 ms at 100,000 tasks) would hold the HTML
        # back, while the layout request reads it as the browser compiles the scripts.
        chart = None if snapshot.is_drawing() else Svg(recent_chart(_services[0]))
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
                                # SVG drawn by the server (dashboard/figures_svg.py): no plotly.js on
                                # this page. Its frame is the chart's height, so nothing moves when drawn.
                                dbc.CardBody(html.Div(chart, id=ids.THROUGHPUT, className="tl-chart-frame")),
                            ]
                        ),
                        xl=6,
                        className="mb-3",
                    ),
                    # Half the row each: the workers' ids, hosts and times stay on one line (a table of
                    # values) and fit a desktop's half (the chart's text stays above 10 px there).
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
                        xl=6,
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
# moment later, within CARDS_KEPT_S (the cards' "today", "last hour" and "seen ago" move with time); the
# chart's hourly buckets for up to a minute. Both only while nothing has happened (the change feed's seq).
CARDS_KEPT_S = 2.0
CHART_KEPT_S = 60.0
_kept_cards: Kept[tuple[Any, Any]] = Kept(CARDS_KEPT_S)
_kept_chart: Kept[str] = Kept(CHART_KEPT_S)


def recent_cards(svc: Services) -> tuple[Any, Any]:
    return _kept_cards.get(svc, lambda: refresh_cards(svc))


def recent_chart(svc: Services) -> str:
    return _kept_chart.get(svc, lambda: refresh_chart(svc))


def refresh_chart(svc: Services) -> str:
    """The last 24 h's throughput as SVG markup (both themes: its colours follow CSS)."""
    now = utcnow()
    with svc.db.reading() as session:
        finished = overview.finished_series(session, now)
        created = overview.started_series(session, now)
    window = (now - timedelta(hours=24), now + timedelta(minutes=30))
    # A phone's drawing and a desktop's; `now` marks the hour in progress.
    return figures_svg.throughput_pair(finished, created, window, now=now)


def register(app: dash.Dash, svc: Services) -> None:
    _services[:] = [svc]

    # Not on load (the layout has drawn both): on a push.
    @app.callback(
        Output(ids.KPIS, "children"),
        Output(ids.WORKERS, "children"),
        Input(ids.SIGNAL, "data"),
        prevent_initial_call=True,
    )
    def _cards(_signal: Any) -> tuple[Any, Any]:
        cards, workers = refresh_cards(svc)
        return Static(cards), Static(workers)  # read-only: no Dash wrapper per node

    # On a push only: the SVG's colours follow the theme through CSS, so a theme switch redraws nothing.
    @app.callback(Output(ids.THROUGHPUT, "children"), Input(ids.SIGNAL, "data"), prevent_initial_call=True)
    def _chart_push(_signal: Any) -> Any:
        return Svg(recent_chart(svc))
