"""Dashboard layer: the audit log page — who created, cancelled, retried or deleted which task, and every
token, budget and schedule change, newest first, filtered by action, actor and target; admins only when
access control is on. Live: a push re-reads the newest rows."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, html

from dashboard import access, ids
from dashboard.components.audit import audit_table
from dashboard.components.download import download_link, export_url
from dashboard.navigation import NavEntry
from dashboard.services import Services
from db.access.audit import ACTIONS, entries

PATH = "/audit"
TITLE = "Audit log"
NAV = NavEntry("Audit", 9, role="admin")
SHOWN = 200

AUDIT_ACTION = "audit-action"
AUDIT_ACTOR = "audit-actor"
AUDIT_TARGET = "audit-target"
AUDIT_TABLE = "audit-table"

GROUPS = sorted({a.split(".")[0] + "." for a in ACTIONS})
ANY = "any"  # the select's "every action" (an empty value would show as a blank choice)


def layout(**_: Any) -> html.Div:
    options = [{"label": "every action", "value": ANY}]
    options += [{"label": f"{g[:-1]} (all)", "value": g} for g in GROUPS]
    options += [{"label": a, "value": a} for a in ACTIONS]
    return html.Div(
        [
            html.Div(
                [
                    html.H3("Audit log", className="mb-0"),
                    download_link(ids.EXPORT_AUDIT, export_url("audit")),
                ],
                className="d-flex justify-content-between align-items-center mb-3",
            ),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            html.Label("action", htmlFor=AUDIT_ACTION, className="visually-hidden"),
                            dbc.Select(id=AUDIT_ACTION, options=options, value=ANY),
                        ],
                        md=3,
                    ),
                    dbc.Col(
                        dbc.Input(id=AUDIT_ACTOR, placeholder="who, e.g. token:agent or cli", debounce=True),
                        md=3,
                    ),
                    dbc.Col(
                        dbc.Input(id=AUDIT_TARGET, placeholder="target, e.g. task:42", debounce=True), md=3
                    ),
                ],
                className="g-2 mb-3",
            ),
            html.Div(id=AUDIT_TABLE),
        ]
    )


def table(svc: Services, action: str | None, actor: str | None, target: str | None) -> Any:
    denied = access.dashboard_denied(svc, "admin")
    if denied:
        return dbc.Alert(denied, color="warning")
    action = None if action in (None, "", ANY) else action
    actor = (actor or "").strip()[:200] or None
    target = (target or "").strip()[:200] or None
    with svc.db.reading() as session:
        rows = entries(session, limit=SHOWN, action=action, actor=actor, target=target)
    return audit_table(rows, SHOWN, filtered=any((action, actor, target)))


def register(app: dash.Dash, svc: Services) -> None:
    @app.callback(
        Output(AUDIT_TABLE, "children"),
        Input(AUDIT_ACTION, "value"),
        Input(AUDIT_ACTOR, "value"),
        Input(AUDIT_TARGET, "value"),
        Input(ids.SIGNAL, "data"),
    )
    def _table(action: str | None, actor: str | None, target: str | None, _signal: Any) -> Any:
        return table(svc, action, actor, target)

    @app.callback(
        Output(ids.EXPORT_AUDIT, "href"),
        Input(AUDIT_ACTION, "value"),
        Input(AUDIT_ACTOR, "value"),
        Input(AUDIT_TARGET, "value"),
    )
    def _download(action: str | None, actor: str | None, target: str | None) -> str:
        return download_href(action, actor, target)


def download_href(action: str | None, actor: str | None, target: str | None) -> str:
    """The CSV link with the filters the table shows (the whole log, not only its newest SHOWN rows)."""
    params = [("action", action)] if action not in (None, "", ANY) else []
    params += [
        (name, value.strip())
        for name, value in (("actor", actor), ("target", target))
        if value and value.strip()
    ]
    return export_url("audit", [(k, v) for k, v in params if v])
