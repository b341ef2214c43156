"""Dashboard layer: the live task board — lanes of task cards (pure). Titles and errors render as text."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
import pandas as pd
from dash import dcc, html

from dashboard.components.fmt import duration, missing, money, since, view_cell
from dashboard.components.status import elapsed, liveness, progress_bar, status_badge
from db.read.task_view import TASKS
from db.read.tasks.board import LANES

LANE_TITLES = {
    "queued": "Queued",
    "running": "Running",
    "completed": "Completed",
    "failed": "Failed, timed out or cancelled",
}
# The finished lanes count the tasks that ended today (UTC); their cards are the newest, of any day.
FINISHED_LANES = frozenset({"completed", "failed"})


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
            # Warning, black on yellow in both themes (a "dark" badge vanishes into the dark theme's card).
            body.append(dbc.Badge("cancel requested", color="warning", text_color="dark", className="mt-1"))
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
        body.append(html.Small(f"took {duration(took)} · {money(row['cost_usd'])}", className="text-muted"))
        if status != "completed" and not missing(row["error_message"]):
            body.append(html.Div(str(row["error_message"])[:160], className="small text-danger text-break"))
    body += [
        html.Div([f"{f.heading}: ", view_cell(f, row[f.name])], className="small text-muted card-field")
        for f in TASKS.card_lines  # the card fields it does not draw above (`drawn` in db/read/task_view.py)
    ]
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


def lane(
    name: str, frame: pd.DataFrame, now: datetime, stuck_after_s: float, counts: dict[str, int]
) -> dbc.Col:
    """A lane whose badge is the true count of what it means (all queued / running tasks, or those that
    ended today), while its cards stay capped: a caption says how the cards relate to that count."""
    shown = len(frame)
    statuses = [s.value for s in LANES[name]]
    known = [counts[s] for s in statuses if s in counts]
    total = sum(known) if known else None
    finished = name in FINISHED_LANES
    badge = f"{shown}" if total is None else f"{total:,} today" if finished else f"{total:,}"
    notes: list[str] = []
    if finished and total and len(statuses) > 1:
        # Which outcomes the lane holds, so a cancelled task is never counted as a failure unlabelled.
        notes.append(" · ".join(f"{counts.get(s, 0):,} {s.replace('_', ' ')}" for s in statuses))
    if total is not None and total > shown:
        notes.append(
            f"showing the newest {shown} of {total:,}" if finished else f"showing {shown} of {total:,}"
        )
    elif finished and total is not None and shown > total:
        notes.append(f"and the newest {shown - total} from earlier days")
    cards = [task_card(row, now, stuck_after_s) for _, row in frame.iterrows()]
    if not cards:
        cards = [html.Div("nothing here", className="text-muted small")]
    head: list[Any] = [
        html.H6(
            [LANE_TITLES[name], dbc.Badge(badge, color="light", text_color="dark", className="ms-2")],
            className="mb-1",
        )
    ]
    head += [html.Div(note, className="small text-muted lane-note") for note in notes]
    return dbc.Col(
        [html.Div(head, className="mb-2"), html.Div(cards, className="lane-body")],
        md=3,
        className=f"lane lane-{name}",
        id=f"lane-{name}",
    )


def board(
    lanes: dict[str, pd.DataFrame], counts: dict[str, int], now: datetime, stuck_after_s: float
) -> dbc.Row:
    """`counts` per status, as db.read.tasks.board.lane_counts returns them."""
    return dbc.Row([lane(n, lanes[n], now, stuck_after_s, counts) for n in LANE_TITLES], className="g-3")
