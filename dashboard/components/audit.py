"""Dashboard layer: the audit log's table — when, who, what and on which target, with the details as text
(every value in it may be user-typed: it is rendered as text, never as markup)."""

from __future__ import annotations

import json
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.components.fmt import when
from db.access.audit import AuditEntry

ACTION_COLORS = {
    "create": "primary",
    "cancel": "warning",
    "retry": "info",
    "delete": "danger",
    "revoke": "danger",
}


def target_cell(target: str) -> Any:
    """A task target links to the task; anything else is plain text."""
    kind, _, ref = target.partition(":")
    if kind == "task" and ref.isdigit():
        return dcc.Link(target, href=f"/tasks/{ref}")
    return target


def details_text(details: dict[str, Any]) -> str:
    return ", ".join(f"{k}: {v if isinstance(v, str) else json.dumps(v)}" for k, v in details.items())


def audit_row(entry: AuditEntry) -> html.Tr:
    verb = entry.action.rpartition(".")[2]
    return html.Tr(
        [
            html.Td(when(entry.at), className="text-nowrap"),
            html.Td(entry.actor),
            html.Td(dbc.Badge(entry.action, color=ACTION_COLORS.get(verb, "secondary"))),
            html.Td(target_cell(entry.target)),
            html.Td(details_text(entry.details), className="small text-muted tl-text"),
        ],
        className="audit-row",
    )


# With no filter set an empty log is a new install's, not a filter's miss: say what will appear here.
EMPTY_LOG = (
    "Nothing recorded yet. Who submitted, cancelled, retried or deleted a task, changed a budget, schedule, "
    "alert or worker, moved data (backup, archive, prune, restore) or made an access token appears here."
)
NO_MATCH = "Nothing recorded matches these filters."


def audit_table(entries: list[AuditEntry], shown: int, filtered: bool = True) -> Any:
    if not entries:
        return html.Div(NO_MATCH if filtered else EMPTY_LOG, className="text-muted")
    head = html.Thead(html.Tr([html.Th(h) for h in ("When", "Who", "Action", "Target", "Details")]))
    table = dbc.Table(
        [head, html.Tbody([audit_row(e) for e in entries])], size="sm", hover=True, responsive=True
    )
    more = (
        [
            html.Div(
                f"The newest {shown}; page further with GET /api/v1/audit?before=…",
                className="small text-muted",
            )
        ]
        if len(entries) >= shown
        else []
    )
    return html.Div([table, *more])
