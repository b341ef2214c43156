"""Dashboard layer: the overview's KPI cards and worker-health summary (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
import pandas as pd
from dash import html

from dashboard.components.fmt import (
    count,
    duration,
    missing,
    money,
    per_hour,
    percent,
    since,
    value_runs,
)
from db.read.overview import Kpis


def kpi_card(
    label: str,
    value: str,
    *,
    hint: str = "",
    color: str | None = None,
    key: str = "",
    title: str | None = None,
) -> dbc.Col:
    """`title`: what the value says in full, on hover (a compacted count's exact figure). The value and the
    hint wrap between words, never inside a value with its unit, a date-time or a range (value_runs)."""
    body = [
        html.Div(label, className="text-muted small"),
        _unbroken(value, "fs-4 fw-semibold kpi-value", title=title),
    ]
    if hint:
        body.append(_unbroken(hint, "small text-muted kpi-hint"))
    card = dbc.Card(dbc.CardBody(body), color=color, outline=color is not None, className="h-100")
    return dbc.Col(card, xs=6, md=4, xl=2, className="mb-3", id=f"kpi-{key}" if key else None)


def _unbroken(text: str, className: str, **attrs: Any) -> html.Div:
    """A card line whose values stay whole: a text that is one value ("5", "1m 01s") nowrap as a whole, so its
    children stay one string (the browser's compact counts and the snapshot rewrite it as text)."""
    pieces = value_runs(text)
    if len(pieces) == 1 and not isinstance(pieces[0], str):
        return html.Div(text, className=f"{className} text-nowrap", **attrs)
    if all(isinstance(p, str) for p in pieces):
        return html.Div(text, className=className, **attrs)
    return html.Div(pieces, className=className, **attrs)


def one_row(row: dbc.Row) -> dbc.Row:
    """A row of KPI cards sharing it equally from 1200 px (Performance, Database): kpi_card's xl=2 fits six,
    and a seventh sat alone on a second row. Below 1200 px they keep kpi_card's two or three a row."""
    for card in row.children:
        card.xl = True  # "col-xl": an equal share of the row
    return row


def kpi_cards(k: Kpis, extra: tuple[dbc.Col, ...] = ()) -> dbc.Row:
    return dbc.Row(
        [
            kpi_card(
                "Active", count(k.active), hint=f"{k.queued:,} queued · {k.running:,} running", key="active"
            ),
            kpi_card("Queued", count(k.queued), key="queued"),
            kpi_card(
                "Running",
                count(k.running),
                key="running",
                hint=f"{k.stuck:,} possibly stuck" if k.stuck else "all reporting",
                color="warning" if k.stuck else None,
            ),
            kpi_card("Completed today", count(k.completed_today), key="completed"),
            kpi_card(
                "Failed today",
                count(k.failed_today),
                key="failed",
                color="danger" if k.failed_today else None,
            ),
            kpi_card("Success rate", percent(k.success_rate), hint="today", key="success"),
            kpi_card("Avg duration", duration(k.avg_duration_s), hint="completed today", key="avg"),
            kpi_card(
                "p95 duration",
                duration(k.p95_duration_s),
                hint="completed today" + (" · estimated" if k.p95_estimated else ""),
                key="p95",
            ),
            kpi_card(
                "Throughput", per_hour(k.throughput_per_hour), hint="completed, last hour", key="throughput"
            ),
            kpi_card("Cost today", money(k.cost_today), key="cost"),
            *extra,
        ],
        className="g-3",
    )


def workers_summary(frame: pd.DataFrame, now: datetime) -> html.Div:
    """Worker health. Each row carries its id (names repeat: every process on a host may share one) and what
    it finished today, by outcome, so the rows add up to the KPI cards; the all-time counters (which count
    cancelled runs with the failed ones) are in the cell's tooltip, named as such."""
    if frame.empty:
        return html.Div(
            "No worker has registered yet. Start one with `python app.py worker`.", className="text-muted"
        )
    counts = frame["status"].value_counts()
    header = html.Div(
        [
            dbc.Badge(f"{counts.get('busy', 0)} busy", color="primary", className="me-1"),
            dbc.Badge(f"{counts.get('online', 0)} idle", color="success", className="me-1"),
            dbc.Badge(f"{counts.get('offline', 0)} offline", color="secondary"),
        ],
        className="mb-2",
    )
    rows = []
    for w in frame.itertuples():
        seen = since(now, w.last_seen_at)
        today = [f"{_int(w, 'completed_today'):,} completed", f"{_int(w, 'failed_today'):,} failed"]
        if _int(w, "cancelled_today"):
            today.append(f"{_int(w, 'cancelled_today'):,} cancelled")
        rows.append(
            html.Tr(
                [
                    html.Td([html.Div(str(w.name)), html.Small(str(w.id), className="text-muted worker-id")]),
                    html.Td(w.host),
                    html.Td(str(w.status)),
                    html.Td(f"{w.running_count}/{w.concurrency}"),
                    html.Td(
                        " · ".join(today),
                        className="tl-wrap",  # a phrase: wraps between its words
                        title=f"since it registered: {int(w.tasks_completed):,} completed, "
                        f"{int(w.tasks_failed):,} failed, timed out or cancelled",
                    ),
                    html.Td(f"{duration(seen)} ago" if seen is not None else "–"),
                ]
            )
        )
    heads = ("Worker", "Host", "Status", "Slots", "Finished today (UTC)", "Seen")
    table = dbc.Table(
        [html.Thead(html.Tr([html.Th(h) for h in heads])), html.Tbody(rows)],
        size="sm",
        hover=True,
        responsive=True,
        className="mb-0",  # ids, hosts and times on one line (assets/tasklens.css)
    )
    return html.Div([header, table])


def _int(row: Any, name: str) -> int:
    """A today-count of a worker row; 0 when the frame has no such column (the API's worker rows)."""
    value = getattr(row, name, 0)
    return 0 if missing(value) else int(value)
