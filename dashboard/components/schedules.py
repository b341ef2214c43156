"""Dashboard layer: the Schedules page's table — each schedule's trigger, state, next fire time, runs, its
latest task with its outcome, and its Edit / Pause or Resume / Remove buttons. A pure function of the rows,
tested without a browser."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.components.fmt import when
from dashboard.components.status import status_badge

ACTION = (
    "schedule-action"  # pattern id {"type": ACTION, "action": edit|pause|resume|remove, "id": schedule id}
)


def action_button(action: str, row: dict[str, Any], color: str) -> dbc.Button:
    return dbc.Button(
        action.capitalize(),
        id={"type": ACTION, "action": action, "id": row["id"]},
        size="sm",
        color=color,
        outline=True,
        className="me-1 mb-1 py-0",
        title=f"{action} schedule {row['name']}",
    )


def actions(row: dict[str, Any]) -> html.Div:
    toggle = (
        action_button("pause", row, "dark") if row["enabled"] else action_button("resume", row, "success")
    )
    return html.Div(
        [action_button("edit", row, "primary"), toggle, action_button("remove", row, "danger")],
        className="text-nowrap",
    )


def trigger_text(row: dict[str, Any]) -> str:
    if row["cron"]:
        return f"cron {row['cron']} ({row['timezone']})"
    return f"every {row['interval_seconds']:g} s"


def schedule_row(row: dict[str, Any], next_at: datetime | None, last: dict[str, Any] | None) -> html.Tr:
    state = dbc.Badge("on", color="success") if row["enabled"] else dbc.Badge("paused", color="secondary")
    runs = f"{row['runs']}" + (f" / {row['max_runs']}" if row["max_runs"] else "")
    latest: Any = "—"
    if last is not None:
        latest = html.Span(
            [
                dcc.Link(f"#{last['task_id']}", href=f"/tasks/{last['task_id']}"),
                " ",
                status_badge(last["status"]),
                " ",
                html.Span(when(last["scheduled_for"]), className="small text-muted"),
            ]
        )
    policies = f"catch-up {row['catch_up']}, concurrency {row['concurrency']}"
    return html.Tr(
        [
            html.Td(row["id"]),
            html.Td(
                [
                    html.Div(row["name"]),
                    html.Div(f"{row['kind']}: {row['title']}", className="small text-muted"),
                ],
                className="tl-text",  # free text: wraps between words (assets/tasklens.css)
            ),
            html.Td(
                [html.Div(trigger_text(row)), html.Div(policies, className="small text-muted")],
                className="tl-wrap",
            ),
            html.Td(state),
            html.Td(when(next_at) if next_at else "—", className="text-nowrap"),
            html.Td(runs),
            html.Td(latest),
            html.Td(actions(row)),
        ],
        className="schedule-row",
    )


def schedules_table(rows: list[tuple[dict[str, Any], datetime | None, dict[str, Any] | None]]) -> Any:
    if not rows:
        return html.Div(
            [
                "No schedules yet. Add one with New schedule, ",
                html.Code(
                    'python app.py schedule add --cron "*/5 * * * *" --title heartbeat --command "echo ok"'
                ),
                " or POST /api/v1/schedules.",
            ],
            className="text-muted",
        )
    head = html.Thead(
        html.Tr(
            [
                html.Th(h)
                for h in ("#", "Schedule", "Trigger", "State", "Next run", "Runs", "Latest run", "Actions")
            ]
        )
    )
    body = html.Tbody([schedule_row(r, n, last) for r, n, last in rows])
    return dbc.Table([head, body], size="sm", hover=True, responsive=True)
