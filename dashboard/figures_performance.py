"""Dashboard layer: the performance page's plotly figures, each built by a pure function from the frame one
db.analytics.performance query returns (unit-tested without a browser)."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from dashboard.figures import (
    LABEL_GAP,
    STATUS_HEX,
    THOUSANDS,
    UNIT_MS,
    bucket_range,
    built,
    count_axis,
    empty_figure,
    label,
    partial_opacity,
    two_rows,
)
from db.analytics.performance import bin_label
from db.analytics.volume import Forecast
from db.domain.states import FAILURES
from reports.fmt import count, duration, money

KIND_HEX = {
    "demo": "#6f42c1",
    "command": "#0d6efd",
    "python": "#20c997",
    "external": "#fd7e14",
    "celery": "#37814a",
}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
SPIKE_HEX = "#dc3545"
P95_LEGEND_HEX = "#6c757d"
# The peak-hours heatmap's scale, per theme: none at the page's background, more in brighter blue. Plotly's
# Blues runs from white, which on the dark page drew the empty nights and weekends as its brightest cells.
HEAT_SCALES: dict[str, Any] = {
    "light": "Blues",
    "dark": [[0.0, "#2b3035"], [0.35, "#084298"], [0.7, "#0d6efd"], [1.0, "#9ec5fe"]],
}


def _kind_color(kind: object) -> str:
    return KIND_HEX.get(str(kind), "#6c757d")


# Tick mantissas per decade, sparsest first.
_LOG_STEPS = ((1.0,), (1.0, 2.0, 5.0), (1.0, 2.0, 3.0, 5.0), (1.0, 1.5, 2.0, 3.0, 5.0, 7.0))


def log_ticks(low: float, high: float) -> list[float] | None:
    """Tick values for a log axis over [low, high]: the sparsest of 1 / 1-2-5 / 1-2-3-5 / 1-1.5-2-3-5-7 per
    decade that puts at least four inside, else the densest with two. Plotly's own log ticks over e.g. 10–55 s
    are 10, 15, 20, 25 … 45, 50, 55, crowding towards the decade's top until "55" and "50" touch. None: a span
    too narrow for any of these (plotly's ticks are near linear there and do not crowd)."""
    if not (low > 0 and high >= low):
        return None
    decades = range(math.floor(math.log10(low)) - 1, math.floor(math.log10(high)) + 2)
    found: list[float] | None = None
    for mantissas in _LOG_STEPS:
        values = [round(m * 10.0**d, 12) for d in decades for m in mantissas]
        inside = [v for v in values if low <= v <= high]
        if len(inside) >= 2:
            # One more either side: the axis's padding may show it, and ticks off the axis are not drawn.
            found = [v for v in values if v < low][-1:] + inside + [v for v in values if v > high][:1]
            if len(inside) >= 4:
                break
    return found


def _tick_text(value: float) -> str:
    return f"{value:,.0f}" if value >= 1 else f"{value:g}"


def duration_histogram(frame: pd.DataFrame, theme: str | None = None) -> go.Figure:
    """Grouped bars of completed tasks per log-like duration bin, one series per kind; the axis runs over every
    bin from the shortest to the longest so gaps show as gaps."""
    if frame.empty:
        return empty_figure(theme=theme)
    traces = [
        {
            "type": "bar",
            "x": part["label"],
            "y": part["count"],
            "name": str(kind),
            "marker": {"color": _kind_color(kind)},
        }
        for kind, part in frame.groupby("kind", sort=True)
    ]
    bins = range(int(frame["bin"].min()), int(frame["bin"].max()) + 1)
    layout = {
        "xaxis": {
            "type": "category",
            "categoryorder": "array",
            "categoryarray": [bin_label(b) for b in bins],
            "title": {"text": "processing time"},
        },
        "yaxis": {"title": {"text": "tasks"}, **count_axis(float(frame["count"].max()))},
        "barmode": "group",
    }
    return built(traces, layout, theme)


def duration_box(frame: pd.DataFrame, theme: str | None = None) -> go.Figure:
    """A box per kind drawn from precomputed quantiles (whiskers at min and max), p95 as a diamond; log axis
    because durations span orders of magnitude."""
    if frame.empty:
        return empty_figure(theme=theme)
    traces: list[dict[str, Any]] = []
    for r in frame.itertuples():
        color = _kind_color(r.kind)
        traces.append(
            {
                "type": "box",
                "x": [str(r.kind)],
                "q1": [r.p25],
                "median": [r.median],
                "q3": [r.p75],
                "lowerfence": [r.min],
                "upperfence": [r.max],
                "name": str(r.kind),
                "marker": {"color": color},
                "hoverinfo": "y+name",
                "showlegend": False,  # the kind is on the x axis
            }
        )
        traces.append(
            {
                "type": "scatter",
                "x": [str(r.kind)],
                "y": [r.p95],
                "mode": "markers",
                "marker": {"symbol": "diamond", "size": 9, "color": color},
                "name": f"{r.kind} p95",
                # "≈": quantiles read from the histogram rollup on large ranges (db.analytics.performance).
                "hovertemplate": f"{r.kind} p95: {'≈' if getattr(r, 'estimated', False) else ''}"
                f"{duration(r.p95)} · {count(r.n)} tasks<extra></extra>",
                "legendgroup": "p95",
                "showlegend": False,
            }
        )
    # The diamonds' one legend entry, in no kind's colour (each diamond takes its box's): they were explained
    # only on hover. Clicking it hides or shows them all (their legend group).
    traces.append(
        {
            "type": "scatter",
            "x": [None],
            "y": [None],
            "mode": "markers",
            "marker": {"symbol": "diamond", "size": 9, "color": P95_LEGEND_HEX},
            "name": "p95",
            "legendgroup": "p95",
            "hoverinfo": "skip",
        }
    )
    yaxis: dict[str, Any] = {"title": {"text": "seconds"}, "type": "log"}
    drawn = pd.concat([frame[c] for c in ("min", "p25", "median", "p75", "p95", "max")]).astype("float64")
    drawn = drawn[drawn > 0]  # a log axis leaves out zero
    ticks = log_ticks(float(drawn.min()), float(drawn.max())) if not drawn.empty else None
    if ticks is not None:
        yaxis.update(tickmode="array", tickvals=ticks, ticktext=[_tick_text(v) for v in ticks])
    return built(traces, {"showlegend": True, "yaxis": yaxis}, theme)


def outcomes_by_kind(
    frame: pd.DataFrame, window: tuple[datetime, datetime], unit: str, theme: str | None = None
) -> go.Figure:
    """Top: success rate per kind and bucket (completed ÷ completed + failed + timed out; cancelled tasks are
    not outcomes). Bottom: failures per kind, stacked."""
    if frame.empty or not frame[frame["status"].isin(["completed", *FAILURES])]["count"].any():
        return empty_figure("no completed or failed tasks in this range", theme, height=420)
    counts = frame.pivot_table(
        index=["bucket", "kind"], columns="status", values="count", aggfunc="sum", fill_value=0
    )
    counts = counts.reindex(columns=sorted({"completed", *FAILURES} | set(counts.columns)), fill_value=0)
    traces: list[dict[str, Any]] = []
    for kind in sorted(frame["kind"].unique()):
        part = counts.xs(kind, level="kind")
        ok, bad = part["completed"], part[list(FAILURES)].sum(axis=1)
        shown = (ok + bad) > 0
        color = _kind_color(kind)
        traces.append(
            {
                "type": "scatter",
                "x": part.index[shown],
                "y": (ok[shown] / (ok + bad)[shown] * 100.0),
                "customdata": list(zip(ok[shown], bad[shown], strict=True)),
                "hovertemplate": "%{y:.1f}% · %{customdata[0]} ok, %{customdata[1]} failed<extra>"
                + str(kind)
                + "</extra>",
                "mode": "lines+markers",
                "name": str(kind),
                "line": {"color": color},
                "legendgroup": str(kind),
                "xaxis": "x",
                "yaxis": "y",
            }
        )
        traces.append(
            {
                "type": "bar",
                "x": part.index,
                "y": bad,
                "name": f"{kind} failures",
                "marker": {"color": color},
                "legendgroup": str(kind),
                "showlegend": False,
                "width": 0.8 * UNIT_MS[unit],
                "xaxis": "x2",
                "yaxis": "y2",
            }
        )
    axes = two_rows(top=0.6, spacing=0.08)
    for x in ("xaxis", "xaxis2"):
        axes[x].update(type="date", range=bucket_range(window, unit))
    axes["yaxis"].update(title={"text": "success %"}, range=[0, 105])
    axes["yaxis2"].update(
        title={"text": "failures"},
        **count_axis(float(counts[list(FAILURES)].sum(axis=1).groupby(level="bucket").sum().max())),
    )
    return built(traces, {**axes, "barmode": "stack"}, theme, height=420)


def tool_bars(frame: pd.DataFrame, theme: str | None = None) -> go.Figure:
    """Horizontal bars of tool calls per tool, the most used on top."""
    if frame.empty:
        return empty_figure("no tool calls in this range", theme, height=260)
    top = frame.iloc[::-1]
    bars = {
        "type": "bar",
        "x": top["calls"],
        # The tool is the first word of whatever an agent printed: escaped, as plotly renders some HTML.
        "y": [label(t) for t in top["tool"]],
        "orientation": "h",
        "customdata": top[["share"]].to_numpy(),
        "hovertemplate": "%{y}: %{x:,} calls, %{customdata[0]:.1%} of all<extra></extra>",
    }
    layout = {
        "xaxis": {"title": {"text": "calls"}, **count_axis(float(top["calls"].max()))},
        "yaxis": {"title": {"text": None}, "ticklabelstandoff": LABEL_GAP},
    }
    return built([bars], layout, theme, height=max(260, 24 * len(top) + 80))


def peak_heatmap(frame: pd.DataFrame, theme: str | None = None) -> go.Figure:
    """Tasks created per weekday × hour (UTC), every cell present."""
    if frame.empty or not frame["count"].any():
        return empty_figure(theme=theme, height=300)
    grid = (
        frame.pivot_table(index="weekday", columns="hour", values="count", aggfunc="sum")
        .reindex(index=range(7), columns=range(24))
        .fillna(0)
        .astype(int)
    )
    heat = {
        "type": "heatmap",
        "z": grid.to_numpy(),
        "x": [f"{h:02d}" for h in range(24)],
        "y": list(WEEKDAYS),
        "colorscale": HEAT_SCALES["dark" if theme == "dark" else "light"],
        "hovertemplate": "%{y} %{x}:00 UTC: %{z} tasks<extra></extra>",
        "colorbar": {"title": {"text": "tasks"}},
    }
    layout = {"yaxis": {"autorange": "reversed"}, "xaxis": {"title": {"text": "hour (UTC)"}}}
    return built([heat], layout, theme, height=300)


def volume_forecast(
    frame: pd.DataFrame, forecast: Forecast | None, unit: str, theme: str | None = None
) -> go.Figure:
    """Tasks created per bucket (a partly covered bucket drawn faded), with the next bucket's forecast as a
    hollow marker and its ±2σ band."""
    if frame.empty or not frame["created"].any():
        return empty_figure(theme=theme, height=280)
    traces: list[dict[str, Any]] = [
        {
            "type": "bar",
            "x": frame["bucket"],
            "y": frame["created"],
            "name": "created",
            "marker": {"color": "#6610f2", "opacity": partial_opacity(frame["complete"])},
            "width": 0.8 * UNIT_MS[unit],
        }
    ]
    if forecast is not None:
        traces.append(
            {
                "type": "scatter",
                "x": [forecast.at],
                "y": [forecast.value],
                "mode": "markers",
                "name": f"forecast ({forecast.basis} {unit}s' trend)",
                "marker": {"symbol": "circle-open", "size": 12, "color": "#fd7e14", "line": {"width": 3}},
                "error_y": {
                    "type": "data",
                    "symmetric": False,
                    "array": [forecast.high - forecast.value],
                    "arrayminus": [forecast.value - forecast.low],
                },
                "hovertemplate": "forecast %{y:.1f} tasks<extra></extra>",
            }
        )
    top = max(float(frame["created"].max()), forecast.high if forecast is not None else 0.0)
    layout = {"yaxis": {"title": {"text": "tasks created"}, **count_axis(top)}, "xaxis": {"type": "date"}}
    return built(traces, layout, theme, height=280)


def spikes_chart(
    frame: pd.DataFrame, cost: pd.DataFrame, failed: pd.DataFrame, unit: str, theme: str | None = None
) -> go.Figure:
    """Cost (top) and failures (bottom) per bucket with their mean + 3σ threshold; spikes as red crosses.
    Without any cost or failure in the range there is nothing to threshold: the empty state, not flat lines."""
    if frame.empty or not (cost["value"].any() or failed["value"].any()):
        return empty_figure("no cost or failures in this range", theme, height=380)
    traces: list[dict[str, Any]] = []
    for row, (metric, flags, color, fmt) in enumerate(
        (("cost", cost, "#0d6efd", money), ("failures", failed, STATUS_HEX["failed"], count)), start=1
    ):
        axes = {"xaxis": "x" if row == 1 else "x2", "yaxis": "y" if row == 1 else "y2"}
        hit = flags["spike"].to_numpy()
        traces += [
            {
                "type": "bar",
                "x": frame["bucket"],
                "y": flags["value"].to_numpy(),
                "name": metric,
                "marker": {"color": color},
                "width": 0.8 * UNIT_MS[unit],
                "customdata": [fmt(v) for v in flags["value"]],  # the one style of reports/fmt.py
                "hovertemplate": f"{metric} %{{customdata}}<extra></extra>",
                **axes,
            },
            {
                "type": "scatter",
                "x": frame["bucket"],
                "y": flags["threshold"].to_numpy(),
                "mode": "lines",
                "line": {"dash": "dot", "color": "#6c757d"},
                "name": "mean + 3σ",
                "showlegend": row == 1,
                **axes,
            },
            {
                "type": "scatter",
                "x": frame["bucket"][hit],
                "y": flags["value"].to_numpy()[hit],
                "mode": "markers",
                "marker": {"symbol": "x", "size": 14, "color": SPIKE_HEX, "line": {"width": 2}},
                "name": f"{metric} spike",
                **axes,
            },
        ]
    layout = two_rows(spacing=0.1)
    for x in ("xaxis", "xaxis2"):
        layout[x]["type"] = "date"
    layout["yaxis"].update(title={"text": "USD"}, tickprefix="$", tickformat=THOUSANDS, rangemode="tozero")
    highest = failed[["value", "threshold"]].max().max()  # the mean + 3σ line may run above every bar
    layout["yaxis2"].update(title={"text": "failures"}, **count_axis(float(highest)))
    return built(traces, layout, theme, height=380)
