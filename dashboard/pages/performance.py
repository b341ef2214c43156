"""Dashboard layer: the performance page — throughput, cycle / queue / processing times, retries, duration
distributions, outcomes by kind over time, tool use, peak hours, a next-bucket forecast and cost / failure spike
flags. Scoped by the shared range/filter bar kept in the URL."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, dcc, html

from dashboard import figures_performance as figs
from dashboard import ids
from dashboard.components.cards import level
from dashboard.components.fmt import count, duration, money, per_hour, percent, timestamp
from dashboard.components.overview import kpi_card, one_row
from dashboard.navigation import NavEntry
from dashboard.scopebar import scope_section
from dashboard.services import Services
from db.analytics import performance, volume
from db.analytics.performance import PerfKpis, Timing
from db.analytics.volume import Forecast, VolumeAnalysis
from db.core.timeutil import utcnow
from db.read.scope import parse_scope

PATH = "/performance"
TITLE = "Performance"
NAV = NavEntry("Performance", 5)

KPIS = "perf-kpis"
ALERTS = "perf-alerts"
VOLUME = "perf-volume"
SPIKES = "perf-spikes"
OUTCOMES = "perf-outcomes"
HISTOGRAM = "perf-histogram"
BOX = "perf-box"
TOOLS = "perf-tools"
HEATMAP = "perf-heatmap"
ANOMALY = "perf-anomaly"  # the banner shown when a bucket is flagged


def _card(title: str, body: Any, lg: int = 12) -> dbc.Col:
    # Level with the chart beside it: a 420 px two-row chart beside a 300 px one left a hole.
    return level(dbc.Card([dbc.CardHeader(title), dbc.CardBody(body)]), lg=lg)


def layout(**query: Any) -> html.Div:
    return html.Div(
        [
            html.H3("Performance", className="mb-3"),
            scope_section(query),
            html.Div(id=ALERTS),
            html.Div(id=KPIS),
            dbc.Row(
                [
                    _card("Tasks created, with the next bucket's forecast", dcc.Graph(id=VOLUME), lg=6),
                    _card("Cost and failure spikes", dcc.Graph(id=SPIKES), lg=6),
                ]
            ),
            dbc.Row(_card("Success and failures by kind over time", dcc.Graph(id=OUTCOMES))),
            dbc.Row(
                [
                    _card("Processing time distribution (completed tasks)", dcc.Graph(id=HISTOGRAM), lg=7),
                    _card("Processing time by kind", dcc.Graph(id=BOX), lg=5),
                ]
            ),
            dbc.Row(
                [
                    _card("Tool calls", dcc.Graph(id=TOOLS), lg=5),
                    _card("Peak hours: tasks created (UTC)", dcc.Graph(id=HEATMAP), lg=7),
                ]
            ),
        ]
    )


def kpis(k: PerfKpis, forecast: Forecast | None, unit: str) -> dbc.Row:
    def timing(t: Timing) -> str:
        # "≈": read from the histogram rollup (within about 1 % at the sizes where that happens).
        about = "≈" if t.estimated else ""
        return f"p50 {about}{duration(t.p50)} · p95 {about}{duration(t.p95)}"

    # A trend through nothing but empty buckets is no forecast ("0.0 · 0–0"): say so instead.
    flat_zero = forecast is not None and forecast.high <= 0
    # Tasks are counted whole: the trend's 459.9 is "460" (the band is whole already).
    expected = "–" if forecast is None or flat_zero else f"{forecast.value:,.0f}"
    band = (
        ("no tasks created yet to forecast from" if flat_zero else "")
        if forecast is None or flat_zero
        else f"{forecast.low:,.0f}–{forecast.high:,.0f}, {unit} of {forecast.at:%m-%d %H:%M}"
    )
    row = dbc.Row(
        [
            kpi_card(
                "Throughput",
                per_hour(k.throughput_per_hour),
                hint=f"{k.completed:,} completed",
                key="perf-throughput",
            ),
            kpi_card("Cycle time", duration(k.cycle.avg), hint=timing(k.cycle), key="perf-cycle"),
            kpi_card("Queue wait", duration(k.queue_wait.avg), hint=timing(k.queue_wait), key="perf-wait"),
            kpi_card(
                "Processing time",
                duration(k.processing.avg),
                hint=timing(k.processing),
                key="perf-processing",
            ),
            kpi_card(
                "First-attempt success",
                percent(k.first_attempt_success_rate),
                # With nothing finished there is no rate to compare ("overall – of 0" read as a defect).
                hint=f"overall {percent(k.success_rate)} of {k.outcomes:,}"
                if k.outcomes
                else "nothing finished",
                key="perf-first",
            ),
            kpi_card(
                "Retry rate",
                percent(k.retry_rate),
                hint=f"{k.retried:,} needed another attempt",
                color="warning" if k.retried else None,
                key="perf-retry",
            ),
            kpi_card("Forecast, tasks created", expected, hint=band, key="perf-forecast"),
        ],
        className="g-3",
    )
    return one_row(row)


def alerts(analysis: VolumeAnalysis, unit: str) -> Any:
    """A visible banner per flagged bucket: a spike must not hide in a chart's corner."""
    found = analysis.alerts
    if not found:
        return html.Div(
            f"No cost or failure spikes (a {unit} above mean + 3σ of the ones before it).",
            className="text-muted small mb-2",
        )
    lines = [
        html.Li(
            f"{metric.capitalize()} spike in the {unit} of {timestamp(at)}: "
            + (
                f"{money(value)} (threshold {money(limit)})"
                if metric == "cost"
                else f"{count(value)} (threshold {limit:,.1f})"
            )
        )
        for metric, at, value, limit in found[:5]
    ]
    more = [html.Li(f"… and {len(found) - 5} more")] if len(found) > 5 else []
    return dbc.Alert(
        [
            html.Strong(f"{len(found)} anomal{'y' if len(found) == 1 else 'ies'}"),
            html.Ul(lines + more, className="mb-0"),
        ],
        color="danger",
        id=ANOMALY,
    )


def refresh_trends(svc: Services, query: str, theme: str | None) -> tuple[Any, ...]:
    """The KPIs and the volume over time: alerts, KPI cards, forecast and spike charts."""
    scope = parse_scope(query, utcnow())
    with svc.db.reading() as session:
        k = performance.kpis(session, scope)
        series = volume.volume_series(session, scope)
    analysis = volume.analyse(series, scope.unit)
    return (
        alerts(analysis, scope.unit),
        kpis(k, analysis.forecast, scope.unit),
        figs.volume_forecast(series, analysis.forecast, scope.unit, theme),
        figs.spikes_chart(series, analysis.cost, analysis.failed, scope.unit, theme),
    )


def refresh_distributions(svc: Services, query: str, theme: str | None) -> tuple[Any, ...]:
    """Outcomes by kind, duration distributions, tool use and peak hours."""
    scope = parse_scope(query, utcnow())
    with svc.db.reading() as session:
        outcomes = performance.outcomes_over_time(session, scope)
        histogram = performance.duration_histogram(session, scope)
        box = performance.duration_quantiles(session, scope)
        tools = performance.tool_calls(session, scope)
        peaks = performance.peak_hours(session, scope)
    return (
        figs.outcomes_by_kind(outcomes, (scope.start, scope.end), scope.unit, theme),
        figs.duration_histogram(histogram, theme),
        figs.duration_box(box, theme),
        figs.tool_bars(tools, theme),
        figs.peak_heatmap(peaks, theme),
    )


def refresh(svc: Services, query: str, theme: str | None) -> tuple[Any, ...]:
    """Everything on the page, in the order of the two callbacks' outputs."""
    return refresh_trends(svc, query, theme) + refresh_distributions(svc, query, theme)


def register(app: dash.Dash, svc: Services) -> None:
    # Two callbacks, which Dash runs side by side: the KPIs and trends show while the distributions are read.
    @app.callback(
        Output(ALERTS, "children"),
        Output(KPIS, "children"),
        Output(VOLUME, "figure"),
        Output(SPIKES, "figure"),
        Input(ids.PAGE_SCOPE, "data"),
        Input(ids.SIGNAL, "data"),
        Input(ids.THEME, "data"),
    )
    def _trends(query: str, _signal: Any, theme: str | None) -> Any:
        return refresh_trends(svc, query, theme)

    @app.callback(
        Output(OUTCOMES, "figure"),
        Output(HISTOGRAM, "figure"),
        Output(BOX, "figure"),
        Output(TOOLS, "figure"),
        Output(HEATMAP, "figure"),
        Input(ids.PAGE_SCOPE, "data"),
        Input(ids.SIGNAL, "data"),
        Input(ids.THEME, "data"),
    )
    def _distributions(query: str, _signal: Any, theme: str | None) -> Any:
        return refresh_distributions(svc, query, theme)
