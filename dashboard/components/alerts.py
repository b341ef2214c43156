"""Dashboard layer: the alert components as pure functions — the navbar's bell, the Alerts page's table of
one tab, and the toasts for alerts that just fired at critical or high severity (read from the event log when a
push wakes them: dashboard/alertbell.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.components.fmt import when

BELL = "alert-bell"
BELL_COUNT = "alert-bell-count"
ACK_BUTTON = "alert-ack"  # pattern-matching: {"type": ACK_BUTTON, "index": alert id}
SILENCE_BUTTON = "alert-silence"  # the same, silencing the alert's rule and target for SILENCE_HOURS
SILENCE_HOURS = 2
SEVERITY_COLOURS = {"critical": "danger", "high": "warning", "medium": "info", "low": "secondary"}
TOAST_SEVERITIES = ("critical", "high")
MAX_TOASTS = 3
SHOW_MS = 10_000  # how long an alert toast stays up
SUMMARY_ID = "alert-toast-summary-"


def bell(counts: dict[str, int]) -> list[Any]:
    """The bell's children: a count of firing alerts coloured by the worst severity among them."""
    total = sum(counts.values())
    worst = next((s for s in SEVERITY_COLOURS if counts.get(s)), None)
    label = f"{total} firing alert{'s' if total != 1 else ''}" if total else "no firing alerts"
    return [
        # A word, not a bell emoji: machines without an emoji font drew a blank box.
        html.Span("Alerts", className="alert-bell-icon"),
        dbc.Badge(
            str(total),
            id=BELL_COUNT,
            color=SEVERITY_COLOURS[worst] if worst else "secondary",
            pill=True,
            className="ms-1",
            title=label,
        ),
        html.Span(label, className="visually-hidden"),
    ]


def _since(row: dict[str, Any]) -> Any:
    at: datetime | None = row.get("fired_at") or row.get("pending_at")
    return when(at) if at else "—"


def _actions(row: dict[str, Any]) -> str:
    return "; ".join(f"{a.get('type')}: {a.get('outcome')}" for a in row.get("actions_taken") or [])


def target_label(target: str) -> str:
    """An alert's target as a person reads it: a rule's scope is stored as "scope:<kind>:<value>" (part of
    the alert's identity, so left as it is in the database), which showed as "scope:all:" with a dangling
    colon; it reads "all tasks" or "kind demo", as the rule's own description says it. Other targets
    ("task:12", "worker:agent-1", "budget:3:2026-12-01") are read as they are."""
    if not target.startswith("scope:"):
        return target
    kind, _, value = target.removeprefix("scope:").partition(":")
    if kind == "all" or not kind:
        return "all tasks"
    return f"{kind} {value}" if value else kind


def alert_table(rows: list[dict[str, Any]], tab: str, can_ack: bool) -> Any:
    if not rows:
        return html.P(f"No {tab} alerts.", className="text-body-secondary", id="alerts-empty")
    head = ["Severity", "Alert", "Target", "Since", "Resolved" if tab == "history" else "Acknowledged", ""]
    body = []
    for r in rows:
        task_id = (r.get("labels") or {}).get("task_id")
        label = target_label(r["target"])
        target: Any = dcc.Link(label, href=f"/tasks/{task_id}") if task_id else label
        if tab == "history":
            status: Any = when(r["resolved_at"]) if r.get("resolved_at") else "—"
        elif r.get("acknowledged_by"):
            status = f"{r['acknowledged_by']}: {r.get('ack_note') or ''}".strip(": ")
        else:
            status = f"silenced by #{r['silenced_by']}" if r.get("silenced_by") else "—"
        action: list[Any] = []
        if can_ack and r["state"] != "resolved" and not r.get("acknowledged_at"):
            action.append(
                dbc.Button(
                    "Acknowledge",
                    id={"type": ACK_BUTTON, "index": r["id"]},
                    size="sm",
                    color="secondary",
                    outline=True,
                    className="me-1",
                )
            )
        if can_ack and r["state"] != "resolved" and not r.get("silenced_by"):
            action.append(
                dbc.Button(
                    f"Silence {SILENCE_HOURS} h",
                    id={"type": SILENCE_BUTTON, "index": r["id"]},
                    size="sm",
                    color="secondary",
                    outline=True,
                    title="no notifications for this rule and target",
                )
            )
        summary = [
            dcc.Link(r["rule"], href=f"/alerts?alert={r['id']}", className="fw-semibold d-block"),
            html.Div(r["summary"], className="small"),
        ]
        if r.get("actions_taken"):
            summary.append(html.Div(_actions(r), className="small text-body-secondary"))
        body.append(
            html.Tr(
                [
                    html.Td(dbc.Badge(r["severity"], color=SEVERITY_COLOURS.get(r["severity"], "secondary"))),
                    html.Td(summary, className="tl-text"),  # free text: wraps, no narrower than a line
                    html.Td(target),
                    html.Td(_since(r)),
                    html.Td(status, className="tl-wrap"),  # who, and their note
                    html.Td(action),
                ],
                id=f"alert-row-{r['id']}",
                className=f"alert-row alert-{r['state']}",
            )
        )
    return dbc.Table(
        [html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(body)],
        hover=True,
        responsive=True,
        size="sm",
        id="alerts-table",
    )


def fired(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Of alert events' payloads (db/alerts/queries.alert_events), the alerts that fired at critical or high
    severity."""
    return [
        e
        for e in events
        if isinstance(e, dict) and e.get("change") == "firing" and e.get("severity") in TOAST_SEVERITIES
    ]


def still_up(up: list[dict[str, Any]], shown: Any, now_ms: int) -> list[dict[str, Any]]:
    """The toasts of `up` to keep drawing: not yet SHOW_MS old, and not closed (dismissed, or timed out) in
    the children drawn now — a redraw for a later alert neither revives nor cuts short the others."""
    closed = {
        props.get("id")
        for child in (shown if isinstance(shown, list) else [])
        if isinstance(child, dict)
        for props in [child.get("props") or {}]
        if props.get("is_open") is False
    }
    if any(str(c).startswith(SUMMARY_ID) for c in closed):
        return []  # the burst's summary was closed: the burst with it
    return [u for u in up if now_ms - int(u.get("at") or 0) < SHOW_MS and _toast_id(u) not in closed]


def _toast_id(item: dict[str, Any]) -> str:
    return f"alert-toast-{item.get('alert_id')}"


def alert_toasts(up: list[dict[str, Any]], now_ms: int) -> list[dbc.Toast]:
    """At most MAX_TOASTS single toasts, each for what is left of its SHOW_MS; more at once are one summary
    (counts by severity, a link to the Alerts page), as the task-finished toasts do (dashboard/toasts.py)."""
    if len(up) > MAX_TOASTS:
        counts = {s: sum(1 for u in up if u.get("severity") == s) for s in TOAST_SEVERITIES}
        return [
            dbc.Toast(
                [
                    html.Div(" · ".join(f"{n} {s}" for s, n in counts.items() if n)),
                    dcc.Link("open alerts", href="/alerts", className="small"),
                ],
                # A new id per count remounts it, so each growing burst shows for SHOW_MS again.
                id=f"{SUMMARY_ID}{len(up)}",
                header=f"{len(up)} alerts fired",
                icon="danger" if counts.get("critical") else "warning",
                duration=SHOW_MS,
                dismissable=True,
                className="mb-2",
            )
        ]
    return [
        dbc.Toast(
            [
                html.Div(str(e.get("summary") or ""), className="text-break"),
                dcc.Link("open alerts", href="/alerts", className="small"),
            ],
            id=_toast_id(e),
            header=f"Alert ({e.get('severity')})",
            icon="danger" if e.get("severity") == "critical" else "warning",
            duration=max(1, SHOW_MS - (now_ms - int(e.get("at", now_ms)))),
            dismissable=True,
            className="mb-2",
        )
        for e in up
    ]


def alert_detail(alert: dict[str, Any] | None) -> Any:
    """One alert: its lifecycle times, each channel's delivery (status, attempts, last error), acknowledgements
    and actions — what "recorded per channel" looks like to a person."""
    if alert is None:
        return ""
    times = [
        ("pending since", alert.get("pending_at")),
        ("fired", alert.get("fired_at")),
        ("acknowledged", alert.get("acknowledged_at")),
        ("resolved", alert.get("resolved_at")),
    ]
    deliveries = [
        html.Tr(
            [
                html.Td(n["channel_type"]),
                html.Td(n["event"] + (f" (repeat {n['round']})" if n["round"] else "")),
                html.Td(n["status"]),
                html.Td(str(n["attempts"])),
                html.Td(when(n["sent_at"]) if n.get("sent_at") else "—"),
                html.Td(n.get("last_error") or "", className="small text-break"),
            ]
        )
        for n in alert.get("notifications") or []
    ]
    acks = [html.Li(f"{a['actor']}: {a['note'] or '(no note)'}") for a in alert.get("acks") or []]
    body: list[Any] = [
        html.P(alert["summary"]),
        html.Ul([html.Li([f"{label}: ", when(at)]) for label, at in times if at], className="small"),
    ]
    body.append(
        dbc.Table(
            [
                html.Thead(
                    html.Tr([html.Th(h) for h in ("Channel", "Event", "Status", "Attempts", "Sent", "Error")])
                ),
                html.Tbody(deliveries),
            ],
            size="sm",
            id="alert-deliveries",
        )
        if deliveries
        else html.P(
            "No notification (in-app only, silenced, or low severity: the daily digest).", className="small"
        )
    )
    if acks:
        body += [html.H6("Acknowledgements"), html.Ul(acks, className="small")]
    if alert.get("actions_taken"):
        body += [html.H6("Actions"), html.Div(_actions(alert), className="small")]
    return dbc.Card(
        [
            dbc.CardHeader(
                [
                    dbc.Badge(alert["severity"], className="me-2"),
                    f"#{alert['id']} {alert['rule']} — {target_label(alert['target'])}",
                ]
            ),
            dbc.CardBody(body),
        ],
        id="alert-detail",
        className="mb-3",
    )
