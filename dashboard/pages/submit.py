"""Dashboard layer: the submit form — kind, title/goal, command or payload, priority, tags, iterations,
attempts, timeout — validated by the same TaskSpec rules as the CLI and the API."""

from __future__ import annotations

import json
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html

from dashboard import access, ids
from dashboard.formvalues import number, whole_number
from dashboard.navigation import NavEntry
from dashboard.services import Services
from db.domain.ops import SpecError, TaskSpec
from db.domain.states import TaskKind

PATH = "/submit"
TITLE = "Submit"
NAV = NavEntry("Submit", 10, role="operator")

FIELDS = {  # TaskSpec field -> the input that shows its error
    "title": ids.S_TITLE,
    "kind": ids.S_KIND,
    "payload": ids.S_PAYLOAD,
    "payload.command": ids.S_COMMAND,
    "payload.callable": ids.S_PAYLOAD,
    "priority": ids.S_PRIORITY,
    "tags": ids.S_TAGS,
    "max_iterations": ids.S_MAX_ITERATIONS,
    "max_attempts": ids.S_MAX_ATTEMPTS,
    "timeout_seconds": ids.S_TIMEOUT,
}
INPUTS = [
    ids.S_TITLE,
    ids.S_COMMAND,
    ids.S_PAYLOAD,
    ids.S_PRIORITY,
    ids.S_TAGS,
    ids.S_MAX_ITERATIONS,
    ids.S_MAX_ATTEMPTS,
    ids.S_TIMEOUT,
]


def _row(label: str, control: Any, help_: str = "") -> dbc.Row:
    return dbc.Row(
        [
            dbc.Label(label, width=3, html_for=getattr(control, "id", None)),
            dbc.Col([control, dbc.FormText(help_) if help_ else None], width=9),
        ],
        className="mb-3",
    )


def layout(**_: Any) -> html.Div:
    return html.Div(
        [
            html.H3("Submit a task", className="mb-3"),
            dbc.Form(
                [
                    _row(
                        "Kind",
                        dbc.RadioItems(
                            id=ids.S_KIND,
                            value="command",
                            inline=True,
                            options=[
                                {"label": k.value, "value": k.value}
                                for k in TaskKind
                                if k is not TaskKind.CELERY
                            ],
                        ),
                    ),
                    _row(
                        "Title / goal",
                        dbc.Input(id=ids.S_TITLE, placeholder="What should be achieved?", maxLength=500),
                    ),
                    _row(
                        "Command",
                        dbc.Textarea(id=ids.S_COMMAND, placeholder="e.g. python agent.py --goal ...", rows=2),
                        "command tasks: run by /bin/sh; print JSON lines to report progress (see README)",
                    ),
                    _row(
                        "Payload (JSON)",
                        dbc.Textarea(
                            id=ids.S_PAYLOAD,
                            rows=3,
                            placeholder='{"callable": "worker.examples:count_to", "n": 5}',
                        ),
                        "python tasks need a callable; demo tasks take speed, fail_rate, hang_rate",
                    ),
                    _row("Priority", dbc.Input(id=ids.S_PRIORITY, type="number", value=0, step=1)),
                    _row("Tags", dbc.Input(id=ids.S_TAGS, placeholder="comma-separated")),
                    _row("Max iterations", dbc.Input(id=ids.S_MAX_ITERATIONS, type="number", min=1, step=1)),
                    _row(
                        "Max attempts",
                        dbc.Input(id=ids.S_MAX_ATTEMPTS, type="number", value=1, min=1, step=1),
                    ),
                    _row("Timeout (s)", dbc.Input(id=ids.S_TIMEOUT, type="number", min=0)),
                    dbc.Button("Submit", id=ids.S_BUTTON, color="primary"),
                ]
            ),
            html.Div(id=ids.S_FEEDBACK, className="mt-3"),
        ],
        style={"maxWidth": "52rem"},
    )


def build_spec(
    kind: str | None,
    title: Any,
    command: Any,
    payload_text: Any,
    priority: Any,
    tags: Any,
    max_iterations: Any,
    max_attempts: Any,
    timeout: Any,
) -> TaskSpec:
    """Form values -> TaskSpec, raising SpecError naming the field at fault."""
    payload: dict[str, Any] = {}
    if payload_text and str(payload_text).strip():
        try:
            payload = json.loads(payload_text)
        except json.JSONDecodeError as exc:
            raise SpecError("payload", f"is not valid JSON ({exc.msg} at line {exc.lineno})") from None
        if not isinstance(payload, dict):
            raise SpecError("payload", "must be a JSON object")
    if command and str(command).strip():
        payload["command"] = str(command)
    return TaskSpec(
        title=str(title or ""),
        kind=TaskKind(kind or "command"),
        payload=payload,
        priority=whole_number("priority", priority, 0),
        tags=tuple(t for t in str(tags or "").split(",")),
        created_by="dashboard",
        max_attempts=whole_number("max_attempts", max_attempts, 1),
        max_iterations=whole_number("max_iterations", max_iterations, None),
        timeout_seconds=number("timeout_seconds", timeout),
    )


def submit(svc: Services, kind: str | None, *values: Any) -> tuple[Any, ...]:
    """Returns the feedback and, per input, whether it is invalid."""
    flags = {i: False for i in INPUTS}
    denied = access.dashboard_denied(svc, "operator")
    if denied:
        return (dbc.Alert(denied, color="danger", className="py-2"), *flags.values())
    try:
        spec = build_spec(kind, *values)
    except SpecError as exc:
        bad = FIELDS.get(exc.field, ids.S_PAYLOAD)
        flags[bad] = bad in flags
        message = dbc.Alert(f"{exc.field}: {exc.message}", color="danger", className="py-2")
        return (message, *flags.values())
    who = access.dashboard_actor(svc)
    task_id = svc.recorder.submit(spec, actor=who)
    access.audit(svc, who, "task.create", f"task:{task_id}", {"via": "dashboard"})
    done = dbc.Alert(
        ["Submitted ", dcc.Link(f"task #{task_id}", href=f"/tasks/{task_id}", id="submit-created-link"), "."],
        color="success",
        className="py-2",
    )
    return (done, *flags.values())


def register(app: dash.Dash, svc: Services) -> None:
    @app.callback(
        Output(ids.S_FEEDBACK, "children"),
        *[Output(i, "invalid") for i in INPUTS],
        Input(ids.S_BUTTON, "n_clicks"),
        State(ids.S_KIND, "value"),
        *[State(i, "value") for i in INPUTS],
        prevent_initial_call=True,
    )
    def _submit(_clicks: int | None, kind: str | None, *values: Any) -> Any:
        return submit(svc, kind, *values)
