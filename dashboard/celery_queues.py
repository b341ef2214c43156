"""Dashboard layer: the Agents page's "Celery broker" card — messages waiting in each queue of the Celery
broker as the Celery source last measured them (db/read/broker_queues.py, every 10 s), re-read on the page's slow
tick. Shown only when something was measured. `queue_table` is pure; `body` is what the callback runs."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, html

from dashboard.components.fmt import when
from dashboard.services import Services
from db.read import broker_queues

CARD = "celery-queues-card"
BODY = "celery-queues-body"
HIDDEN = {"display": "none"}
# Badge colours by waiting messages (the broker_queue_depth alert rule has its own threshold).
WARN_AT, DANGER_AT = 100, 1000


def card() -> dbc.Card:
    return dbc.Card(
        [dbc.CardHeader("Celery broker: queue lengths"), dbc.CardBody(id=BODY, children="…")],
        id=CARD,
        className="mb-3",
        style=HIDDEN,  # shown by the callback once the Celery source has measured something
    )


def queue_table(rows: list[dict[str, Any]]) -> Any:
    body = []
    for r in rows:
        n = r["messages"]
        color = (
            "secondary"
            if n is None
            else "danger"
            if n >= DANGER_AT
            else "warning"
            if n >= WARN_AT
            else "success"
        )
        label = "unknown" if n is None else f"{n:,}"
        body.append(
            html.Tr(
                [
                    html.Td(r["name"]),
                    html.Td(r["broker"], className="small text-muted"),
                    html.Td(dbc.Badge(label, color=color), className="text-end"),
                    html.Td(when(r["measured_at"]), className="small text-end"),
                ]
            )
        )
    head = html.Thead(
        html.Tr(
            [
                html.Th("queue"),
                html.Th("broker"),
                html.Th("waiting", className="text-end"),
                html.Th("measured"),
            ]
        )
    )
    return dbc.Table([head, html.Tbody(body)], size="sm", className="mb-0")


def body(svc: Services) -> tuple[Any, dict[str, str]]:
    with svc.db.reading() as session:
        rows = broker_queues.latest(session)
    if not rows:
        return dash.no_update, HIDDEN
    return queue_table(rows), {}


def register(app: dash.Dash, svc: Services, tick: str) -> None:
    @app.callback(Output(BODY, "children"), Output(CARD, "style"), Input(tick, "n_intervals"))
    def _body(_tick: Any) -> Any:
        return body(svc)
