"""Dashboard layer: the Schedules page — every task schedule with its trigger, state, next run, runs so far
and its latest task's outcome; a dialog to create or edit one (validated by db.control.task_schedules.ScheduleSpec,
as the API and the CLI are), pause, resume and remove. Role-checked as the API (changes operator, remove
admin) and audited as the dashboard's user. Live: a push (a schedule changing, a scheduled task's events)
re-reads the table. The work is in module-level functions of (services, inputs) that tests call directly."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, State, ctx, html

from dashboard import access, ids
from dashboard.components import schedule_form as form
from dashboard.components.schedules import ACTION, schedules_table
from dashboard.navigation import NavEntry
from dashboard.services import Services
from db.access.audit import record
from db.control import schedule_fire, task_schedules
from db.core.timeutil import utcnow
from db.domain.ops import SpecError

PATH = "/schedules"
TITLE = "Schedules"
NAV = NavEntry("Schedules", 8)
SCHEDULES_TABLE = "schedules-table"
NEW = "schedules-new"
RESULT = "schedules-result"  # what the last action did (or why it was refused)
VERSION = "schedules-version"  # bumped by every change made here, so the table redraws at once
CONFIRM = "schedules-remove-confirm"
CONFIRM_TEXT = "schedules-remove-text"
CONFIRM_YES = "schedules-remove-yes"
CONFIRM_NO = "schedules-remove-no"
REMOVING = "schedules-removing"  # the schedule id the confirm dialog is about
ROLE = {
    "create": "operator",
    "edit": "operator",
    "pause": "operator",
    "resume": "operator",
    "remove": "admin",
}


def layout(**_: Any) -> html.Div:
    return html.Div(
        [
            dash.dcc.Store(id=form.EDITING),
            dash.dcc.Store(id=VERSION, data=0),
            dash.dcc.Store(id=REMOVING),
            html.Div(
                [
                    html.H3("Schedules", className="mb-0 me-auto"),
                    dbc.Button("New schedule", id=NEW, color="primary", size="sm"),
                ],
                className="d-flex align-items-center mb-3",
            ),
            html.Div(id=RESULT, role="status"),
            html.Div(id=SCHEDULES_TABLE),
            html.Div(
                "Also: python app.py schedule add|list|pause|resume|remove, and /api/v1/schedules.",
                className="small text-muted",
            ),
            form.modal(),
            dbc.Modal(
                [
                    dbc.ModalHeader(dbc.ModalTitle("Remove schedule")),
                    dbc.ModalBody(id=CONFIRM_TEXT),
                    dbc.ModalFooter(
                        [
                            dbc.Button("Cancel", id=CONFIRM_NO, color="secondary", outline=True),
                            dbc.Button("Remove", id=CONFIRM_YES, color="danger"),
                        ]
                    ),
                ],
                id=CONFIRM,
                is_open=False,
            ),
        ]
    )


def table(svc: Services) -> Any:
    now = utcnow()
    with svc.db.reading() as session:
        rows = task_schedules.list_all(session)
        last = task_schedules.last_runs(session, [r["id"] for r in rows])
    return schedules_table([(r, schedule_fire.next_fire(r, now), last.get(r["id"])) for r in rows])


def _alert(text: Any, color: str) -> dbc.Alert:
    return dbc.Alert(text, color=color, className="py-2", dismissable=color != "danger")


def open_form(svc: Services, schedule_id: int | None) -> tuple[str, int | None, dict[str, Any]]:
    """The dialog's heading, the id being edited and its values: blank for a new schedule, the stored ones for
    an edit. A schedule removed meanwhile opens nothing (the alert says so)."""
    if schedule_id is None:
        return "New schedule", None, form.blank()
    try:
        with svc.db.reading() as session:
            row = task_schedules.find(session, schedule_id)
    except task_schedules.ScheduleNotFound:
        raise LookupError(f"Schedule {schedule_id} was removed meanwhile.") from None
    return f"Edit schedule #{schedule_id}", schedule_id, form.values_of(row)


def save(svc: Services, editing: int | None, values: dict[str, Any]) -> tuple[bool, Any, str | None, Any]:
    """Creates or edits. Returns (saved, alert, key of the input at fault, that input's message); nothing is
    stored unless every check passes."""
    action = "create" if editing is None else "edit"
    denied = access.dashboard_denied(svc, ROLE[action])
    if denied:
        return False, _alert(denied, "danger"), None, None
    who = access.dashboard_actor(svc)
    now = utcnow()
    try:
        spec = form.build_spec(values, who)
        with svc.recorder.transaction() as session:
            if editing is None:
                schedule_id = task_schedules.create(session, spec, now)
            else:
                schedule_id = int(task_schedules.edit(session, editing, spec, now, who)["id"])
            # In the change's own transaction: the audit row exists exactly when the change does.
            record(
                session, who, f"schedule.{action}", f"schedule:{schedule_id}", {"name": spec.name}, now=now
            )
    except (task_schedules.ScheduleSpecError, SpecError) as exc:
        key = form.error_key(exc)
        return False, _alert(f"{exc.field}: {exc.message}. Nothing was saved.", "danger"), key, exc.message
    except task_schedules.ScheduleNotFound:
        return (
            False,
            _alert(f"Schedule {editing} was removed meanwhile; nothing was saved.", "warning"),
            None,
            None,
        )
    done = "created" if editing is None else "saved"
    return True, _alert(f"Schedule #{schedule_id} {spec.name!r} {done}.", "success"), None, None


def act(svc: Services, action: str, schedule_id: int) -> Any:
    """Pause, resume or remove one schedule; the alert that says what happened (or why not)."""
    denied = access.dashboard_denied(svc, ROLE[action])
    if denied:
        return _alert(denied, "danger")
    who = access.dashboard_actor(svc)
    now = utcnow()
    try:
        with svc.recorder.transaction() as session:
            if action == "remove":
                row = task_schedules.remove(session, schedule_id, now, who)
            else:
                row = task_schedules.set_enabled(session, schedule_id, action == "resume", now, who)
            record(
                session, who, f"schedule.{action}", f"schedule:{schedule_id}", {"name": row["name"]}, now=now
            )
    except task_schedules.ScheduleNotFound:
        return _alert(f"Schedule {schedule_id} was already removed.", "warning")
    done = {"pause": "paused", "resume": "resumed: it runs from its next fire time", "remove": "removed"}[
        action
    ]
    return _alert(f"Schedule #{schedule_id} {row['name']!r} {done}.", "success")


def _clicked() -> dict[str, Any] | None:
    """The pattern id of the button really clicked (a redrawn table re-fires its inputs with no clicks)."""
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not any(t.get("value") for t in ctx.triggered):
        return None
    return dict(trigger)


def register(app: dash.Dash, svc: Services) -> None:
    keys = list(form.FIELDS)
    checked = form.CHECKED

    @app.callback(Output(SCHEDULES_TABLE, "children"), Input(ids.SIGNAL, "data"), Input(VERSION, "data"))
    def _table(_signal: Any, _version: Any) -> Any:
        return table(svc)

    @app.callback(
        Output(form.MODAL, "is_open"),
        Output(form.HEADING, "children"),
        Output(form.EDITING, "data"),
        Output(form.ALERT, "children"),
        Output(RESULT, "children", allow_duplicate=True),
        *(Output(form.FIELDS[k], "value") for k in keys),
        *(Output(form.FIELDS[k], "invalid") for k in checked),
        *(Output(form.feedback_id(k), "children") for k in checked),
        Input(NEW, "n_clicks"),
        Input({"type": ACTION, "action": "edit", "id": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )
    def _open(_new: Any, _edits: Any) -> Any:
        if ctx.triggered_id == NEW:
            schedule_id = None
        else:
            clicked = _clicked()
            if clicked is None:
                raise dash.exceptions.PreventUpdate
            schedule_id = int(clicked["id"])
        try:
            heading, editing, values = open_form(svc, schedule_id)
        except LookupError as exc:
            return (
                (dash.no_update,) * 4
                + (_alert(str(exc), "warning"),)
                + (dash.no_update,) * (len(keys) + 2 * len(checked))
            )
        return (
            True,
            heading,
            editing,
            None,
            None,
            *(values[k] for k in keys),
            *(False for _ in checked),
            *(None for _ in checked),
        )

    @app.callback(
        Output(form.MODAL, "is_open", allow_duplicate=True),
        Output(form.ALERT, "children", allow_duplicate=True),
        Output(RESULT, "children", allow_duplicate=True),
        Output(VERSION, "data", allow_duplicate=True),
        *(Output(form.FIELDS[k], "invalid", allow_duplicate=True) for k in checked),
        *(Output(form.feedback_id(k), "children", allow_duplicate=True) for k in checked),
        Input(form.SAVE, "n_clicks"),
        State(form.EDITING, "data"),
        State(VERSION, "data"),
        *(State(form.FIELDS[k], "value") for k in keys),
        prevent_initial_call=True,
    )
    def _save(_clicks: Any, editing: int | None, version: int | None, *values: Any) -> Any:
        saved, alert, bad, message = save(svc, editing, dict(zip(keys, values, strict=True)))
        flags = [k == bad for k in checked]
        messages = [message if k == bad else None for k in checked]
        if saved:
            return False, None, alert, (version or 0) + 1, *flags, *messages
        return dash.no_update, alert, dash.no_update, dash.no_update, *flags, *messages

    @app.callback(
        Output(form.MODAL, "is_open", allow_duplicate=True),
        Input(form.CANCEL, "n_clicks"),
        prevent_initial_call=True,
    )
    def _cancel(_clicks: Any) -> bool:
        return False

    @app.callback(
        Output(RESULT, "children", allow_duplicate=True),
        Output(VERSION, "data", allow_duplicate=True),
        Output(CONFIRM, "is_open"),
        Output(CONFIRM_TEXT, "children"),
        Output(REMOVING, "data"),
        Input({"type": ACTION, "action": "pause", "id": ALL}, "n_clicks"),
        Input({"type": ACTION, "action": "resume", "id": ALL}, "n_clicks"),
        Input({"type": ACTION, "action": "remove", "id": ALL}, "n_clicks"),
        Input(CONFIRM_YES, "n_clicks"),
        Input(CONFIRM_NO, "n_clicks"),
        State(REMOVING, "data"),
        State(VERSION, "data"),
        prevent_initial_call=True,
    )
    def _act(*args: Any) -> Any:
        removing, version = args[-2], args[-1]
        if ctx.triggered_id == CONFIRM_NO:
            return dash.no_update, dash.no_update, False, dash.no_update, None
        if ctx.triggered_id == CONFIRM_YES:
            if removing is None:
                raise dash.exceptions.PreventUpdate
            return act(svc, "remove", int(removing)), (version or 0) + 1, False, dash.no_update, None
        clicked = _clicked()
        if clicked is None:
            raise dash.exceptions.PreventUpdate
        schedule_id = int(clicked["id"])
        if clicked["action"] == "remove":
            text = f"Remove schedule #{schedule_id}? The tasks it made stay."
            return dash.no_update, dash.no_update, True, text, schedule_id
        return act(svc, str(clicked["action"]), schedule_id), (version or 0) + 1, False, dash.no_update, None

    # Only the fields of the chosen kind and trigger are shown; "start paused" only for a new schedule.
    app.clientside_callback(
        """
        function(kind, trigger, editing) {
            const show = (on) => (on ? {} : {display: "none"});
            const cron = trigger !== "interval";
            return [show(kind === "command"), show(kind === "python"), show(cron), show(cron), show(!cron),
                    show(editing == null)];
        }
        """,
        *(Output(form.row_id(k), "style") for k in form.TOGGLED),  # in the order the function returns
        Input(form.FIELDS["kind"], "value"),
        Input(form.FIELDS["trigger"], "value"),
        Input(form.EDITING, "data"),
    )
