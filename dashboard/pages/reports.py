"""Dashboard layer: the Reports page — every report run (period, trigger, status with progress and stage while
it builds, errors, files to download, delivery), "Generate now" for any period, filters and formats, and the
schedules' editor; plus the view behind the download links (/reports/files/<run>/<name>)."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import available_timezones

import dash
import dash_bootstrap_components as dbc
from dash import MATCH, Input, Output, State, dcc, html
from flask import abort, send_from_directory
from flask.typing import ResponseReturnValue

from dashboard import access, ids
from dashboard.components.download import download_link, export_url
from dashboard.components.reports import next_run_text, runs_table, schedule_card, timezone_datalist
from dashboard.navigation import NavEntry
from dashboard.services import Services
from db.core.timeutil import utcnow
from db.domain.states import TaskKind
from db.read.scope import Scope
from db.reporting import queries as report_queries
from db.reporting import schedules as report_schedules
from db.reporting import store
from db.reporting.schedules import REPORT_FORMATS, ScheduleError
from db.reporting.store import RunRequest
from reports.period import PeriodKind
from reports.requests import manual_request
from reports.schedule import next_fire

PATH = "/reports"
TITLE = "Reports"
NAV = NavEntry("Reports", 7)
RUNS_SHOWN = 50

FORM_INPUTS = {"from": ids.RPT_FROM, "to": ids.RPT_TO, "tag": ids.RPT_TAG}  # field -> input that shows it
SCHEDULE_INPUTS = {  # field -> the schedule input marked invalid
    "time": ids.SCHED_TIME,
    "weekday": ids.SCHED_WEEKDAY,
    "day_of_month": ids.SCHED_DAY,
    "timezone": ids.SCHED_TZ,
    "tag": ids.SCHED_TAG,
    "recipients": ids.SCHED_RECIPIENTS,
    "webhook_url": ids.SCHED_WEBHOOK,
}
FIELD_LABELS = {
    "day_of_month": "day of month",
    "webhook_url": "webhook",
    "tag": "tags",
    "timezone": "time zone",
}
MEDIA_TYPES = {
    ".html": "text/html",  # Werkzeug adds "; charset=utf-8" to text types
    ".pdf": "application/pdf",
    ".json": "application/json",
    ".csv": "text/csv",
}
# Served inline (opened in the browser); anything else downloads.
INLINE = (".html", ".pdf", ".json")


@lru_cache(maxsize=1)
def timezones() -> list[str]:
    return sorted(available_timezones())


def _generate_form() -> dbc.Card:
    return dbc.Card(
        [
            dbc.CardHeader("Generate now"),
            dbc.CardBody(
                [
                    dbc.Row(
                        [
                            dbc.Col(
                                [
                                    dbc.Label("Period", className="small mb-1", html_for=ids.RPT_PERIOD),
                                    dbc.Select(
                                        id=ids.RPT_PERIOD,
                                        value="weekly",
                                        options=[{"label": k.value, "value": k.value} for k in PeriodKind],
                                    ),
                                ],
                                md=2,
                            ),
                            dbc.Col(
                                [
                                    dbc.Label(
                                        "From (empty: the last complete one)",
                                        className="small mb-1",
                                        html_for=ids.RPT_FROM,
                                    ),
                                    dbc.Input(id=ids.RPT_FROM, type="date"),
                                ],
                                md=3,
                            ),
                            dbc.Col(
                                [
                                    dbc.Label(
                                        "To (custom, included)", className="small mb-1", html_for=ids.RPT_TO
                                    ),
                                    dbc.Input(id=ids.RPT_TO, type="date", disabled=True),
                                ],
                                md=2,
                            ),
                            dbc.Col(
                                [
                                    dbc.Label("Only tags", className="small mb-1"),
                                    dbc.Input(id=ids.RPT_TAG, placeholder="comma-separated"),
                                ],
                                md=2,
                            ),
                            dbc.Col(
                                [
                                    dbc.Label("Only kinds (none: all)", className="small mb-1"),
                                    dbc.Checklist(
                                        id=ids.RPT_KIND,
                                        options=[{"label": k.value, "value": k.value} for k in TaskKind],
                                        value=[],
                                        inline=True,
                                    ),
                                ],
                                md=3,
                            ),
                        ],
                        className="g-2 mb-2",
                    ),
                    html.Div(
                        [
                            dbc.Checklist(
                                id=ids.RPT_FORMATS,
                                options=[{"label": f.upper(), "value": f} for f in REPORT_FORMATS],
                                value=["html", "pdf"],
                                inline=True,
                                className="me-3",
                            ),
                            dbc.Button("Generate", id=ids.RPT_GENERATE, color="primary", size="sm"),
                            html.Div(id=ids.RPT_FEEDBACK, className="ms-3 flex-grow-1"),
                        ],
                        className="d-flex align-items-center",
                    ),
                ]
            ),
        ],
        className="mb-4",
    )


def layout(**_: Any) -> html.Div:
    return html.Div(
        [
            html.H3("Reports", className="mb-3"),
            dcc.Store(id=ids.RPT_VERSION, data=0),
            _generate_form(),
            html.Div(
                [
                    html.H5("Runs", className="mb-0"),
                    download_link(ids.EXPORT_REPORT_RUNS, export_url("report-runs")),
                ],
                className="d-flex justify-content-between align-items-center mb-2",
            ),
            html.Div(id=ids.RPT_RUNS, className="mb-4"),
            html.H5("Schedules"),
            html.P(
                "Each schedule reports on the last complete UTC day, ISO week or month before it runs. "
                "A run missed while no worker was up is made once when one returns (only the latest).",
                className="small text-muted",
            ),
            timezone_datalist(timezones()),
            # Filled once per visit (not on every push): a redraw would wipe an edit in progress.
            html.Div(id=ids.RPT_SCHEDULES),
        ]
    )


# ---- work, as plain functions of (services, inputs) ------------------------------------------------------
def runs_view(svc: Services) -> Any:
    with svc.db.reading() as session:
        return runs_table(store.list_runs(session, RUNS_SHOWN))


def schedules_view(svc: Services) -> list[Any]:
    now = utcnow()
    with svc.db.reading() as session:
        schedules = report_schedules.list_schedules(session)
    if not schedules:
        return [html.Div("No schedules.", className="text-muted")]
    return [schedule_card(s, next_fire(s, now)) for s in schedules]


PERIOD_NOUNS = {"daily": "day", "weekly": "week", "monthly": "month", "custom": "period"}


def _label(field: str) -> str:
    return FIELD_LABELS.get(field, field)


def generate(
    svc: Services, period: Any, start: Any, end: Any, kinds: Any, tags: Any, formats: Any
) -> tuple[Any, bool, dict[str, bool]]:
    """Queue a manual run. Returns the feedback, whether a run was queued, and per form input whether it is
    invalid."""
    flags = {name: False for name in FORM_INPUTS}
    denied = access.dashboard_denied(svc, "operator")
    if denied:
        return dbc.Alert(denied, color="danger", className="py-1 mb-0"), False, flags
    try:
        request = manual_request(period, start, end, kinds, tags, formats, now=utcnow())
    except ScheduleError as exc:
        if exc.field in flags:
            flags[exc.field] = True
        alert = dbc.Alert(f"{_label(exc.field)}: {exc.message}", color="danger", className="py-1 mb-0")
        return alert, False, flags
    if not start:
        empty = _empty_period_note(svc, request)
        if empty is not None:
            return empty, False, flags
    with svc.recorder.transaction() as session:
        run_id = store.enqueue_run(session, request, utcnow(), actor=access.dashboard_actor(svc))
    text = f"Run #{run_id} queued; it appears below and a worker builds it now."
    return dbc.Alert(text, color="success", className="py-1 mb-0", duration=6000), True, flags


def _empty_period_note(svc: Services, request: RunRequest) -> dbc.Alert | None:
    """On a new install the last complete period holds no task: rather than queue an empty report, say so and
    offer the current period so far (From = today picks the period containing today)."""
    scope = Scope(request.period_start, request.period_end, "custom", request.kinds, request.tags)
    with svc.db.reading() as session:
        if report_queries.has_tasks(session, scope):
            return None
    last = request.period_end - timedelta(seconds=1)
    first = f"{request.period_start:%Y-%m-%d}"
    what = first if last.date() == request.period_start.date() else f"{first} to {last:%Y-%m-%d}"
    today = utcnow().date().isoformat()
    return dbc.Alert(
        [
            html.Span(f"The last complete {PERIOD_NOUNS[request.period_kind]} ({what}, UTC) has no tasks: "),
            html.Span("nothing to report yet. For the current one so far, set From to today "),
            html.Code(today),
            html.Span(" and press Generate."),
        ],
        color="info",
        className="py-1 mb-0",
        id=ids.RPT_EMPTY_NOTE,
    )


def save_schedule(
    svc: Services,
    schedule_id: int,
    enabled: Any,
    time: Any,
    weekday: Any,
    day_of_month: Any,
    timezone: Any,
    formats: Any,
    kinds: Any,
    tags: Any,
    recipients: Any,
    webhook: Any,
) -> tuple[Any, Any, dict[str, bool]]:
    """Validate and store one schedule's edit. Returns the feedback, the new "next run" text (or no_update),
    and per input whether it is invalid."""
    flags = {name: False for name in SCHEDULE_INPUTS}
    denied = access.dashboard_denied(svc, "admin")
    if denied:
        return dbc.Alert(denied, color="danger", className="py-1 mb-0"), dash.no_update, flags
    now = utcnow()
    try:
        with svc.recorder.transaction() as session:
            current = report_schedules.get_schedule(session, schedule_id)
            if current is None:
                raise ScheduleError("schedule", "was deleted; reload the page")
            edit = report_schedules.parse_schedule_edit(
                current.period,
                enabled=enabled,
                time=time,
                weekday=weekday,
                day_of_month=day_of_month,
                timezone=timezone,
                formats=formats,
                kinds=kinds,
                tags=tags,
                recipients=recipients,
                webhook_url=webhook,
            )
            saved = report_schedules.update_schedule(session, schedule_id, edit, now)
    except ScheduleError as exc:
        if exc.field in flags:
            flags[exc.field] = True
        alert = dbc.Alert(f"{_label(exc.field)}: {exc.message}", color="danger", className="py-1 mb-0")
        return alert, dash.no_update, flags
    access.audit(
        svc,
        access.dashboard_actor(svc),
        "schedule.update",
        f"schedule:{schedule_id}",
        {"enabled": saved.enabled},
    )
    message = f"Saved: {saved.when}." if saved.enabled else "Saved: disabled."
    color = "success"
    if saved.recipients and not svc.settings.smtp_host:
        message += " E-mail is not configured here (TASKLENS_SMTP_HOST), so recipients will not be mailed."
        color = "warning"
    alert = dbc.Alert(
        message, color=color, className="py-1 mb-0", duration=None if color == "warning" else 6000
    )
    return alert, next_run_text(saved, next_fire(saved, now)), flags


def serve_file(svc: Services, run_id: int, name: str) -> ResponseReturnValue:
    """A file of a run, by a name recorded on that run only (never a path from the request)."""
    with svc.db.reading() as session:
        run = store.get_run(session, run_id)
    if run is None or name not in run.file_names:
        abort(404)
    folder = svc.settings.reports_path / str(run_id)
    suffix = Path(name).suffix.lower()
    response = send_from_directory(
        folder,
        name,
        mimetype=MEDIA_TYPES.get(suffix, "application/octet-stream"),
        as_attachment=suffix not in INLINE,
        download_name=name,
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    if suffix == ".html":
        # The report's own scripts (plotly) run, but in an opaque origin: nothing in a report can reach the
        # dashboard's cookies or API, whatever a task wrote into it.
        response.headers["Content-Security-Policy"] = "sandbox allow-scripts allow-popups allow-downloads"
    return response


def register(app: dash.Dash, svc: Services) -> None:
    @app.callback(Output(ids.RPT_RUNS, "children"), Input(ids.SIGNAL, "data"), Input(ids.RPT_VERSION, "data"))
    def _runs(_signal: Any, _version: int) -> Any:
        # report.run events (queued, each stage, done, failed) come through the live signal like task events.
        return runs_view(svc)

    @app.callback(Output(ids.RPT_SCHEDULES, "children"), Input(ids.RPT_SCHEDULES, "id"))
    def _schedules(_id: str) -> Any:
        return schedules_view(svc)

    @app.callback(Output(ids.RPT_TO, "disabled"), Input(ids.RPT_PERIOD, "value"))
    def _to_enabled(period: str | None) -> bool:
        return period != PeriodKind.CUSTOM.value

    @app.callback(
        Output(ids.RPT_FEEDBACK, "children"),
        Output(ids.RPT_VERSION, "data"),
        *[Output(i, "invalid") for i in FORM_INPUTS.values()],
        Input(ids.RPT_GENERATE, "n_clicks"),
        State(ids.RPT_PERIOD, "value"),
        State(ids.RPT_FROM, "value"),
        State(ids.RPT_TO, "value"),
        State(ids.RPT_KIND, "value"),
        State(ids.RPT_TAG, "value"),
        State(ids.RPT_FORMATS, "value"),
        State(ids.RPT_VERSION, "data"),
        prevent_initial_call=True,
    )
    def _generate(_n: int | None, *values: Any) -> Any:
        *form, version = values
        feedback, queued, flags = generate(svc, *form)
        return feedback, (version or 0) + 1 if queued else dash.no_update, *flags.values()

    def sid(kind: str) -> dict[str, Any]:
        return {"type": kind, "id": MATCH}

    @app.callback(
        Output(sid(ids.SCHED_FEEDBACK), "children"),
        Output(sid(ids.SCHED_NEXT), "children"),
        *[Output(sid(i), "invalid") for i in SCHEDULE_INPUTS.values()],
        Input(sid(ids.SCHED_SAVE), "n_clicks"),
        State(sid(ids.SCHED_ENABLED), "value"),
        State(sid(ids.SCHED_TIME), "value"),
        State(sid(ids.SCHED_WEEKDAY), "value"),
        State(sid(ids.SCHED_DAY), "value"),
        State(sid(ids.SCHED_TZ), "value"),
        State(sid(ids.SCHED_FORMATS), "value"),
        State(sid(ids.SCHED_KIND), "value"),
        State(sid(ids.SCHED_TAG), "value"),
        State(sid(ids.SCHED_RECIPIENTS), "value"),
        State(sid(ids.SCHED_WEBHOOK), "value"),
        prevent_initial_call=True,
    )
    def _save(n: int | None, *values: Any) -> Any:
        trigger = dash.ctx.triggered_id
        if not n or not isinstance(trigger, dict):
            raise dash.exceptions.PreventUpdate
        feedback, next_text, flags = save_schedule(svc, int(trigger["id"]), *values)
        return feedback, next_text, *flags.values()
