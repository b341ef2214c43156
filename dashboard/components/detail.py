"""Dashboard layer: the task detail page's three perspectives — user, system, database — and its activity
lines (pure). Everything the task or its agent wrote is rendered as text."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import quote

import dash_bootstrap_components as dbc
import pandas as pd
from dash import dcc, html

from dashboard import ids
from dashboard.components.fmt import duration, missing, money, since, tokens, view_cell, when
from dashboard.components.status import elapsed as elapsed_span
from dashboard.components.status import liveness, progress_bar, status_badge
from dashboard.components.worker import worker_href
from db.core.models import Task
from db.domain.states import TERMINAL, TaskKind, TaskStatus
from db.read.task_view import TASKS
from db.read.views import Panel

ACTIVITY_COLORS = {"tool_exec": "text-info", "error": "text-danger", "progress": "text-warning", "output": ""}


Facts = list[tuple[str, Any]]


def facts(pairs: Facts) -> html.Dl:
    items: list[Any] = []
    for label, value in pairs:
        items += [
            html.Dt(label, className="col-sm-5 text-muted fw-normal"),
            html.Dd(value if not isinstance(value, str | int | float) else str(value), className="col-sm-7"),
        ]
    return html.Dl(items, className="row mb-0 small")


def fact(name: str, value: Any) -> tuple[str, Any]:
    """A view field's heading beside what the page shows for it."""
    return TASKS[name].heading, value


def stored(t: Task, name: str) -> tuple[str, Any]:
    """A view field's heading beside its value in its format kind's style."""
    return fact(name, view_cell(TASKS[name], getattr(t, name, None)))


def panel(t: Task, which: Panel, rows: dict[str, Facts] | None = None, after: Facts | None = None) -> html.Dl:
    """The panel's facts from the tasks view (db/read/task_view.py: the fields in `which`, top to bottom, each
    under its heading in its format kind's style). `rows` are the facts the page computes in a field's place
    (its own words, a badge, a figure beside it; none to leave it out); `after` are facts no field holds."""
    pairs: Facts = []
    for f in TASKS.detail_fields(which):
        found = (rows or {}).get(f.name)
        pairs += found if found is not None else [stored(t, f.name)]
    return facts(pairs + (after or []))


def header(t: Task) -> html.Div:
    status = TaskStatus(t.status)
    # Celery runs a Celery task, not a TaskLens worker: TaskLens's cancel would only relabel it and its retry
    # would queue it where nothing takes it. Its Celery controls (revoke, terminate) are the card below.
    celery = t.kind == TaskKind.CELERY.value
    elsewhere = "Celery runs this task: use the Celery controls below" if celery else None
    return html.Div(
        [
            html.H4([f"#{t.id} ", html.Span(t.title, className="task-title")], className="mb-1 text-break"),
            html.Div(
                [
                    status_badge(t.status),
                    html.Small(
                        f"{t.kind} · {attempt(t.attempt, t.max_attempts)}", className="text-muted ms-1"
                    ),
                ]
            ),
            html.Div(
                [
                    dbc.Button(
                        "Cancel",
                        id=ids.CANCEL,
                        color="danger",
                        size="sm",
                        outline=True,
                        disabled=celery or status in TERMINAL or bool(t.cancel_requested),
                        title=elsewhere,
                        className="me-2",
                    ),
                    dbc.Button(
                        "Retry",
                        id=ids.RETRY,
                        color="primary",
                        size="sm",
                        outline=True,
                        disabled=celery or status not in TERMINAL,
                        title=elsewhere,
                    ),
                ],
                className="mt-2",
            ),
        ]
    )


def _result_text(value: Any) -> str:
    if value is None:
        return "–"
    return value if isinstance(value, str) else json.dumps(value, indent=2, default=str)


def user_view(t: Task, now: datetime, stuck_after_s: float) -> html.Dl:
    running = t.status == TaskStatus.RUNNING
    end = t.completed_at if t.completed_at else (now if running else None)
    elapsed = (end - t.started_at).total_seconds() if t.started_at and end else None
    progress: Facts = [
        fact("progress", progress_bar(t.progress, t.current_iteration, t.max_iterations, t.status)),
        ("Elapsed", elapsed_span("", t.started_at, elapsed) if running else duration(elapsed)),
    ]
    if running:
        progress.append(
            ("Working or stuck?", liveness(since(now, t.last_activity_at), stuck_after_s, t.last_activity_at))
        )
    # Only a running task is doing something now; a finished one's message is where it stopped.
    step = [("Now" if running else "Last step", html.Span(t.progress_message, className="text-break"))]
    error = [fact("error_message", html.Pre(t.error_message, className="text-danger small mb-0 text-wrap"))]
    result = html.Pre(_result_text(t.result), className="small mb-0 text-wrap result-text")
    rows: dict[str, Facts] = {
        "title": [("Goal", html.Span(t.title, className="text-break"))],
        "status": [fact("status", status_badge(t.status))],
        "progress": progress,
        "progress_message": step if t.progress_message else [],
        "error_message": error if t.error_message else [],
        "result": [fact("result", result)],
    }
    return panel(t, Panel.USER, rows)


# What the end time of a task is called, by how it ended.
END_LABELS = {
    TaskStatus.COMPLETED: "Completed",
    TaskStatus.FAILED: "Failed at",
    TaskStatus.TIMED_OUT: "Timed out at",
    TaskStatus.CANCELLED: "Cancelled at",
}


def attempt(number: int | None, allowed: int | None) -> str:
    """ "attempt 2 of 3"; past the allowed attempts only a retry by hand can be, so it says that instead of
    "attempt 2 of 1"."""
    n, m = int(number or 1), int(allowed or 1)
    return f"attempt {n} of {m}" if n <= m else f"attempt {n} (retried by hand; {m} automatic)"


def queued_at(t: Task, transitions: pd.DataFrame | None) -> datetime | None:
    """When the current attempt entered the queue: its latest transition to queued (a retry re-queues the
    task without changing created_at), else the task's creation."""
    if transitions is not None and not transitions.empty:
        queued = transitions[transitions["to_status"] == TaskStatus.QUEUED.value]
        if t.started_at is not None:
            queued = queued[queued["at"] <= pd.Timestamp(t.started_at)]
        if not queued.empty:
            at = queued["at"].iloc[-1]
            return at.to_pydatetime() if isinstance(at, pd.Timestamp) else at  # type: ignore[no-any-return]
    return t.created_at


def worker_link(t: Task) -> Any:
    """Its worker's page; an external task's "worker" is its agent, which has no page, so its tasks instead."""
    if not t.worker_id:
        return "–"
    if t.kind == "external":
        return dcc.Link(t.worker_id, href=f"/tasks?worker={quote(t.worker_id, safe='')}")
    return dcc.Link(t.worker_id, href=worker_href(t.worker_id), className="worker-link")


def system_view(t: Task, transitions: pd.DataFrame | None = None) -> html.Dl:
    entered = queued_at(t, transitions)
    wait = (t.started_at - entered).total_seconds() if t.started_at and entered else None
    took = (t.completed_at - t.started_at).total_seconds() if t.started_at and t.completed_at else None
    holder: Any = "–"
    if t.status == TaskStatus.RUNNING and t.worker_id and t.kind == "celery":
        holder = f"Celery worker {t.worker_id}"  # Celery's own worker runs it: no TaskLens lease
    elif t.status == TaskStatus.RUNNING and t.worker_id:
        holder = html.Span([f"worker {t.worker_id} (lease until ", when(t.lease_expires_at), ")"])
    elif t.status == TaskStatus.QUEUED:
        holder = "the queue"
    elif t.kind == "external":
        holder = "its external agent"
    elif t.kind == "celery":
        holder = "Celery (recorded from its events)"
    rows: dict[str, Facts] = {
        "completed_at": [
            (END_LABELS.get(TaskStatus(t.status), TASKS["completed_at"].heading), when(t.completed_at)),
            ("Queue wait", duration(wait)),
            ("Duration", duration(took)),
        ],
        "attempt": [fact("attempt", attempt(t.attempt, t.max_attempts).removeprefix("attempt "))],
        "worker_id": [fact("worker_id", worker_link(t)), ("Held by", holder)],
        "input_tokens": [
            (
                "Tokens",
                f"{tokens(t.input_tokens)} in · {tokens(t.output_tokens)} out · "
                f"{tokens(t.cache_read_tokens)} cached",
            )
        ],
    }
    return panel(t, Panel.SYSTEM, rows)


def database_view(t: Task, now: datetime, latency_ms: tuple[float | None, float | None]) -> html.Dl:
    life = max(1.0, ((t.completed_at or now) - t.created_at).total_seconds())
    p50, p95 = latency_ms
    latency = "–" if p50 is None else f"p50 {p50:.1f} ms · p95 {p95 or 0:.1f} ms (last 15 min)"
    frequency = ("Update frequency", f"{t.update_count / life * 60:.1f} / min")
    # The rate of updates beside the times of the last update and activity.
    rows: dict[str, Facts] = {"last_activity_at": [stored(t, "last_activity_at"), frequency]}
    return panel(t, Panel.DATABASE, rows, after=[("Write latency", latency)])


def model_cell(model: str, provider: str) -> Any:
    """The model, its provider beneath (as the workers' tables show a name over its id): each on one line, the
    column no wider than the longer of the two ("anthropic / claude-sonnet-4-5" did not fit a half card)."""
    if not provider:
        return model
    return [html.Div(model), html.Small(provider, className="text-muted")]


def invocations_table(frame: pd.DataFrame) -> html.Div | dbc.Table:
    if frame.empty:
        return html.Div("No invocations recorded.", className="text-muted small")
    attempts = frame["attempt"] if "attempt" in frame else pd.Series([None] * len(frame))
    rows = [
        html.Tr(
            [
                html.Td("–" if missing(a) else str(int(a))),
                html.Td(str(r.role)),
                html.Td(model_cell(str(r.model), "" if missing(r.provider) else str(r.provider))),
                html.Td(str(r.status)),
                html.Td(duration(None if missing(r.duration_s) else float(r.duration_s))),
                html.Td(f"{tokens(r.input_tokens)} / {tokens(r.output_tokens)}"),
                html.Td(money(float(r.cost_usd))),
            ]
        )
        for r, a in zip(frame.itertuples(), attempts, strict=True)
    ]
    head = html.Thead(
        html.Tr(
            [html.Th(h) for h in ("Attempt", "Role", "Model", "Status", "Duration", "Tokens in/out", "Cost")]
        )
    )
    # Model names ("anthropic / claude-sonnet-4-5") and token pairs on one line (assets/tasklens.css).
    return dbc.Table([head, html.Tbody(rows)], size="sm", hover=True, responsive=True)


def activity_line(at: datetime | str | None, type_: str | None, message: str | None) -> html.Div:
    stamp = at.strftime("%H:%M:%S") if isinstance(at, datetime) else str(at or "")[11:19]
    return html.Div(
        [
            html.Span(stamp, className="text-muted me-2"),
            html.Span(
                f"[{type_ or 'output'}]", className=f"me-2 {ACTIVITY_COLORS.get(type_ or 'output', '')}"
            ),
            html.Span(message or "", className="activity-message"),
        ],
        className="activity-line font-monospace small text-break",
    )


def activity_lines(frame: pd.DataFrame) -> list[html.Div]:
    return [activity_line(r.at, r.type, r.message) for r in frame.itertuples()]


def not_found(task_id: str | None) -> dbc.Card:
    """The whole page for an id that names no task: no empty panels under it."""
    return dbc.Card(
        dbc.CardBody(
            [
                html.H4("Task not found", className="card-title"),
                html.P(
                    f"There is no task {task_id!s}. It may have been deleted, or the address is mistyped."
                ),
                dcc.Link("← All tasks", href="/tasks"),
            ]
        ),
        className="task-not-found",
        id=ids.DETAIL_NOT_FOUND,
    )
