"""Dashboard layer: builds the Dash app. For now a plain shell showing the task counts; the live dashboard
(websocket bridge, pages) arrives with its own issue."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, dcc, html

from db.engine import Database
from db.queries import status_counts
from db.settings import Settings

COUNTS = "status-counts"
REFRESH = "refresh"


def create_app(settings: Settings, db: Database) -> dash.Dash:
    app = dash.Dash(
        __name__,
        title="TaskLens",
        external_stylesheets=[dbc.themes.BOOTSTRAP],
        suppress_callback_exceptions=True,
    )
    app.layout = dbc.Container(
        [
            html.H1("TaskLens"),
            html.P("Tasks by status", className="text-muted"),
            html.Div(id=COUNTS),
            # Temporary: the websocket push replaces this interval with the live-dashboard issue.
            dcc.Interval(id=REFRESH, interval=5000),
        ],
        className="py-4",
    )

    @app.callback(Output(COUNTS, "children"), Input(REFRESH, "n_intervals"))
    def _counts(_n: int | None) -> object:
        with db.reading() as session:
            counts = status_counts(session)
        return counts_table(counts)

    app.server.add_url_rule("/healthz", "healthz", lambda: {"status": "ok"})

    return app


def counts_table(counts: dict[str, int]) -> dbc.Table:
    rows = [html.Tr([html.Td(status), html.Td(str(n))]) for status, n in sorted(counts.items())]
    if not rows:
        rows = [html.Tr([html.Td("no tasks yet", colSpan=2)])]
    return dbc.Table([html.Tbody(rows)], bordered=True, size="sm", style={"maxWidth": "24rem"})
