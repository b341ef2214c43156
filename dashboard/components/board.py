"""Dashboard layer: the live task board — lanes of task cards (pure). Titles and errors render as text."""

from __future__ import annotations

from datetime import datetime

import dash_bootstrap_components as dbc
import pandas as pd
from dash import dcc, html

from dashboard.components.fmt import duration, missing, since
from dashboard.components.status import elapsed, liveness, progress_bar, status_badge

LANE_TITLES = {"queued": "Queued", "running": "Running", "completed": "Completed", "failed": "Failed"}


def task_card(row: pd.Series, now: datetime, stuck_after_s: float) -> dbc.Card:
    status = str(row["status"])
    head = html.Div(
        [
            dcc.Link(f"#{int(row['id'])}", href=f"/tasks/{int(row['id'])}", className="me-2 fw-semibold"),
            status_badge(status),
            html.Small(str(row["kind"]), className="text-muted"),
        ],
        className="d-flex align-items-center",
    )
    body: list[object] = [head, html.Div(str(row["title"]), className="task-title small text-break")]
    if status == "running":
        body.append(progress_bar(row["progress"], row["current_iteration"], row["max_iterations"], status))
        body.append(
            html.Div(
                [
                    elapsed("elapsed", _ts(row["started_at"]), since(now, row["started_at"])),
                    html.Small(" · ", className="text-muted"),
                    liveness(
                        since(now, row["last_activity_at"]), stuck_after_s, _ts(row["last_activity_at"])
                    ),
                ]
            )
        )
        if row["cancel_requested"]:
            body.append(dbc.Badge("cancel requested", color="dark", className="mt-1"))
    elif status == "queued":
        waited = since(now, row["created_at"])
        body.append(
            html.Div(
                [
                    elapsed("waiting", _ts(row["created_at"]), waited),
                    html.Small(f" · priority {int(row['priority'])}", className="text-muted"),
                ]
            )
        )
    else:
        took = None
        if not missing(row["started_at"]) and not missing(row["completed_at"]):
            took = (row["completed_at"] - row["started_at"]).total_seconds()
        body.append(
            html.Small(f"took {duration(took)} · ${float(row['cost_usd']):.4f}", className="text-muted")
        )
        if status != "completed" and not missing(row["error_message"]):
            body.append(html.Div(str(row["error_message"])[:160], className="small text-danger text-break"))
    return dbc.Card(
        dbc.CardBody(body, className="p-2"),
        className=f"mb-2 task-card status-{status}",
        id={"type": "task-card", "id": int(row["id"])},
    )


def _ts(value: object) -> datetime | None:
    """A pandas Timestamp or NaT from a frame, as a plain datetime or None."""
    if missing(value):
        return None
    return value.to_pydatetime() if isinstance(value, pd.Timestamp) else value  # type: ignore[return-value]


def lane(name: str, frame: pd.DataFrame, now: datetime, stuck_after_s: float, total: int | None) -> dbc.Col:
    shown = len(frame)
    label = LANE_TITLES[name]
    badge = f"{total:,}" if total is not None else f"{shown}"
    cards = [task_card(row, now, stuck_after_s) for _, row in frame.iterrows()]
    if not cards:
        cards = [html.Div("nothing here", className="text-muted small")]
    return dbc.Col(
        [
            html.H6([label, dbc.Badge(badge, color="light", text_color="dark", className="ms-2")]),
            html.Div(cards, className="lane-body"),
        ],
        md=3,
        className=f"lane lane-{name}",
        id=f"lane-{name}",
    )


def board(
    lanes: dict[str, pd.DataFrame], counts: dict[str, int], now: datetime, stuck_after_s: float
) -> dbc.Row:
    return dbc.Row(
        [lane(n, lanes[n], now, stuck_after_s, counts.get(n)) for n in LANE_TITLES], className="g-3"
    )
