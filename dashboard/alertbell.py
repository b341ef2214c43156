"""Dashboard layer: the shell's alert parts — the bell in the navbar (firing alerts, on every page) and toasts
for alerts that fire at critical or high severity — redrawn when a push says an alert event came, so a busy
feed of task events costs the bell nothing; the toasts are read from the event log (none lost to a dropped
callback)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import dash
from dash import Input, Output, State, dcc, html

from dashboard import ids
from dashboard.components.alerts import BELL, alert_toasts, bell, fired, still_up
from dashboard.services import Services
from db.alerts.queries import alert_events, firing_counts

ALERT_TOASTS = "alert-toasts"
ALERT_CURSOR = "alert-toasts-cursor"  # {"seq": read past, "up": the toasts still up}
PATH = "/alerts"  # dashboard/pages/alerts.py (LINKED_FROM = navigation.SHELL: this bell)


@dataclass(frozen=True)
class Start:
    """What the bell shows when a page is served, and the seq its toasts start after."""

    counts: dict[str, int]
    seq: int


def start(svc: Services) -> Start:
    with svc.db.reading() as session:
        return Start(firing_counts(session), svc.read_past(session))


def layout(first: Start | None = None) -> dcc.Link:
    # Plain link to the page, drawn with the count when the page is served: no callback round trip on load.
    return dcc.Link(
        bell(first.counts if first else {}),
        id=BELL,
        href="/alerts",
        className="btn btn-sm btn-outline-light me-2 alert-bell text-nowrap flex-shrink-0",
    )


def toast_stack(first: Start | None = None) -> html.Div:
    # Bottom left: apart from the task-finished toasts (bottom right), which come in bursts, and clear of the
    # pages' own controls along the top. Alerts that fire after the page was served are toasted.
    cursor = {"seq": first.seq, "up": []} if first else None
    return html.Div(
        [dcc.Store(id=ALERT_CURSOR, data=cursor), html.Div(id=ALERT_TOASTS)],
        style={"position": "fixed", "bottom": "1rem", "left": "1rem", "zIndex": 1080, "width": "22rem"},
    )


def wants_recount(signal: dict[str, Any] | None) -> bool:
    """First draw, a poll while the socket is down, a resumed socket, or an alert event."""
    if not signal:
        return True
    return bool(signal.get("alerts")) or signal.get("reason") == "poll" or bool(signal.get("refresh"))


def bell_and_toasts(
    svc: Services, signal: dict[str, Any] | None, cursor: dict[str, Any] | None, shown: Any, now_ms: int
) -> tuple[Any, Any, Any]:
    """The bell's count and the alert toasts, and the cursor past which alert events are still to be read.

    A push only wakes this up: the toasts come from the event log, every alert event after the cursor up to
    the push's seq (as the task page's activity panel does). A push's own alerts would not do: Dash drops the
    result of a call still running when a newer push fires it again, and the newer push carries only its own
    events. live.js adds to every push the seq of the newest alert event it has passed on (`alert_seq`), so a
    push without alerts after a dropped one still reads them, and a busy feed of task events costs nothing."""
    if not cursor:  # the page's first draw: alerts that fire from now on are toasted
        with svc.db.reading() as session:
            counts = firing_counts(session)
            seq = svc.read_past(session)
        return bell(counts), dash.no_update, {"seq": seq, "up": []}
    upto = int((signal or {}).get("seq") or 0)
    unread = int((signal or {}).get("alert_seq") or 0) > cursor["seq"] and upto > cursor["seq"]
    if not unread and not wants_recount(signal):
        raise dash.exceptions.PreventUpdate
    with svc.db.reading() as session:
        counts = firing_counts(session)
        found = alert_events(session, cursor["seq"], upto) if unread else []
    if not unread:
        return bell(counts), dash.no_update, dash.no_update
    new = [{**_toasted(e.payload), "at": now_ms} for e in found]
    up = still_up(cursor.get("up") or [], shown, now_ms) + fired(new)
    return bell(counts), alert_toasts(up, now_ms), {"seq": upto, "up": up}


def _toasted(payload: dict[str, Any]) -> dict[str, Any]:
    return {k: payload.get(k) for k in ("alert_id", "change", "severity", "summary")}


def register(app: dash.Dash, svc: Services) -> None:
    @app.callback(
        Output(BELL, "children"),
        Output(ALERT_TOASTS, "children"),
        Output(ALERT_CURSOR, "data"),
        Input(ids.SIGNAL, "data"),
        State(ALERT_CURSOR, "data"),
        State(ALERT_TOASTS, "children"),
        prevent_initial_call=True,  # the page is served with the bell drawn (`start`)
    )
    def _bell(signal: dict[str, Any] | None, cursor: dict[str, Any] | None, shown: Any) -> tuple[Any, ...]:
        return bell_and_toasts(svc, signal, cursor, shown, int(time.time() * 1000))
