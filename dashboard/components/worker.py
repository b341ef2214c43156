"""Dashboard layer: a worker's page — its state card (online / busy / draining / stopping / offline, heartbeat
age, host, slots, what it claims), its KPIs over the range, the tasks it runs now and its history. Pure
functions of db.read.worker_detail's rows, tested without a browser."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import dash_bootstrap_components as dbc
import pandas as pd
from dash import dcc, html

from dashboard.components.fmt import count, duration, missing, percent, when
from dashboard.components.overview import kpi_card
from dashboard.components.status import progress_bar, status_badge, ticking
from db.read.worker_detail import Outcomes, WorkerState

STATE_COLORS = {
    "busy": "primary",
    "online": "success",
    "draining": "warning",
    "stopping": "danger",
    "offline": "secondary",
}


def worker_href(worker_id: str) -> str:
    """The page of a worker (ids are made of its name, pid and a suffix; the name may hold anything)."""
    return f"/workers/{quote(worker_id, safe='')}"


def state_badge(state: str) -> dbc.Badge:
    text_color = "dark" if state == "draining" else None  # yellow with white text is 1.6:1
    return dbc.Badge(state, color=STATE_COLORS.get(state, "light"), text_color=text_color, className="me-1")


def claims(values: tuple[str, ...] | None, every: str) -> Any:
    if values is None:
        return html.Span(every, className="text-muted")
    return html.Span([dbc.Badge(v, color="light", text_color="dark", className="me-1") for v in values])


def facts(rows: list[tuple[str, Any]]) -> html.Dl:
    items: list[Any] = []
    for term, value in rows:
        items += [html.Dt(term, className="col-5 col-md-4"), html.Dd(value, className="col-7 col-md-8 mb-1")]
    return html.Dl(items, className="row mb-0 small")


def state_card(w: WorkerState | None, worker_id: str) -> Any:
    """Who and how it is; for an id with no worker row (forgotten, or never seen) says so — its tasks remain."""
    if w is None:
        return dbc.Alert(
            [
                html.Strong(f"No worker {worker_id!r} is registered"),
                " (forgotten, or never seen). The tasks it ran are still listed below.",
            ],
            color="secondary",
            className="mb-0",
        )
    alive = w.state != "offline"
    # Up to its last heartbeat when offline; counting on in the browser while it runs.
    uptime_s = (w.last_seen_at - w.started_at).total_seconds() + (w.heartbeat_age_s if alive else 0.0)
    rows: list[tuple[str, Any]] = [
        ("State", state_badge(w.state)),
        ("Last heartbeat", ticking(w.heartbeat_age_s, w.last_seen_at, " ago")),
        (
            "Started",
            # Offline, it is not up: how long it ran, to its last heartbeat.
            html.Span(
                [
                    when(w.started_at),
                    " · up " if alive else " · ran for ",
                    ticking(uptime_s, w.started_at if alive else None),
                ]
            ),
        ),
        ("Host", f"{w.host} · pid {w.pid}"),
        ("Slots", f"{w.running_count} of {w.concurrency} busy"),
        ("Claims kinds", claims(w.claim_kinds, "every kind")),
        ("Claims tags", claims(w.claim_tags, "any task")),
        ("Since it started", f"{count(w.tasks_completed)} completed · {count(w.tasks_failed)} failed"),
    ]
    if w.stopped_at is not None and not alive:
        rows.insert(3, ("Stopped", when(w.stopped_at)))
    return facts(rows)


def title(w: WorkerState | None, worker_id: str) -> list[Any]:
    if w is None:
        return [f"Worker {worker_id}"]
    return [f"Worker {w.name} ", html.Small(w.id, className="text-muted fs-6")]


def rate(value: float) -> str:
    """Three significant digits: a quiet worker's 0.000496 a minute is not 0.00."""
    if value == 0:
        return "0"
    return f"{value:,.3g}" if value < 1000 else f"{value:,.0f}"


def finish_rate(per_minute: float) -> tuple[str, str]:
    """(figure, hint) of the finish-rate card, always per hour, a day's figure in the hint. The card's label
    used to follow the figure to the unit where it reached 1 ("Per hour 1.73" for one worker, "Per day 0"
    for another, "Per minute" for a third), so it changed under the eye as the data did; three significant
    digits keep a quiet worker's rate readable per hour (0.0298, not 0.00)."""
    return rate(per_minute * 60), f"{rate(per_minute * 1440)} a day, over the range"


def kpis(o: Outcomes, running: int) -> dbc.Row:
    figure, hint = finish_rate(o.per_minute)
    return dbc.Row(
        [
            kpi_card("Finished", count(o.finished), hint=f"{o.done:,} completed", key="worker-finished"),
            kpi_card("Per hour", figure, hint=hint, key="worker-rate"),
            kpi_card(
                "Failure rate",
                percent(o.failure_rate),
                hint=f"{o.failed:,} failed or timed out",
                color="danger" if o.failure_rate is not None and o.failure_rate >= 0.5 else None,
                key="worker-failure-rate",
            ),
            kpi_card("Running now", count(running), key="worker-running"),
        ],
        className="g-3",
    )


def task_link(task_id: Any) -> dcc.Link:
    return dcc.Link(f"#{int(task_id)}", href=f"/tasks/{int(task_id)}")


def current_table(frame: pd.DataFrame, now: datetime) -> Any:
    if frame.empty:
        return html.Div("Nothing running.", className="text-muted small")
    rows = [
        html.Tr(
            [
                html.Td(task_link(t.id)),
                html.Td(str(t.title), className="tl-text"),
                html.Td(str(t.kind)),
                html.Td(
                    ticking(
                        None if missing(t.started_at) else (now - t.started_at).total_seconds(), t.started_at
                    )
                ),
                html.Td(progress_bar(t.progress, None, None, "running"), style={"minWidth": "8rem"}),
                html.Td(f"{int(t.attempt)} of {int(t.max_attempts)}"),
            ]
        )
        for t in frame.itertuples()
    ]
    head = html.Thead(
        html.Tr([html.Th(h) for h in ("Task", "Title", "Kind", "Running for", "Progress", "Attempt")])
    )
    # Ids, kinds and times on one line, the title wrapping (.tl-text): the table scrolls in its box on a phone
    # instead of squeezing the title to a few letters per line (assets/tasklens.css).
    return dbc.Table([head, html.Tbody(rows)], size="sm", hover=True, responsive=True, className="mb-0")


def history_table(frame: pd.DataFrame) -> Any:
    if frame.empty:
        return html.Div("No task of this worker ended in this range.", className="text-muted small")
    rows = [
        html.Tr(
            [
                html.Td(task_link(t.id)),
                html.Td(
                    [
                        html.Div(str(t.title), className="text-break"),
                        html.Div(str(t.error_message)[:200], className="small text-danger text-break")
                        if not missing(t.error_message) and t.error_message
                        else None,
                    ],
                    className="tl-text",  # free text: wraps between words, no narrower than a line
                ),
                html.Td(str(t.kind)),
                html.Td(status_badge(str(t.status))),
                html.Td(when(t.completed_at), className="text-nowrap"),
                html.Td(duration(None if missing(t.duration_s) else float(t.duration_s))),
            ],
            className="worker-history-row",
        )
        for t in frame.itertuples()
    ]
    head = html.Thead(html.Tr([html.Th(h) for h in ("Task", "Title", "Kind", "Outcome", "Ended", "Ran for")]))
    return dbc.Table([head, html.Tbody(rows)], size="sm", hover=True, responsive=True, className="mb-0")
