"""Dashboard layer: the Agents page's "Celery broker" card — messages waiting in each queue of the Celery
broker (dashboard/celerycontrol.queue_depths), re-read on the page's slow tick: the broker pushes nothing.
Shown only with TASKLENS_CELERY_BROKER set. `queue_table` is pure; `depths` is what the callback runs."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, html
from sqlalchemy import select

from dashboard import celerycontrol
from dashboard.services import Services
from db.models import TaskTag

CARD = "celery-queues-card"
BODY = "celery-queues-body"
HIDDEN = {"display": "none"}
# Flower's broker page shows a queue as busy from the first waiting message; colour from these counts.
WARN_AT, DANGER_AT = 100, 1000


def card() -> dbc.Card:
    return dbc.Card(
        [dbc.CardHeader("Celery broker: queue lengths"), dbc.CardBody(id=BODY, children="…")],
        id=CARD,
        className="mb-3",
        style=HIDDEN,  # shown by the callback when a broker is configured
    )


def queue_table(depths: list[celerycontrol.QueueDepth]) -> Any:
    if not depths:
        return html.Div("No queues yet.", className="text-muted small")
    rows = []
    for d in depths:
        n = d.messages
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
        rows.append(html.Tr([html.Td(d.name), html.Td(dbc.Badge(label, color=color), className="text-end")]))
    head = html.Thead(html.Tr([html.Th("queue"), html.Th("messages waiting", className="text-end")]))
    return dbc.Table([head, html.Tbody(rows)], size="sm", className="mb-0")


def depths(svc: Services) -> Any:
    broker = svc.settings.celery_broker
    if not broker:
        return html.Div(
            "No Celery broker configured (TASKLENS_CELERY_BROKER): see Monitoring Celery in the README.",
            className="text-muted small",
        )
    with svc.db.reading() as session:
        tags = session.scalars(select(TaskTag.tag).where(TaskTag.tag.like("queue:%")).distinct().limit(100))
        names = sorted({"celery", *(t.removeprefix("queue:") for t in tags)})
    try:
        return queue_table(celerycontrol.queue_depths(broker, names))
    except (OSError, ConnectionError) as exc:
        return html.Div(f"The broker cannot be reached: {exc}", className="text-danger small", role="status")


def register(app: dash.Dash, svc: Services, tick: str) -> None:
    @app.callback(Output(BODY, "children"), Output(CARD, "style"), Input(tick, "n_intervals"))
    def _depths(_tick: Any) -> Any:
        if not svc.settings.celery_broker:
            return dash.no_update, HIDDEN
        return depths(svc), {}
