"""Dashboard layer: the database page — writes per second (now and peak), commit latency, update frequency per
task, event-log growth, connection pools and table sizes.

Three callbacks with three costs. The live one (KPIs, pools, busiest tasks) runs on every push and touches only
index steps, pragmas and the in-memory ring. The range one (the four charts) scans the range of ix_task_events_at,
so pushes re-run it at most every RANGE_EVERY_S, and a tick catches the last push of a burst. Table sizes may
read the whole SQLite file (dbstat), so they refresh on their own slow tick."""

from __future__ import annotations

import time
from typing import Any

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, State, dcc, html

from dashboard import figures_database as figs
from dashboard import ids
from dashboard.components.cards import level
from dashboard.components.download import download_link, export_url
from dashboard.components.fmt import count, plural
from dashboard.components.overview import kpi_card, one_row
from dashboard.navigation import NavEntry
from dashboard.scopebar import scope_section
from dashboard.services import Services
from db.analytics import insights
from db.core.timeutil import utcnow
from db.read.scope import parse_scope

PATH = "/database"
TITLE = "Database"
NAV = NavEntry("Database", 6)

DBI_KPIS = "dbi-kpis"
DBI_WRITES = "dbi-writes"
DBI_LATENCY = "dbi-latency"
DBI_UPDATES = "dbi-updates"
DBI_GROWTH = "dbi-growth"
DBI_BUSIEST = "dbi-busiest"
DBI_POOLS = "dbi-pools"
DBI_TABLES = "dbi-tables"
DBI_RANGE = "dbi-range"  # what the range callback last computed: when, for which scope and push, the peak
DBI_RANGE_TICK = "dbi-range-tick"
DBI_SIZES_TICK = "dbi-sizes-tick"
DBI_DATA_LINK = "dbi-data-link"

RANGE_EVERY_S = 15.0
SIZES_EVERY_S = 300.0


def layout(**query: Any) -> html.Div:
    def card(title: str, body: Any, hint: str = "", download: Any = None) -> dbc.Card:
        header: list[Any] = [html.Span(title)]
        if hint:
            header.append(html.Span(hint, className="text-muted small ms-2"))
        if download is not None:
            header = [html.Div(header), download]
            head = dbc.CardHeader(header, className="d-flex justify-content-between align-items-center")
        else:
            head = dbc.CardHeader(header)
        return dbc.Card([head, dbc.CardBody(body)], className="mb-3")

    def half(body: dbc.Card) -> dbc.Col:
        # Level with the card beside it: the pools table beside a one-line "No task is running." left a hole.
        return level(body, lg=6)

    return html.Div(
        [
            html.Div(
                # The navbar is full at 1400 px: the Data page (retention, backups, sizes per day) hangs here.
                [
                    html.H3("Database", className="mb-0"),
                    dcc.Link("Data lifecycle →", href="/data", id=DBI_DATA_LINK, className="small"),
                ],
                className="d-flex justify-content-between align-items-center mb-3",
            ),
            scope_section(query),
            dcc.Store(id=DBI_RANGE),
            dcc.Interval(id=DBI_RANGE_TICK, interval=int(RANGE_EVERY_S * 1000)),
            dcc.Interval(id=DBI_SIZES_TICK, interval=int(SIZES_EVERY_S * 1000)),
            html.Div(id=DBI_KPIS),
            dbc.Row(
                [
                    half(card("Writes per second", dcc.Graph(id=DBI_WRITES))),
                    half(card("Commit latency", dcc.Graph(id=DBI_LATENCY), "p50 / p95")),
                ]
            ),
            dbc.Row(
                [
                    half(card("Updates per task", dcc.Graph(id=DBI_UPDATES), "tasks created in range")),
                    half(card("Event-log growth", dcc.Graph(id=DBI_GROWTH))),
                ]
            ),
            dbc.Row(
                [
                    half(card("Busiest running tasks", html.Div(id=DBI_BUSIEST), "updates/min")),
                    half(card("Connection pools", html.Div(id=DBI_POOLS), "this process")),
                ]
            ),
            card(
                "Table sizes",
                html.Div(id=DBI_TABLES),
                f"measured every {SIZES_EVERY_S / 60:.0f} min",
                download_link(ids.EXPORT_TABLE_SIZES, export_url("database-tables")),
            ),
        ]
    )


# ---------------------------------------------------------------- pure builders


def size(value: float | None) -> str:
    """Bytes in the largest unit (of 1024) whose figure, as shown, is under 1000: 1,023.96 KB read
    "1,024.0 KB" and 1,000.0 KB "1,000.0 KB"; both are "1.0 MB" (0.98 MB to one decimal)."""
    if value is None or pd.isna(value):
        return "–"
    for unit in ("B", "KB", "MB", "GB"):
        places = 0 if unit == "B" else 1
        if abs(round(value, places)) < 1000:
            return f"{value:,.{places}f} {unit}"
        value /= 1024
    return f"{value:,.1f} TB"


def rate(per_second: float | None) -> str:
    """Events per second; below 0.1 in two significant digits: the busiest minute of one event (1/60 s) read
    "0.0/s" beside the chart's triangle at 0.02/s."""
    if per_second is None:
        return "–"
    return f"{per_second:.2g}/s" if 0 < per_second < 0.1 else f"{per_second:,.1f}/s"


def ms(value: float | None) -> str:
    return "–" if value is None or pd.isna(value) else f"{value:,.1f} ms"


def kpis(
    snap: insights.LiveSnapshot,
    live: insights.Latency | None,
    pools: pd.DataFrame,
    summary: dict[str, Any] | None,
) -> dbc.Row:
    """`live` is this process's ring buffer; without commits of its own the page shows the newest flushed minute."""
    latency = live or snap.flushed
    if latency is None:
        where = "no commits measured yet"
    elif latency.source == "ring":
        where = f"this process · last 60 s · {latency.commits:,} commits"
    else:
        at = latency.at.strftime("%H:%M") if latency.at else "?"
        where = f"all processes · minute {at} UTC · {latency.commits:,} commits"
    peak = (summary or {}).get("peak_per_second")
    events = (summary or {}).get("peak_events")
    # The busiest minute the Writes chart marks, with its count: the rate of a quiet minute is a small figure.
    peak_hint = (
        f"busiest minute, {(summary or {}).get('peak_at') or '–'}"
        + (f" · {plural(int(events), 'event')}" if events is not None else "")
        if peak
        else "in the selected range"
    )
    out = int(pools["checked_out"].fillna(0).sum()) if not pools.empty else 0
    capacity = pools["capacity"].dropna()
    cap = int(capacity.sum()) if len(capacity) == len(pools) and not pools.empty else None
    busy = cap is not None and cap > 0 and out / cap >= 0.8
    size_hint = " · ".join(
        part
        for part in (
            f"WAL {size(snap.size.wal_bytes)}" if snap.size.wal_bytes is not None else "",
            f"free {size(snap.size.free_bytes)}" if snap.size.free_bytes else "",
        )
        if part
    )
    row = dbc.Row(
        [
            kpi_card("Writes now", rate(snap.writes_per_second), hint="events/s, last 60 s", key="dbi-now"),
            kpi_card("Peak writes", rate(peak) if peak else "–", hint=peak_hint, key="dbi-peak"),
            kpi_card("Commit p50", ms(latency.p50_ms if latency else None), hint=where, key="dbi-p50"),
            kpi_card("Commit p95", ms(latency.p95_ms if latency else None), hint=where, key="dbi-p95"),
            kpi_card("Events", count(snap.events_total), hint="event-log rows (by seq)", key="dbi-events"),
            kpi_card("Database size", size(snap.size.bytes), hint=size_hint, key="dbi-size"),
            kpi_card(
                "Pool in use",
                f"{out}/{cap}" if cap is not None else f"{out}",
                hint="connections checked out",
                color="warning" if busy else None,
                key="dbi-pool",
            ),
        ],
        className="g-3",
    )
    return one_row(row)


def _table(head: tuple[str, ...], rows: list[html.Tr]) -> dbc.Table:
    return dbc.Table(
        [html.Thead(html.Tr([html.Th(h) for h in head])), html.Tbody(rows)],
        size="sm",
        hover=True,
        responsive=True,
        className="mb-0",
    )


def busiest_table(frame: pd.DataFrame) -> Any:
    if frame.empty:
        return html.Div("No task is running.", className="text-muted small")
    rows = [
        html.Tr(
            [
                html.Td(dcc.Link(f"#{int(r.task_id)}", href=f"/tasks/{int(r.task_id)}")),
                html.Td(str(r.title), className="text-break"),
                html.Td(f"{int(r.update_count):,}"),
                html.Td(f"{float(r.minutes):,.1f}"),
                html.Td(f"{float(r.per_minute):,.2f}"),
            ]
        )
        for r in frame.itertuples()
    ]
    return _table(("Task", "Title", "Updates", "Minutes", "Updates/min"), rows)


def pools_table(frame: pd.DataFrame) -> Any:
    def num(value: Any) -> str:
        return "–" if value is None or pd.isna(value) else f"{int(value):,}"

    rows = [
        html.Tr(
            [
                html.Td(str(r.engine)),
                html.Td(str(r.pool)),
                html.Td(num(r.checked_out)),
                html.Td(num(r.checked_in)),
                html.Td(num(r.size)),
                html.Td(num(r.overflow)),
                html.Td(num(r.capacity)),
            ]
        )
        for r in frame.itertuples()
    ]
    return _table(("Engine", "Pool", "In use", "Idle", "Size", "Overflow", "Max"), rows)


def tables_table(frame: pd.DataFrame, total: insights.DatabaseSize) -> Any:
    rows = [
        html.Tr(
            [
                html.Td(str(r.table)),
                html.Td(
                    "–"
                    if r.rows is None or pd.isna(r.rows)
                    else (("" if r.rows_exact else "≈ ") + f"{int(r.rows):,}")
                ),
                html.Td(size(r.table_bytes)),
                html.Td(size(r.index_bytes)),
                html.Td(size(r.total_bytes)),
            ]
        )
        for r in frame.itertuples()
    ]
    note = (
        "≈ rows are estimates (catalog statistics or the highest rowid); exact counts only for small tables."
    )
    if not frame.empty and frame["total_bytes"].isna().all():
        note += " Per-table sizes are not measured on a database this large (dbstat would read every page)."
    total_row = html.Tr(
        [html.Th("database"), html.Td(""), html.Td(""), html.Td(""), html.Th(size(total.bytes))]
    )
    return html.Div(
        [
            _table(("Table", "Rows", "Data", "Indexes", "Total"), [*rows, total_row]),
            html.Div(note, className="text-muted small mt-2"),
        ]
    )


def due(trigger: Any, last: dict[str, Any] | None, query: str, signal: Any, now: float) -> bool:
    """Whether the range callback should run: always for a new scope, a theme or the first render; for a push
    or a tick only if something was pushed since the last run and that run is RANGE_EVERY_S old."""
    if not last or last.get("query") != query or trigger not in (ids.SIGNAL, DBI_RANGE_TICK):
        return True
    if _signal_key(signal) == last.get("signal"):
        return False
    return now - float(last.get("ran", 0.0)) >= RANGE_EVERY_S


def _signal_key(signal: Any) -> Any:
    return signal.get("at", signal.get("seq")) if isinstance(signal, dict) else signal


# ---------------------------------------------------------------- refreshes (plain functions, tested directly)


def refresh_live(svc: Services, summary: dict[str, Any] | None) -> tuple[Any, Any, Any]:
    pools = insights.pool_usage(svc.db)  # before the session below checks a connection out
    now = utcnow()
    with svc.db.reading() as session:
        snap = insights.live_snapshot(session, now)
        busiest = insights.busiest_running(session, now)
    return (
        kpis(snap, insights.live_latency(svc.db.stats), pools, summary),
        busiest_table(busiest),
        pools_table(pools),
    )


def refresh_range(svc: Services, query: str, signal: Any, theme: str | None) -> tuple[Any, ...]:
    scope = parse_scope(query, utcnow())
    window = (scope.start, scope.end)
    with svc.db.reading() as session:
        writes = insights.writes_over_time(session, scope)
        peak = insights.busiest_minute(session, scope, writes)
        # At day buckets the rate series already is the daily growth: no second pass over the range.
        daily = writes if scope.unit == "day" else insights.writes_over_time(session, scope, "day")
        growth = insights.event_growth(session, scope, daily)
        latency = insights.commit_latency(session, scope)
        updates = insights.update_histogram(session, scope)
    summary = {
        "ran": time.time(),
        "query": query,
        "signal": _signal_key(signal),
        "peak_per_second": peak.per_second if peak else None,
        "peak_at": peak.minute.strftime("%Y-%m-%d %H:%M") if peak else None,
        "peak_events": peak.events if peak else None,
    }
    return (
        figs.writes_over_time(writes, latency, peak, window, scope.unit, theme),
        figs.commit_latency(latency, window, insights.live_latency(svc.db.stats), theme),
        figs.update_histogram(updates, theme),
        figs.event_growth(growth, window, theme),
        summary,
    )


def refresh_sizes(svc: Services) -> Any:
    with svc.db.reading() as session:
        return tables_table(insights.table_sizes(session), insights.database_size(session))


def register(app: dash.Dash, svc: Services) -> None:
    @app.callback(
        Output(DBI_KPIS, "children"),
        Output(DBI_BUSIEST, "children"),
        Output(DBI_POOLS, "children"),
        Input(ids.SIGNAL, "data"),
        Input(DBI_RANGE, "data"),
    )
    def _live(_signal: Any, summary: dict[str, Any] | None) -> Any:
        return refresh_live(svc, summary)

    @app.callback(
        Output(DBI_WRITES, "figure"),
        Output(DBI_LATENCY, "figure"),
        Output(DBI_UPDATES, "figure"),
        Output(DBI_GROWTH, "figure"),
        Output(DBI_RANGE, "data"),
        Input(ids.PAGE_SCOPE, "data"),
        Input(ids.SIGNAL, "data"),
        Input(ids.THEME, "data"),
        Input(DBI_RANGE_TICK, "n_intervals"),
        State(DBI_RANGE, "data"),
    )
    def _range(query: str, signal: Any, theme: str | None, _tick: Any, last: dict[str, Any] | None) -> Any:
        if not due(dash.ctx.triggered_id, last, query, signal, time.time()):
            raise dash.exceptions.PreventUpdate
        return refresh_range(svc, query, signal, theme)

    @app.callback(Output(DBI_TABLES, "children"), Input(DBI_SIZES_TICK, "n_intervals"))
    def _sizes(_tick: Any) -> Any:
        return refresh_sizes(svc)
