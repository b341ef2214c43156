"""Dashboard layer: the agents page — the worker fleet (online / busy / offline, uptime, last seen, current
task, utilization and outcomes in the range) and agent roles (calls, cost, duration and failure rate per role).
Scoped by the shared range/filter bar kept in the URL; redrawn on pushes and scope changes."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, dcc, html

from dashboard import celery_queues, figures_agents, fleet_control, ids
from dashboard.clientside import js
from dashboard.components.cards import header_with, level
from dashboard.components.download import download_link, export_url
from dashboard.components.fmt import count, duration, missing, money, percent, tokens
from dashboard.components.overview import kpi_card
from dashboard.components.status import ticking
from dashboard.components.worker import worker_href
from dashboard.figures import role_key
from dashboard.navigation import NavEntry
from dashboard.scopebar import scope_section
from dashboard.services import Services
from db.analytics import agents
from db.core.timeutil import utcnow
from db.domain.states import WorkerStatus
from db.read.external_agents import external_agents
from db.read.scope import parse_scope

PATH = "/agents"
TITLE = "Agents"
NAV = NavEntry("Agents", 4)

KPIS = "agents-kpis"
FLEET = "agents-fleet"
ROLE_COST = "agents-role-cost"
ROLE_QUALITY = "agents-role-quality"
ROLES = "agents-roles"
EXTERNAL = "agents-external"
TICK = "agents-tick"

# Heartbeats write no events (nothing is pushed), so status and utilization are re-read on a slow tick too;
# "last seen" and uptime count on in the browser (data-since) in between.
TICK_MS = 15_000
WORKER_COLORS = {
    WorkerStatus.BUSY.value: "primary",
    WorkerStatus.ONLINE.value: "success",
    WorkerStatus.OFFLINE.value: "secondary",
}


def layout(**query: Any) -> html.Div:
    return html.Div(
        [
            html.H3("Agents", className="mb-3"),
            scope_section(query),
            dcc.Interval(id=TICK, interval=TICK_MS),
            html.Div(id=KPIS),
            dbc.Card(
                [
                    header_with("Workers", download_link(ids.EXPORT_FLEET, export_url("agents-fleet"))),
                    dbc.CardBody(id=FLEET),
                ],
                className="mb-3",
            ),
            fleet_control.card(),
            celery_queues.card(),
            dbc.Row(
                [
                    # Both level with the taller chart beside it, no hole under the shorter.
                    level(
                        dbc.Card([dbc.CardHeader("Cost per role"), dbc.CardBody(dcc.Graph(id=ROLE_COST))]),
                        lg=5,
                    ),
                    level(
                        dbc.Card(
                            [
                                dbc.CardHeader("Failure rate and duration per role"),
                                dbc.CardBody(dcc.Graph(id=ROLE_QUALITY)),
                            ]
                        ),
                        lg=7,
                    ),
                ]
            ),
            dbc.Card(
                [
                    header_with("Roles", download_link(ids.EXPORT_ROLES, export_url("agents-roles"))),
                    dbc.CardBody(id=ROLES),
                ],
                className="mb-3",
            ),
            dbc.Card(
                [
                    dbc.CardHeader("External agents (their own processes: POST /events, OpenTelemetry)"),
                    dbc.CardBody(id=EXTERNAL),
                ],
                className="mb-3",
            ),
        ]
    )


def kpis(totals: agents.FleetTotals) -> dbc.Row:
    failed_hint = f"{totals.failed:,} failed" if totals.failed else "none failed"
    return dbc.Row(
        [
            kpi_card("Online", count(totals.online), hint="idle, ready for work", key="agents-online"),
            kpi_card("Busy", count(totals.busy), hint="running tasks", key="agents-busy"),
            kpi_card("Offline", count(totals.offline), hint="seen in this range", key="agents-offline"),
            kpi_card(
                "Fleet utilization",
                percent(totals.utilization),
                hint="busy slot-time in this range",
                key="agents-utilization",
            ),
            kpi_card("Tasks done", count(totals.done), hint=failed_hint, key="agents-done"),
            kpi_card(
                "Success rate",
                percent(totals.success_rate),
                hint="done / (done + failed)",
                color="danger" if totals.success_rate is not None and totals.success_rate < 0.5 else None,
                key="agents-success",
            ),
        ],
        className="g-3",
    )


def utilization_bar(value: float | None, running: int, concurrency: int) -> html.Div:
    share = 0.0 if value is None or missing(value) else float(value)
    return html.Div(
        [
            dbc.Progress(value=min(100.0, share * 100), style={"height": "0.5rem"}, className="mb-1"),
            html.Small(f"{percent(share)} · {running}/{concurrency} slots", className="text-muted"),
        ],
        style={"minWidth": "8rem"},
    )


def current_task(task_id: Any, title: Any) -> Any:
    if missing(task_id):
        return html.Span("–", className="text-muted")
    link = dcc.Link(f"#{int(task_id)}", href=f"/tasks/{int(task_id)}", className="me-1")
    return html.Span([link, html.Span("" if missing(title) else str(title), className="text-break")])


def uptime(seconds: Any, started_at: Any, alive: bool) -> Any:
    """How long a running worker has been up, counting on in the browser; an offline worker has no uptime
    (it read "89d 23h", the time since it started), so "–", its last-seen column saying since when."""
    if not alive:
        return html.Span("–", className="text-muted", title="offline: not up")
    return ticking(seconds, started_at)


def fleet_table(frame: pd.DataFrame, now: datetime) -> Any:
    if frame.empty:
        return html.Div(
            "No worker seen in this range. Start one with `python app.py worker`.", className="text-muted"
        )
    rows = []
    for w in frame.itertuples():
        alive = w.status != WorkerStatus.OFFLINE.value
        seen = (now - w.last_seen_at).total_seconds()
        rows.append(
            html.Tr(
                [
                    html.Td(
                        [
                            html.Div(
                                dcc.Link(str(w.name), href=worker_href(str(w.id)), className="worker-link")
                            ),
                            html.Small(str(w.id), className="text-muted"),
                        ]
                    ),
                    html.Td(dbc.Badge(str(w.status), color=WORKER_COLORS.get(str(w.status), "light"))),
                    html.Td(str(w.host)),
                    html.Td(uptime(w.uptime_s, w.started_at, alive)),
                    html.Td(ticking(seen, w.last_seen_at, " ago")),
                    html.Td(
                        current_task(w.current_task_id, w.current_task_title),
                        className=None if missing(w.current_task_id) else "tl-text",  # a title: wraps
                    ),
                    html.Td(utilization_bar(w.utilization, int(w.running_count), int(w.concurrency))),
                    html.Td(f"{count(w.done)} / {count(w.failed)}"),
                    html.Td(percent(None if missing(w.success_rate) else float(w.success_rate))),
                    html.Td(duration(w.avg_task_s)),
                ]
            )
        )
    heads = [
        *("Worker", "Status", "Host", "Uptime", "Last seen", "Current task", "Utilization"),
        *("Done / failed", "Success", "Avg task"),
    ]
    head = html.Thead(html.Tr([html.Th(h) for h in heads]))
    # Ids, hosts and times on one line: the table scrolls in its box (assets/tasklens.css).
    return dbc.Table([head, html.Tbody(rows)], size="sm", hover=True, responsive=True, className="mb-0")


def roles_table(frame: pd.DataFrame) -> Any:
    if frame.empty:
        return html.Div("No calls in this range.", className="text-muted small")
    # The charts' one role order (figures.role_key), so a row sits where its bars do (it listed by cost).
    frame = frame.iloc[sorted(range(len(frame)), key=lambda i: role_key(frame["role"].iloc[i]))]
    rows = [
        html.Tr(
            [
                html.Td(str(r.role) or "(none)"),
                html.Td(count(r.calls)),
                html.Td(f"{count(r.failed)} ({percent(r.failure_rate)})"),
                html.Td(money(float(r.cost))),
                html.Td(f"{tokens(r.input_tokens)} / {tokens(r.output_tokens)}"),
                html.Td(duration(r.avg_s)),
                html.Td(duration(r.p95_s)),
            ]
        )
        for r in frame.itertuples()
    ]
    heads = ("Role", "Calls", "Failed", "Cost", "Tokens in/out", "Avg duration", "p95 duration")
    head = html.Thead(html.Tr([html.Th(h) for h in heads]))
    return dbc.Table([head, html.Tbody(rows)], size="sm", hover=True, responsive=True, className="mb-0")


def external_table(frame: pd.DataFrame, now: datetime) -> Any:
    """External agents by name (a `worker` in their events, an OTLP resource's service.name)."""
    if frame.empty:
        return html.Div(
            "No external agent reported tasks in this range. Point an OpenTelemetry exporter at "
            "OTEL_EXPORTER_OTLP_ENDPOINT=<this server>, or send POST /api/v1/events.",
            className="text-muted small",
        )
    rows = []
    for a in frame.itertuples():
        seen = (now - a.last_seen_at).total_seconds()
        href = f"/tasks?worker={quote(str(a.agent), safe='')}"
        rows.append(
            html.Tr(
                [
                    html.Td(dcc.Link(str(a.agent), href=href)),
                    html.Td(count(a.tasks) + (f" ({count(a.running)} running)" if a.running else "")),
                    html.Td(f"{count(a.done)} / {count(a.failed)}"),
                    html.Td(count(a.calls)),
                    html.Td(f"{tokens(a.input_tokens)} / {tokens(a.output_tokens)}"),
                    html.Td(money(float(a.cost))),
                    html.Td(duration(None if missing(a.avg_task_s) else float(a.avg_task_s))),
                    html.Td(ticking(seen, a.last_seen_at, " ago")),
                ]
            )
        )
    heads = ("Agent", "Tasks", "Done / failed", "Calls", "Tokens in/out", "Cost", "Avg task", "Last seen")
    head = html.Thead(html.Tr([html.Th(h) for h in heads]))
    return dbc.Table([head, html.Tbody(rows)], size="sm", hover=True, responsive=True, className="mb-0")


def external(svc: Services, query: str) -> Any:
    now = utcnow()
    with svc.db.reading() as session:
        frame = external_agents(session, parse_scope(query, now))
    return external_table(frame, now)


def refresh(svc: Services, query: str, theme: str | None) -> tuple[Any, ...]:
    now = utcnow()
    scope = parse_scope(query, now)
    with svc.db.reading() as session:
        fleet = agents.fleet(session, scope, now)
        roles = agents.roles(session, scope)
    return (
        kpis(agents.fleet_totals(fleet)),
        fleet_table(fleet, now),
        figures_agents.role_cost_bars(roles, theme),
        figures_agents.role_quality(roles, theme),
        roles_table(roles),
    )


def register(app: dash.Dash, svc: Services) -> None:
    @app.callback(
        Output(KPIS, "children"),
        Output(FLEET, "children"),
        Output(ROLE_COST, "figure"),
        Output(ROLE_QUALITY, "figure"),
        Output(ROLES, "children"),
        Input(ids.PAGE_SCOPE, "data"),
        Input(ids.SIGNAL, "data"),
        Input(ids.THEME, "data"),
        Input(TICK, "n_intervals"),
    )
    def _refresh(query: str, _signal: Any, theme: str | None, _tick: Any) -> Any:
        return refresh(svc, query, theme)

    @app.callback(
        Output(EXTERNAL, "children"),
        Input(ids.PAGE_SCOPE, "data"),
        Input(ids.SIGNAL, "data"),
        Input(TICK, "n_intervals"),
    )
    def _external(query: str, _signal: Any, _tick: Any) -> Any:
        return external(svc, query)

    fleet_control.register(app, svc)
    celery_queues.register(app, svc, TICK)

    # The download links carry the page's scope (its URL query).
    app.clientside_callback(
        js(
            """
            function(query) {
                const scope = (query || "").replace(/^[?]/, "");
                return [$fleet, $roles].map(path => path + (scope ? "?" + scope : ""));
            }
            """,
            fleet=export_url("agents-fleet"),
            roles=export_url("agents-roles"),
        ),
        Output(ids.EXPORT_FLEET, "href"),
        Output(ids.EXPORT_ROLES, "href"),
        Input(ids.PAGE_SCOPE, "data"),
    )
