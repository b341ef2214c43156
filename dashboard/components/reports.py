"""Dashboard layer: the Reports page's pieces — the runs table (status, progress and stage while building,
errors, files with download links, delivery) and a schedule's editor card (pure; everything shown as text)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import html

from dashboard import ids
from dashboard.components.fmt import STATUS_COLORS, duration, when
from dashboard.components.status import elapsed, status_badge
from db.domain.states import TaskKind
from db.reporting.schedules import REPORT_FORMATS, WEEKDAYS, Schedule
from db.reporting.store import Run
from reports.deliver import file_path, filters_text, run_period, size_text

TZ_LIST = "reports-timezones"  # the <datalist> every schedule's time-zone input suggests from
INLINE = ("html", "pdf", "json")


def _status_cell(run: Run) -> list[Any]:
    cell: list[Any] = [status_badge(run.status)]
    if run.status == "running":
        pct = round(run.progress * 100)
        cell += [
            dbc.Progress(
                value=pct,
                label=f"{pct}%",
                striped=True,
                animated=True,
                color=STATUS_COLORS["running"],
                className="my-1 report-progress",
                style={"height": "1rem"},
            ),
            html.Div(run.stage or "", className="small text-muted report-stage"),
            elapsed("running for", run.started_at, None),
        ]
    elif run.status == "queued":
        cell.append(html.Div(run.stage or "waiting for a worker", className="small text-muted report-stage"))
    elif run.status == "failed":
        cell.append(html.Div(run.error or "failed", className="small text-danger text-break report-error"))
    for channel, outcome in sorted(run.delivery.items()):
        label = {"email": "e-mail", "webhook": "webhook"}.get(channel, channel)
        state = str(outcome.get("status", ""))
        text = f"{label} {state}" + (f": {outcome['error']}" if outcome.get("error") else "")
        color = "text-success" if state == "sent" else "text-danger"
        cell.append(html.Div(text, className=f"small {color} text-break report-delivery"))
    return cell


def _files_cell(run: Run) -> list[Any]:
    links: list[Any] = []
    for f in run.files:
        name, fmt = str(f.get("name")), str(f.get("format"))
        if f.get("deleted_at"):
            links.append(
                html.Div(f"{name} · deleted", className="d-block small text-muted report-file-deleted")
            )
            continue
        links.append(
            html.A(
                name,
                href=file_path(run.id, name),
                target="_blank" if fmt in INLINE else None,
                className="d-block small text-break report-file",
            )
        )
    return links


def _trigger_cell(run: Run) -> list[Any]:
    if run.trigger == "schedule":
        cell: list[Any] = [html.Div(run.schedule_name or "schedule (deleted)")]
        if run.scheduled_for:
            cell.append(html.Div(["for ", when(run.scheduled_for)], className="small text-muted"))
        return cell
    return [html.Div("manual"), html.Div(run.requested_by, className="small text-muted")]


def _finished_cell(run: Run) -> list[Any]:
    if run.completed_at is None:
        return ["–"]
    took = (run.completed_at - run.started_at).total_seconds() if run.started_at else None
    return [
        html.Div(when(run.completed_at)),
        html.Div(f"took {duration(took)}", className="small text-muted"),
    ]


def run_row(run: Run) -> html.Tr:
    period = run_period(run)
    return html.Tr(
        [
            html.Td(f"#{run.id}"),
            html.Td(
                [
                    html.Div(period.label),
                    html.Div(
                        f"{run.period_kind} · {filters_text(run.kinds, run.tags)}",
                        className="small text-muted",
                    ),
                ],
                className="tl-wrap",  # the filters: a phrase (assets/tasklens.css)
            ),
            html.Td(_trigger_cell(run)),
            html.Td(_status_cell(run), style={"maxWidth": "28rem"}, className="tl-text"),
            html.Td(_files_cell(run)),
            html.Td(size_text(run.size) if run.kept_files else "–"),
            html.Td(when(run.created_at)),
            html.Td(_finished_cell(run)),
        ],
        id=f"report-run-{run.id}",
        className=f"report-run report-{run.status}",
    )


def runs_table(runs: list[Run]) -> Any:
    if not runs:
        return html.Div(
            "No reports yet. Generate one above, or wait for a schedule below.", className="text-muted"
        )
    head = html.Thead(
        html.Tr(
            [
                html.Th(h)
                for h in ("Run", "Period", "Trigger", "Status", "Files", "Size", "Created", "Finished")
            ]
        )
    )
    return dbc.Table([head, html.Tbody([run_row(r) for r in runs])], hover=True, size="sm", responsive=True)


# ---- schedules ------------------------------------------------------------------------------------------
def next_run_text(schedule: Schedule, next_at: datetime | None) -> str:
    """'every Monday at 08:00 (UTC) · next run Mon 2026-11-23 08:00 UTC', or '… · disabled'."""
    if not schedule.enabled:
        return f"{schedule.when} · disabled"
    if next_at is None:
        return f"{schedule.when} · no next run"
    return f"{schedule.when} · next run {next_at:%a %Y-%m-%d %H:%M} UTC"


def _sid(kind: str, schedule: Schedule) -> dict[str, Any]:
    return {"type": kind, "id": schedule.id}


def _field(label: str, control: Any, width: int, hidden: bool = False) -> dbc.Col:
    return dbc.Col(
        # The control inside its label: a pattern-matched id cannot be named by a label's `for`.
        [
            html.Label(
                [html.Span(label, className="form-label small mb-1 d-block"), control], className="d-block"
            )
        ],
        md=width,
        className="mb-2",
        style={"display": "none"} if hidden else None,
    )


def schedule_card(schedule: Schedule, next_at: datetime | None) -> dbc.Card:
    s = schedule
    weekday = dbc.Select(
        id=_sid(ids.SCHED_WEEKDAY, s),
        value=str(s.weekday if s.weekday is not None else 0),
        options=[{"label": day, "value": str(i)} for i, day in enumerate(WEEKDAYS)],
    )
    day = dbc.Input(
        id=_sid(ids.SCHED_DAY, s), type="number", min=1, max=28, step=1, value=s.day_of_month or 1
    )
    return dbc.Card(
        [
            dbc.CardHeader(
                [
                    html.Strong(s.name, className="me-2"),
                    html.Small(next_run_text(s, next_at), id=_sid(ids.SCHED_NEXT, s), className="text-muted"),
                ]
            ),
            dbc.CardBody(
                [
                    dbc.Row(
                        [
                            _field(
                                "On",
                                dbc.Switch(id=_sid(ids.SCHED_ENABLED, s), value=s.enabled, label="enabled"),
                                2,
                            ),
                            _field(
                                "Time",
                                dbc.Input(id=_sid(ids.SCHED_TIME, s), type="time", value=s.time_text),
                                2,
                            ),
                            _field("Weekday", weekday, 2, hidden=s.period != "weekly"),
                            _field("Day of month", day, 2, hidden=s.period != "monthly"),
                            _field(
                                "Time zone",
                                dbc.Input(
                                    id=_sid(ids.SCHED_TZ, s),
                                    value=s.timezone,
                                    list=TZ_LIST,
                                    placeholder="UTC",
                                ),
                                3,
                            ),
                        ],
                        className="g-2",
                    ),
                    dbc.Row(
                        [
                            _field(
                                "Formats",
                                dbc.Checklist(
                                    id=_sid(ids.SCHED_FORMATS, s),
                                    value=list(s.formats),
                                    options=[{"label": f.upper(), "value": f} for f in REPORT_FORMATS],
                                    inline=True,
                                ),
                                4,
                            ),
                            _field(
                                "Only kinds (none: all)",
                                dbc.Checklist(
                                    id=_sid(ids.SCHED_KIND, s),
                                    value=list(s.kinds),
                                    options=[{"label": k.value, "value": k.value} for k in TaskKind],
                                    inline=True,
                                ),
                                4,
                            ),
                            _field(
                                "Only tags",
                                dbc.Input(
                                    id=_sid(ids.SCHED_TAG, s),
                                    value=", ".join(s.tags),
                                    placeholder="comma-separated",
                                ),
                                4,
                            ),
                        ],
                        className="g-2",
                    ),
                    dbc.Row(
                        [
                            _field(
                                "E-mail to",
                                dbc.Textarea(
                                    id=_sid(ids.SCHED_RECIPIENTS, s),
                                    value=", ".join(s.recipients),
                                    # One address fits a phone's width (two were cut); the rule in the title.
                                    placeholder="ops@example.com, …",
                                    title="Comma-separated e-mail addresses, e.g. ops@example.com, lead@example.com",
                                    rows=1,
                                ),
                                6,
                            ),
                            _field(
                                "Webhook (POST JSON)",
                                dbc.Input(
                                    id=_sid(ids.SCHED_WEBHOOK, s),
                                    value=s.webhook_url or "",
                                    placeholder="https://hooks.example.com/reports",
                                ),
                                6,
                            ),
                        ],
                        className="g-2",
                    ),
                    html.Div(
                        [
                            dbc.Button("Save", id=_sid(ids.SCHED_SAVE, s), color="primary", size="sm"),
                            html.Div(id=_sid(ids.SCHED_FEEDBACK, s), className="ms-3 flex-grow-1"),
                        ],
                        className="d-flex align-items-center",
                    ),
                ]
            ),
        ],
        id=f"schedule-{s.period}",
        className="mb-3 report-schedule",
    )


def timezone_datalist(zones: list[str]) -> html.Datalist:
    return html.Datalist(id=TZ_LIST, children=[html.Option(value=z) for z in zones])
