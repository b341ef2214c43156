"""Dashboard layer: the Data page (admins only; linked from the Database page, not the navbar) — the retention,
archive, backup and redaction settings in effect, the retention horizon, the latest prune, backup, archive,
import, restore and erasure, rows written per day and sizes per table. Refreshed every 5 minutes, not per push:
table sizes may read the whole SQLite file."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, dcc, html

from config import Settings
from dashboard import access
from dashboard.components.cards import level
from dashboard.components.fmt import when
from dashboard.pages.database import size, tables_table
from dashboard.services import Services
from db.analytics import insights
from db.core.timeutil import utcnow
from db.read import datastats
from db.write.redact import SECRET_KEYS

PATH = "/data"
TITLE = "Data"
NAV = None  # not in the navbar (full at 1400 px): the Database page links here
LINKED_FROM = "/database"
DATA_BODY = "data-body"
DATA_TICK = "data-tick"
EVERY_S = 300.0  # like the Database page's table sizes: dbstat may read the whole SQLite file
LABELS = {
    "data.prune": "Last prune",
    "data.backup": "Last backup",
    "data.archive": "Last archive",
    "data.import": "Last import",
    "data.restore": "Last restore",
    "data.erase": "Last erasure",
}


def layout(**_: Any) -> html.Div:
    return html.Div(
        [
            html.Div(
                [
                    html.H3("Data", className="mb-0"),
                    dcc.Link("← Database", href="/database", className="small"),
                ],
                className="d-flex justify-content-between align-items-center mb-3",
            ),
            dcc.Interval(id=DATA_TICK, interval=int(EVERY_S * 1000)),
            html.Div(id=DATA_BODY),
        ]
    )


# ---------------------------------------------------------------- pure builders


def _days(value: float) -> str:
    return f"{value:g} days" if value else "kept forever"


def settings_rows(settings: Settings) -> list[tuple[str, str, str]]:
    """(setting, value, what it does) for the lifecycle settings in effect."""
    return [
        ("TASKLENS_RETAIN_DAYS", _days(settings.retain_days), "finished tasks with everything under them"),
        (
            "TASKLENS_COMPACT_EVENTS_DAYS",
            _days(settings.compact_events_days),
            "finished tasks' progress, activity, call and usage events",
        ),
        ("TASKLENS_AUDIT_RETAIN_DAYS", _days(settings.audit_retain_days), "audit rows"),
        ("TASKLENS_REPORT_RUNS_RETAIN_DAYS", _days(settings.report_runs_retain_days), "finished report runs"),
        ("TASKLENS_ARCHIVE_DIR", "set" if settings.archive_dir else "not set", "pruned tasks archived first"),
        (
            "TASKLENS_BACKUP_DIR",
            f"every {settings.backup_every_hours:g} h, newest {settings.backup_keep} kept"
            if settings.backup_dir
            else "no scheduled backups",
            "scheduled backups",
        ),
        ("TASKLENS_REDACT", _redaction(settings), "redacted before storing"),
    ]


# Rows of a name, its value and what it means: on a phone each row's cells stack (assets/tasklens.css), as
# three columns cut the value at the card's edge and gave the meaning a line per word.
STACKED = "mb-0 tl-stack"


def settings_table(rows: list[tuple[str, str, str]]) -> dbc.Table:
    body = [
        html.Tr([html.Td(html.Code(k)), html.Td(v), html.Td(w, className="text-muted")]) for k, v, w in rows
    ]
    return dbc.Table([html.Tbody(body)], size="sm", responsive=True, className=STACKED)


def _summary(action: str, details: dict[str, Any]) -> str:
    if action in ("data.prune", "data.erase"):
        rows = details.get("rows") or {}
        return ", ".join(f"{n:,} {t}" for t, n in sorted(rows.items())) or "nothing"
    if action == "data.backup":
        return (
            f"{details.get('file', '')} · {size(details.get('bytes'))} · seq ≤ {details.get('max_seq', '–')}"
        )
    if action == "data.archive":
        return f"{details.get('tasks', 0):,} tasks into {details.get('files', 0)} files"
    if action == "data.import":
        return f"{details.get('tasks', 0):,} tasks, {details.get('skipped', 0):,} already there"
    return f"{details.get('rows', 0):,} rows" if action == "data.restore" else ""


def events_table(latest: dict[str, dict[str, Any]], pruned_before: datetime | None) -> dbc.Table:
    body = [
        html.Tr(
            [
                html.Td("Retention horizon"),
                html.Td(when(pruned_before) if pruned_before else "nothing pruned"),
                html.Td("the analytics before it come from the rollups alone", className="text-muted"),
            ]
        )
    ]
    for action, label in LABELS.items():
        entry = latest.get(action)
        body.append(
            html.Tr(
                [
                    html.Td(label),
                    html.Td(when(entry["at"]) if entry else "never"),
                    html.Td(
                        f"{entry['actor']} · {_summary(action, entry['details'])}" if entry else "",
                        className="text-muted text-break",
                    ),
                ]
            )
        )
    return dbc.Table([html.Tbody(body)], size="sm", responsive=True, className=STACKED)


def per_day_table(frame: pd.DataFrame) -> Any:
    if frame.empty:
        return html.Div("Nothing written in the last 30 days.", className="text-muted small")
    head = html.Thead(html.Tr([html.Th(h) for h in ("Day (UTC)", "Tasks", "Calls", "Events")]))
    rows = [
        html.Tr([html.Td(r.day), html.Td(f"{r.tasks:,}"), html.Td(f"{r.calls:,}"), html.Td(f"{r.events:,}")])
        for r in frame.itertuples()
    ]
    return dbc.Table([head, html.Tbody(rows)], size="sm", hover=True, responsive=True, className="mb-0")


def _card(title: str, body: Any, hint: str = "") -> dbc.Card:
    header = [html.Span(title)] + ([html.Span(hint, className="text-muted small ms-2")] if hint else [])
    return dbc.Card([dbc.CardHeader(header), dbc.CardBody(body)], className="mb-3")


def written_and_sizes(per_day: dbc.Card, sizes: dbc.Card, written: bool) -> dbc.Row:
    """Side by side as equal-height cards while there are days to list; with none, the one-line note spans the
    row above the sizes instead of a tiny card beside a 1,000 px table (or a tall empty one, made level)."""
    if not written:
        return dbc.Row([dbc.Col(per_day, lg=12), dbc.Col(sizes, lg=12)])
    return dbc.Row([level(per_day, lg=5), level(sizes, lg=7)])


# ---------------------------------------------------------------- the callback's work


def content(svc: Services) -> Any:
    denied = access.dashboard_denied(svc, "admin")
    if denied:
        return dbc.Alert(denied, color="warning")
    with svc.db.reading() as session:
        latest = datastats.latest(session)
        horizon = datastats.pruned_before(session)
        days = datastats.per_day(session, utcnow())
        sizes = insights.table_sizes(session)
        total = insights.database_size(session)
    return html.Div(
        [
            dbc.Row(
                [
                    dbc.Col(_card("Lifecycle settings", settings_table(settings_rows(svc.settings))), lg=6),
                    dbc.Col(_card("Lifecycle", events_table(latest, horizon), "from the audit log"), lg=6),
                ]
            ),
            written_and_sizes(
                _card(
                    "Written per day", per_day_table(days), "tasks and calls still stored; events as written"
                ),
                _card("Sizes per table", tables_table(sizes, total)),
                written=not days.empty,
            ),
        ]
    )


def register(app: dash.Dash, svc: Services) -> None:
    @app.callback(Output(DATA_BODY, "children"), Input(DATA_TICK, "n_intervals"))
    def _body(_tick: Any) -> Any:
        return content(svc)


def _redaction(settings: Settings) -> str:
    patterns, extra = settings.redact_patterns(), settings.redact_keys() - SECRET_KEYS
    said = f"{len(patterns)} pattern(s)" if patterns else "off"
    return said + (f" · {len(extra)} more key(s) masked in Celery arguments" if extra else "")
