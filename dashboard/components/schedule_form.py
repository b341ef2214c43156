"""Dashboard layer: the Schedules page's form (new and edit, in a dialog) — its fields, form values from a
stored schedule, and form values to a ScheduleSpec, which does every check the API and the CLI do. Pure
functions, tested without a browser."""

from __future__ import annotations

import json
from functools import cache
from typing import Any
from zoneinfo import available_timezones

import dash_bootstrap_components as dbc
from dash import html

from dashboard.formvalues import number, whole_number
from db.control.task_schedules import (
    CATCH_UP,
    CONCURRENCY,
    ScheduleSpec,
    ScheduleSpecError,
    parse_end,
    parse_payload,
)
from db.domain.ops import SpecError
from db.domain.states import TaskKind

MODAL = "schedule-form"
HEADING = "schedule-form-heading"
EDITING = "schedule-form-editing"  # the id of the schedule being edited; None for a new one
ALERT = "schedule-form-alert"
SAVE = "schedule-form-save"
CANCEL = "schedule-form-cancel"
TZ_LIST = "schedule-form-zones"
KINDS = (
    TaskKind.COMMAND,
    TaskKind.PYTHON,
    TaskKind.DEMO,
)  # external tasks are reported, never scheduled here

# The form's inputs in callback order: key -> component id.
FIELDS: dict[str, str] = {
    "name": "sf-name",
    "title": "sf-title",
    "kind": "sf-kind",
    "command": "sf-command",
    "callable": "sf-callable",
    "args": "sf-args",
    "tags": "sf-tags",
    "priority": "sf-priority",
    "timeout": "sf-timeout",
    "max_attempts": "sf-max-attempts",
    "trigger": "sf-trigger",
    "cron": "sf-cron",
    "timezone": "sf-timezone",
    "interval": "sf-interval",
    "catch_up": "sf-catch-up",
    "concurrency": "sf-concurrency",
    "max_runs": "sf-max-runs",
    "end": "sf-end",
    "paused": "sf-paused",
}
# A ScheduleSpecError's field (as the API names it) -> the form key whose input shows it.
ERROR_AT = {
    "name": "name",
    "title": "title",
    "kind": "kind",
    "payload": "args",
    "payload.command": "command",
    "payload.callable": "callable",
    "tags": "tags",
    "priority": "priority",
    "timeout_seconds": "timeout",
    "max_attempts": "max_attempts",
    "cron": "cron",
    "timezone": "timezone",
    "interval_seconds": "interval",
    "catch_up": "catch_up",
    "concurrency": "concurrency",
    "max_runs": "max_runs",
    "end_at": "end",
}
# Inputs that can be marked invalid (radio items and the checkbox have no `invalid` prop: their errors show below).
CHECKED = [k for k in FIELDS if k not in ("kind", "trigger", "paused")]
TOGGLED = ("command", "callable", "cron", "timezone", "interval", "paused")  # rows shown or hidden


def row_id(key: str) -> str:
    return f"{FIELDS[key]}-row"


def feedback_id(key: str) -> str:
    return f"{FIELDS[key]}-error"


@cache
def zones() -> tuple[str, ...]:
    return tuple(sorted(available_timezones()))


def blank() -> dict[str, Any]:
    """A new schedule's form: a command run every five minutes, UTC, catching up the latest missed run."""
    return {
        "name": "",
        "title": "",
        "kind": TaskKind.COMMAND.value,
        "command": "",
        "callable": "",
        "args": "",
        "tags": "",
        "priority": 0,
        "timeout": None,
        "max_attempts": 1,
        "trigger": "cron",
        "cron": "*/5 * * * *",
        "timezone": "UTC",
        "interval": None,
        "catch_up": "latest",
        "concurrency": "allow",
        "max_runs": None,
        "end": "",
        "paused": [],
    }


def values_of(row: dict[str, Any]) -> dict[str, Any]:
    """The form filled in from a stored schedule (a row of db.control.task_schedules)."""
    payload = dict(row["payload"] or {})
    command = payload.get("command")
    target = payload.get("callable")
    # A command given as a list (API) stays in the arguments, where it round-trips unchanged.
    shown_command = payload.pop("command") if isinstance(command, str) else ""
    shown_callable = payload.pop("callable") if isinstance(target, str) else ""
    return {
        "name": row["name"],
        "title": row["title"],
        "kind": row["kind"],
        "command": shown_command,
        "callable": shown_callable,
        "args": json.dumps(payload, indent=1) if payload else "",
        "tags": ", ".join(row["tags"] or []),
        "priority": row["priority"],
        "timeout": row["timeout_seconds"],
        "max_attempts": row["max_attempts"],
        "trigger": "cron" if row["cron"] else "interval",
        "cron": row["cron"] or "",
        "timezone": row["timezone"],
        "interval": row["interval_seconds"],
        "catch_up": row["catch_up"],
        "concurrency": row["concurrency"],
        "max_runs": row["max_runs"],
        "end": row["end_at"].isoformat(timespec="minutes") if row["end_at"] else "",
        "paused": [] if row["enabled"] else ["paused"],
    }


def build_spec(values: dict[str, Any], created_by: str) -> ScheduleSpec:
    """Form values -> ScheduleSpec. Raises ScheduleSpecError or SpecError naming the field (as the API would)."""
    kind = str(values.get("kind") or "")
    payload = parse_payload(values.get("args"))
    if kind == TaskKind.COMMAND.value and str(values.get("command") or "").strip():
        payload["command"] = str(values["command"])
    if kind == TaskKind.PYTHON.value and str(values.get("callable") or "").strip():
        payload["callable"] = str(values["callable"]).strip()
    by_cron = values.get("trigger") != "interval"
    interval = None if by_cron else number("interval_seconds", values.get("interval"))
    if not by_cron and interval is None:
        raise ScheduleSpecError("interval_seconds", "give the interval in seconds")
    title = str(values.get("title") or "")
    return ScheduleSpec(
        name=str(values.get("name") or "").strip() or title,
        title=title,
        kind=kind,  # type: ignore[arg-type]  # checked (and converted) by the spec, which names the field
        payload=payload,
        tags=tuple(str(values.get("tags") or "").split(",")),
        priority=whole_number("priority", values.get("priority"), 0),
        timeout_seconds=number("timeout_seconds", values.get("timeout")),
        max_attempts=whole_number("max_attempts", values.get("max_attempts"), 1),
        cron=str(values.get("cron") or "").strip() if by_cron else None,
        interval_seconds=interval,
        timezone=str(values.get("timezone") or "").strip() or "UTC",
        catch_up=str(values.get("catch_up") or ""),
        concurrency=str(values.get("concurrency") or ""),
        max_runs=whole_number("max_runs", values.get("max_runs"), None),
        end_at=parse_end(values.get("end")),
        enabled="paused" not in (values.get("paused") or []),
        created_by=created_by,
    )


def error_key(exc: ScheduleSpecError | SpecError) -> str | None:
    """The form key whose input shows an error, or None when no input does (the alert alone says it)."""
    return ERROR_AT.get(exc.field)


# ---- layout --------------------------------------------------------------------------------------------
def _row(key: str, label: str, control: Any, help_: str = "") -> html.Div:
    return html.Div(
        [
            dbc.Label(label, html_for=FIELDS[key], className="mb-1"),
            control,
            html.Div(id=feedback_id(key), className="invalid-feedback d-block", role="alert")
            if key in CHECKED
            else None,
            dbc.FormText(help_) if help_ else None,
        ],
        className="mb-2",
        id=row_id(key),  # some are shown or hidden by the kind and trigger chosen
    )


def _side_by_side(*rows: html.Div) -> dbc.Row:
    return dbc.Row([dbc.Col(r, sm=12 // len(rows)) for r in rows], className="g-2")


def _choice(key: str, options: tuple[str, ...]) -> dbc.Select:
    return dbc.Select(id=FIELDS[key], options=[{"label": o, "value": o} for o in options])


def modal() -> dbc.Modal:
    f = FIELDS
    task = [
        _row("title", "Title", dbc.Input(id=f["title"], maxLength=500), "each task's title / goal"),
        _row(
            "name",
            "Name",
            dbc.Input(id=f["name"], maxLength=200),
            "unique; the CLI's handle (default: title)",
        ),
        _row(
            "kind",
            "Kind",
            dbc.RadioItems(
                id=f["kind"], inline=True, options=[{"label": k.value, "value": k.value} for k in KINDS]
            ),
        ),
        _row(
            "command",
            "Command",
            dbc.Textarea(id=f["command"], rows=2, placeholder="e.g. ./sync.sh --full"),
            "run by /bin/sh",
        ),
        _row(
            "callable",
            "Callable",
            dbc.Input(id=f["callable"], placeholder="pkg.module:function"),
            "dotted path of a python function",
        ),
        _row(
            "args",
            "Arguments (JSON)",
            dbc.Textarea(id=f["args"], rows=2, placeholder='{"n": 10}'),
            "payload keys: a python task's arguments; demo tasks take speed, fail_rate, hang_rate",
        ),
        _row("tags", "Tags", dbc.Input(id=f["tags"], placeholder="comma-separated")),
        _side_by_side(
            _row("priority", "Priority", dbc.Input(id=f["priority"], type="number", step=1)),
            _row("timeout", "Timeout (s)", dbc.Input(id=f["timeout"], type="number", min=0), "blank: none"),
            _row(
                "max_attempts", "Max attempts", dbc.Input(id=f["max_attempts"], type="number", min=1, step=1)
            ),
        ),
    ]
    when = [
        _row(
            "trigger",
            "Trigger",
            dbc.RadioItems(
                id=f["trigger"],
                inline=True,
                options=[{"label": "cron", "value": "cron"}, {"label": "interval", "value": "interval"}],
            ),
        ),
        _row(
            "cron",
            "Cron expression",
            dbc.Input(id=f["cron"], placeholder="*/5 * * * *", maxLength=200),
            "minute hour day month weekday",
        ),
        _row(
            "timezone",
            "Time zone",
            html.Div(
                [
                    dbc.Input(id=f["timezone"], list=TZ_LIST, maxLength=64, autoComplete="off"),
                    html.Datalist(id=TZ_LIST, children=[html.Option(value=z) for z in zones()]),
                ]
            ),
            "IANA, e.g. Europe/Berlin",
        ),
        _row(
            "interval",
            "Every (s)",
            dbc.Input(id=f["interval"], type="number", min=1),
            "counted from when it is switched on",
        ),
        _row(
            "catch_up", "Catch-up", _choice("catch_up", CATCH_UP), "latest: run the latest missed time once"
        ),
        _row(
            "concurrency",
            "Concurrency",
            _choice("concurrency", CONCURRENCY),
            "skip: no task while the previous one is queued or running",
        ),
        _side_by_side(
            _row(
                "max_runs",
                "Max runs",
                dbc.Input(id=f["max_runs"], type="number", min=1, step=1),
                "blank: no limit",
            ),
            _row("end", "Ends (UTC)", dbc.Input(id=f["end"], type="datetime-local"), "blank: never"),
        ),
        _row(
            "paused",
            "Start paused",
            dbc.Checklist(id=f["paused"], options=[{"label": "create it switched off", "value": "paused"}]),
        ),
    ]
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle("New schedule", id=HEADING)),
            dbc.ModalBody(
                [
                    html.Div(id=ALERT, role="status"),
                    dbc.Form(
                        dbc.Row(
                            [
                                dbc.Col([html.H5("Task", className="h6 text-muted"), *task], md=6),
                                dbc.Col([html.H5("When", className="h6 text-muted"), *when], md=6),
                            ]
                        )
                    ),
                ]
            ),
            dbc.ModalFooter(
                [
                    dbc.Button("Cancel", id=CANCEL, color="secondary", outline=True),
                    dbc.Button("Save", id=SAVE, color="primary"),
                ]
            ),
        ],
        id=MODAL,
        is_open=False,
        size="xl",
        scrollable=True,
    )
