"""Dashboard layer: the shell's alert parts — the bell in the navbar (firing alerts, on every page) and toasts
for alerts that fire at critical or high severity — redrawn from pushed `alert` events only, so a busy feed
of task events costs the bell nothing."""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, dcc, html

from dashboard import ids
from dashboard.components.alerts import BELL, alert_toasts, bell, fired
from dashboard.services import Services
from db.alerts.queries import firing_counts

ALERT_TOASTS = "alert-toasts"
PATH = "/alerts"  # dashboard/pages/alerts.py (LINKED_FROM = navigation.SHELL: this bell)


def layout() -> dcc.Link:
    # Plain link to the page; children filled in by the callback (the count is unknown until it runs).
    return dcc.Link(
        bell({}),
        id=BELL,
        href="/alerts",
        className="btn btn-sm btn-outline-light me-2 alert-bell text-nowrap flex-shrink-0",
    )


def toast_stack() -> html.Div:
    # Bottom left: apart from the task-finished toasts (bottom right), which come in bursts, and clear of the
    # pages' own controls along the top.
    return html.Div(
        id=ALERT_TOASTS,
        style={"position": "fixed", "bottom": "1rem", "left": "1rem", "zIndex": 1080, "width": "22rem"},
    )


def wants_recount(signal: dict[str, Any] | None) -> bool:
    """First draw, a poll while the socket is down, a resumed socket, or an alert event."""
    if not signal:
        return True
    return bool(signal.get("alerts")) or signal.get("reason") == "poll" or bool(signal.get("refresh"))


def bell_and_toasts(svc: Services, signal: dict[str, Any] | None) -> tuple[Any, Any]:
    if not wants_recount(signal):
        raise dash.exceptions.PreventUpdate
    with svc.db.reading() as session:
        counts = firing_counts(session)
    new = fired(signal)
    return bell(counts), alert_toasts(new) if new else dash.no_update


def register(app: dash.Dash, svc: Services) -> None:
    @app.callback(Output(BELL, "children"), Output(ALERT_TOASTS, "children"), Input(ids.SIGNAL, "data"))
    def _bell(signal: dict[str, Any] | None) -> tuple[Any, Any]:
        return bell_and_toasts(svc, signal)
