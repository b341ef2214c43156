"""Dashboard layer: the Alerts page — firing, acknowledged, silenced, pending and history tabs, each a table
read by db/alerts/queries.view; acknowledging from the table (operators); the rules and silences in force.
Live: an `alert` event pushed over the websocket redraws the open tab."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, html

from dashboard import access, ids
from dashboard.alertbell import wants_recount
from dashboard.components.alerts import ACK_BUTTON, SILENCE_BUTTON, SILENCE_HOURS, alert_detail, alert_table
from dashboard.components.fmt import timestamp
from dashboard.components.hinted import hinted
from dashboard.navigation import SHELL
from dashboard.services import Services
from db.alerts.queries import get_alert, view
from db.alerts.rules import Rule, list_rules, update_rule
from db.alerts.silences import create_silence, list_silences
from db.alerts.store import AlertNotOpen, acknowledge
from db.core.timeutil import utcnow

PATH = "/alerts"
TITLE = "Alerts"
NAV = None  # not in the navbar: the shell's alert bell opens it (dashboard/alertbell.py)
LINKED_FROM = SHELL

TABS = "alerts-tabs"
TABLE = "alerts-tab-table"
NOTE = "alerts-ack-note"
MESSAGE = "alerts-message"
RULES = "alerts-rules"
DETAIL = "alerts-detail"
RULE_SWITCH = "alert-rule-switch"  # pattern-matching: {"type": RULE_SWITCH, "index": rule id}
TAB_LABELS = (
    ("firing", "Firing"),
    ("acknowledged", "Acknowledged"),
    ("silenced", "Silenced"),
    ("pending", "Pending"),
    ("history", "History"),
)


def layout(**_: Any) -> html.Div:
    return html.Div(
        [
            html.H3("Alerts", className="mb-3"),
            dbc.Tabs(
                [dbc.Tab(label=label, tab_id=key) for key, label in TAB_LABELS],
                id=TABS,
                active_tab="firing",
                className="mb-3",
            ),
            dbc.Row(
                dbc.Col(
                    [
                        # Short enough for a phone's width ("(optional" was cut); the whole hint is its label.
                        hinted(
                            dbc.Input(id=NOTE, placeholder="note (optional)", size="sm"),
                            "A note for an acknowledgement or silence (optional)",
                        ),
                    ],
                    md=5,
                ),
                className="mb-2",
            ),
            html.Div(id=MESSAGE),
            html.Div(id=DETAIL),
            html.Div(id=TABLE),
            html.H4("Rules and silences", className="mt-4"),
            html.Div(id=RULES),
        ]
    )


def tab_table(svc: Services, tab: str | None) -> Any:
    tab = tab if tab in dict(TAB_LABELS) else "firing"
    with svc.db.reading() as session:
        rows = view(session, utcnow(), tab)
    return alert_table(rows, tab, can_ack=access.dashboard_denied(svc, "operator") is None)


def _threshold(rule: Rule, stuck_after: float) -> str:
    if rule.threshold is None:
        return f"after {stuck_after:g} s (TASKLENS_STUCK_AFTER_SECONDS)" if rule.kind == "stuck_task" else ""
    return f"threshold {rule.threshold:g}"


def rules_panel(svc: Services) -> Any:
    """The rules (admins switch them on and off here; the API edits the rest) and the silences in force."""
    now = utcnow()
    with svc.db.reading() as session:
        rules = list_rules(session)
        silences = list_silences(session, now)
    admin = access.dashboard_denied(svc, "admin") is None
    items = [
        html.Li(
            [
                dbc.Switch(
                    id={"type": RULE_SWITCH, "index": r.id},
                    value=r.enabled,
                    disabled=not admin,
                    label=f"{r.name} — {r.kind}, {r.severity} {_threshold(r, svc.settings.stuck_after_seconds)}",
                    className="mb-0",
                )
            ],
            className="list-unstyled",
        )
        for r in rules
    ]
    quiet = [
        html.Li(
            f"#{s.id}: "
            + ", ".join(f"{m['name']}={m['value']}" for m in s.matchers)
            + f" until {timestamp(s.ends_at)}"
        )
        for s in silences
    ]
    return dbc.Row(
        [
            dbc.Col([html.H6("Rules"), html.Ul(items, className="small ps-0")], md=6),
            dbc.Col([html.H6("Silences"), html.Ul(quiet or [html.Li("none")], className="small")], md=6),
        ]
    )


def switch_rule(svc: Services, rule_id: int, on: bool) -> Any:
    denied = access.dashboard_denied(svc, "admin")
    if denied:
        return dbc.Alert(denied, color="warning", dismissable=True)
    with svc.recorder.transaction() as session:
        rule = update_rule(session, rule_id, {"enabled": bool(on)}, utcnow())
    if rule is None:
        return dbc.Alert(f"No rule {rule_id}.", color="warning", dismissable=True)
    who = access.dashboard_actor(svc)
    access.audit(svc, who, "alert.rule.update", f"rule:{rule_id}", {"enabled": rule.enabled})
    state = "on" if rule.enabled else "off (its open alerts resolve)"
    return dbc.Alert(
        f"Rule {rule.name!r} switched {state}.", color="success", dismissable=True, duration=4000
    )


def ack(svc: Services, alert_id: int, note: str | None) -> Any:
    denied = access.dashboard_denied(svc, "operator")
    if denied:
        return dbc.Alert(denied, color="warning", dismissable=True)
    who = access.dashboard_actor(svc)
    try:
        with svc.recorder.transaction() as session:
            acknowledge(session, alert_id, who, (note or "").strip()[:2000], utcnow())
    except AlertNotOpen as exc:
        return dbc.Alert(str(exc), color="warning", dismissable=True)
    access.audit(svc, who, "alert.ack", f"alert:{alert_id}", {"note": note or ""})
    return dbc.Alert(f"Alert {alert_id} acknowledged.", color="success", dismissable=True, duration=4000)


def silence(svc: Services, alert_id: int, note: str | None) -> Any:
    """Silences the alert's rule and target for SILENCE_HOURS (operators), like `alerts silence` does."""
    denied = access.dashboard_denied(svc, "operator")
    if denied:
        return dbc.Alert(denied, color="warning", dismissable=True)
    now = utcnow()
    with svc.db.reading() as session:
        alert = get_alert(session, alert_id, now)
    if alert is None:
        return dbc.Alert(f"No alert {alert_id}.", color="warning", dismissable=True)
    who = access.dashboard_actor(svc)
    matchers = [
        {"name": "rule_id", "value": str(alert["rule_id"])},
        {"name": "target", "value": alert["target"]},
    ]
    with svc.recorder.transaction() as session:
        made = create_silence(
            session,
            matchers,
            now,
            now + timedelta(hours=SILENCE_HOURS),
            created_by=who,
            comment=note or "",
            now=now,
        )
    access.audit(svc, who, "alert.silence", f"silence:{made.id}", {"matchers": matchers})
    return dbc.Alert(
        f"Silenced {alert['rule']} on {alert['target']} for {SILENCE_HOURS} h (silence #{made.id}).",
        color="success",
        dismissable=True,
        duration=4000,
    )


def detail(svc: Services, search: str | None) -> Any:
    """The alert that ?alert=ID names (the links in notifications and in the table), else nothing."""
    from urllib.parse import parse_qs

    raw = (parse_qs((search or "").lstrip("?")).get("alert") or [""])[0]
    if not raw.isdigit() or len(raw) > 18:
        return ""
    with svc.db.reading() as session:
        return alert_detail(get_alert(session, int(raw), utcnow()))


def register(app: dash.Dash, svc: Services) -> None:
    @app.callback(
        Output(DETAIL, "children"),
        Input(ids.URL, "search"),
        Input(ids.SIGNAL, "data"),
        Input(MESSAGE, "children"),
    )
    def _detail(search: str | None, signal: dict[str, Any] | None, _message: Any) -> Any:
        if ctx.triggered_id == ids.SIGNAL and not wants_recount(signal):
            raise dash.exceptions.PreventUpdate
        return detail(svc, search)

    # A silence writes no event (nothing about an alert changed): the message after an action redraws too.
    @app.callback(
        Output(TABLE, "children"),
        Input(TABS, "active_tab"),
        Input(ids.SIGNAL, "data"),
        Input(MESSAGE, "children"),
    )
    def _table(tab: str | None, signal: dict[str, Any] | None, _message: Any) -> Any:
        if ctx.triggered_id == ids.SIGNAL and not wants_recount(signal):
            raise dash.exceptions.PreventUpdate
        return tab_table(svc, tab)

    # Redrawn after an action (a new silence shows); the redrawn switches fire nothing (prevent_initial_call).
    @app.callback(Output(RULES, "children"), Input(TABS, "active_tab"), Input(MESSAGE, "children"))
    def _rules(_tab: str | None, _message: Any) -> Any:
        return rules_panel(svc)

    @app.callback(
        Output(MESSAGE, "children", allow_duplicate=True),
        Input({"type": RULE_SWITCH, "index": ALL}, "value"),
        prevent_initial_call=True,
    )
    def _switch(_values: list[bool]) -> Any:
        trig = ctx.triggered_id
        if not isinstance(trig, dict) or len(ctx.triggered) != 1:  # a redraw of the panel sets them all
            raise dash.exceptions.PreventUpdate
        return switch_rule(svc, int(trig["index"]), bool(ctx.triggered[0]["value"]))

    @app.callback(
        Output(MESSAGE, "children", allow_duplicate=True),
        Input({"type": SILENCE_BUTTON, "index": ALL}, "n_clicks"),
        State(NOTE, "value"),
        prevent_initial_call=True,
    )
    def _silence(clicks: list[int | None], note: str | None) -> Any:
        trig = ctx.triggered_id
        if not isinstance(trig, dict) or not any(clicks):
            raise dash.exceptions.PreventUpdate
        return silence(svc, int(trig["index"]), note)

    @app.callback(
        Output(MESSAGE, "children"),
        Input({"type": ACK_BUTTON, "index": ALL}, "n_clicks"),
        State(NOTE, "value"),
        prevent_initial_call=True,
    )
    def _ack(clicks: list[int | None], note: str | None) -> Any:
        trig = ctx.triggered_id
        if not isinstance(trig, dict) or not any(clicks):
            raise dash.exceptions.PreventUpdate
        return ack(svc, int(trig["index"]), note)
