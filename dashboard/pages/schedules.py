"""Dashboard layer: the Schedules page — every task schedule with its trigger, state, next run, runs so far
and its latest task's outcome. Live: a push (a scheduled task changing) re-reads the table."""

from __future__ import annotations

from typing import Any

import dash
from dash import Input, Output, html

from dashboard import ids
from dashboard.components.schedules import schedules_table
from dashboard.services import Services
from db import schedule_fire, task_schedules
from db.timeutil import utcnow

PATH = "/schedules"
TITLE = "Schedules"
SCHEDULES_TABLE = "schedules-table"


def layout(**_: Any) -> html.Div:
    return html.Div(
        [
            html.H3("Schedules", className="mb-3"),
            html.Div(id=SCHEDULES_TABLE),
            html.Div(
                "Add, pause, resume or remove schedules with python app.py schedule … or /api/v1/schedules.",
                className="small text-muted",
            ),
        ]
    )


def table(svc: Services) -> Any:
    now = utcnow()
    with svc.db.reading() as session:
        rows = task_schedules.list_all(session)
        last = task_schedules.last_runs(session, [r["id"] for r in rows])
    return schedules_table([(r, schedule_fire.next_fire(r, now), last.get(r["id"])) for r in rows])


def register(app: dash.Dash, svc: Services) -> None:
    @app.callback(Output(SCHEDULES_TABLE, "children"), Input(ids.SIGNAL, "data"))
    def _table(_signal: Any) -> Any:
        return table(svc)
