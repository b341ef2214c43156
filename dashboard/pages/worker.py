"""Dashboard layer: one worker's page (`/workers/<id>`, linked from the Agents page and a task's worker) — its
state, heartbeat age and claim filters, throughput and failure rate over the scope's range, the tasks it runs
now and its history, and the fleet control card fixed to it (a Celery worker: its Celery card too,
dashboard/celery_panel.py). Redrawn on pushes, on its own control actions and on a slow tick (heartbeats write
no events)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, unquote

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html

from dashboard import celery_panel, figures_agents, fleet_control, ids
from dashboard.components import worker as view
from dashboard.components.cards import header_with
from dashboard.scopebar import scope_section
from dashboard.services import Services
from db.core.timeutil import utcnow
from db.read import worker_detail
from db.read.scope import DIMENSIONS, parse_scope
from db.write.celery_workers import is_celery_worker

PATH_TEMPLATE = "/workers/<worker_id>"
TITLE = "Worker"
NAV = None  # not in the navbar: opened from a worker's name on the Agents page and on tasks
LINKED_FROM = "/agents"

WORKER_ID = "worker-id"
TITLE_ID = "worker-title"
STATE = "worker-state"
KPIS = "worker-kpis"
THROUGHPUT = "worker-throughput"
CURRENT = "worker-current"
HISTORY = "worker-history"
ALL_TASKS = "worker-all-tasks"
TICK = "worker-tick"
TICK_MS = 15_000  # as the Agents page: a heartbeat writes no event, so state and heartbeat age are re-read
HISTORY_ROWS = 50
# The scope bar's filters here: not "worker" — this page is one worker's, and its queries are narrowed to it
# whatever a worker filter says (db/read/worker_detail._mine), so the filter could only mislead.
FILTERS = tuple(d for d in DIMENSIONS if d != "worker")


def layout(worker_id: str | None = None, **query: Any) -> html.Div:
    wid = unquote(worker_id or "")
    return html.Div(
        [
            dcc.Store(id=WORKER_ID, data=wid),
            dcc.Interval(id=TICK, interval=TICK_MS),
            html.H3(f"Worker {wid}", id=TITLE_ID, className="mb-3 text-break"),
            scope_section(query, FILTERS),
            dbc.Row(
                [
                    dbc.Col(
                        dbc.Card([dbc.CardHeader("State"), dbc.CardBody(id=STATE)]), lg=7, className="mb-3"
                    ),
                    dbc.Col(
                        [
                            fleet_control.card(wid),
                            celery_panel.worker_card(wid) if is_celery_worker(wid) else None,
                        ],
                        lg=5,
                    ),
                ]
            ),
            html.Div(id=KPIS),
            dbc.Card(
                [
                    dbc.CardHeader("Throughput: tasks finished"),
                    dbc.CardBody(dcc.Graph(id=THROUGHPUT, config={"displaylogo": False})),
                ],
                className="mb-3",
            ),
            dbc.Card([dbc.CardHeader("Running now"), dbc.CardBody(id=CURRENT)], className="mb-3"),
            dbc.Card(
                [
                    header_with(
                        f"History: the newest {HISTORY_ROWS} tasks it ran that ended in this range",
                        dcc.Link(
                            "All its tasks",
                            id=ALL_TASKS,
                            href=f"/tasks?worker={quote(wid, safe='')}",
                            # As the Download CSV buttons: a link colour on the grey card header is 4.2:1.
                            className="btn btn-sm btn-outline-secondary py-0 text-nowrap",
                        ),
                    ),
                    dbc.CardBody(id=HISTORY),
                ],
                className="mb-3",
            ),
        ]
    )


def refresh(svc: Services, worker_id: str, query: str, theme: str | None) -> tuple[Any, ...]:
    now = utcnow()
    scope = parse_scope(query, now)
    with svc.db.reading() as session:
        state = worker_detail.worker(session, worker_id, now)
        current = worker_detail.current_tasks(session, worker_id)
        series = worker_detail.throughput(session, worker_id, scope)
        history = worker_detail.history(session, worker_id, scope, HISTORY_ROWS)
    return (
        view.title(state, worker_id),
        view.state_card(state, worker_id),
        view.kpis(worker_detail.outcomes(series, scope, now), len(current)),
        figures_agents.worker_throughput(series, theme),
        view.current_table(current, now),
        view.history_table(history),
    )


def register(app: dash.Dash, svc: Services) -> None:
    celery_panel.register_worker(app, svc)

    # The control card's callbacks are fleet_control's, registered once by the Agents page; its result is an
    # input here so a drain shows at once.
    @app.callback(
        Output(TITLE_ID, "children"),
        Output(STATE, "children"),
        Output(KPIS, "children"),
        Output(THROUGHPUT, "figure"),
        Output(CURRENT, "children"),
        Output(HISTORY, "children"),
        Input(ids.PAGE_SCOPE, "data"),
        Input(ids.SIGNAL, "data"),
        Input(ids.THEME, "data"),
        Input(TICK, "n_intervals"),
        Input(fleet_control.RESULT, "children"),
        State(WORKER_ID, "data"),
    )
    def _refresh(query: str, _signal: Any, theme: str | None, _tick: Any, _done: Any, worker_id: str) -> Any:
        return refresh(svc, worker_id, query, theme)
