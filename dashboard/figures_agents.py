"""Dashboard layer: plotly figures of the Agents page — cost per role, and failure rate and durations per role —
and of a worker's page — its throughput over the range; each a pure function of a db frame (unit-tested)."""

from __future__ import annotations

import copy
from html import escape

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.figures import (
    LABEL_GAP,
    NEUTRAL_HEX,
    STATUS_HEX,
    THOUSANDS,
    _layout,
    built,
    empty_figure,
    role_hex,
    role_key,
)
from reports.fmt import count, duration, money

FAILURE_HEX = "#dc3545"


def role_label(role: object) -> str:
    """A role name as plotly text. Plotly renders a subset of HTML in labels and decodes entities, so names
    (chosen by whoever reports the calls) are escaped to display exactly as written."""
    name = "" if role is None or pd.isna(role) else str(role)
    return escape(name, quote=False) if name else "(none)"


NO_CALLS = "no calls in this range"
MOST_ROLES = 15  # a chart's roles at most: the most expensive


def roles_shown(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of the roles both charts show — the MOST_ROLES most expensive — in the one role order
    (figures.role_order), so a role is in the same place in each: one listed them by cost and the other by
    calls (planner, builder, analyst … then builder, tester, analyst …)."""
    top = frame.sort_values("cost", ascending=False, kind="stable").head(MOST_ROLES)
    return top.iloc[sorted(range(len(top)), key=lambda i: role_key(top["role"].iloc[i]))]


def role_axis(labels: list[str]) -> dict[str, object]:
    """A category axis listing the roles in the order given, whatever order the traces name them in."""
    return {"categoryorder": "array", "categoryarray": labels}


def role_cost_bars(frame: pd.DataFrame, theme: str | None = None) -> go.Figure:
    """Horizontal bars of cost per role, in the role order from the top down, each in its role's colour."""
    if frame.empty:
        return empty_figure(NO_CALLS, theme, height=260)
    top = roles_shown(frame)
    labels = [role_label(r) for r in top["role"]]
    bars = {
        "type": "bar",
        "x": top["cost"],
        "y": labels,
        "orientation": "h",
        "marker": {"color": [role_hex(r) for r in top["role"]]},
        "customdata": [
            [count(n), count(f), money(c)]
            for n, f, c in zip(top["calls"], top["failed"], top["cost"], strict=True)
        ],
        "hovertemplate": "%{y}: %{customdata[2]} · %{customdata[0]} calls · %{customdata[1]} failed<extra></extra>",
    }
    layout = {
        "xaxis": {
            "title": {"text": "USD"},
            "tickprefix": "$",
            "tickformat": THOUSANDS,
            "rangemode": "tozero",
        },
        # The first role on top (plotly lists categories from the bottom up), as the next chart lists it first.
        "yaxis": {
            "title": {"text": "role"},
            "ticklabelstandoff": LABEL_GAP,
            **role_axis(labels),
            "autorange": "reversed",
        },
        "showlegend": False,
    }
    return built([bars], layout, theme, height=max(260, 28 * len(top) + 80))


# The two panels' axes and titles as make_subplots lays them out, taken once (it validates a whole figure). The
# units are in the panels' titles and ticks, not in y-axis titles: at 390 px the right panel's "seconds" title
# was drawn in the gap over the left panel's bars.
_QUALITY_GRID = make_subplots(
    rows=1, cols=2, subplot_titles=("failure rate (%)", "call duration (s)"), horizontal_spacing=0.14
).layout.to_plotly_json()
_QUALITY_GRID.pop("template")


def role_quality(frame: pd.DataFrame, theme: str | None = None) -> go.Figure:
    """Two panels sharing the role axis (the roles of role_cost_bars, in its order): failure rate (% of finished
    calls) and call duration (avg and p95)."""
    if frame.empty:
        return empty_figure(NO_CALLS, theme)
    ordered = roles_shown(frame)
    labels = [role_label(r) for r in ordered["role"]]
    traces = [
        {
            "type": "bar",
            "x": labels,
            "y": (ordered["failure_rate"] * 100).round(2),
            "name": "failure rate",
            "marker": {"color": FAILURE_HEX},
            "customdata": ordered[["failed", "finished"]].to_numpy(),
            "hovertemplate": "%{x}: %{y:.1f}% · %{customdata[0]} of %{customdata[1]} failed<extra></extra>",
            "xaxis": "x",
            "yaxis": "y",
        }
    ]
    traces += [
        {
            "type": "bar",
            "x": labels,
            "y": ordered[column],
            "name": name,
            "marker": {"color": color},
            "customdata": [duration(v) for v in ordered[column]],
            "hovertemplate": f"%{{x}}: {name} %{{customdata}}<extra></extra>",
            "xaxis": "x2",
            "yaxis": "y2",
        }
        # Greys: blue and purple were the builder's and the analyst's colours in the chart beside it.
        for (column, name), color in zip((("avg_s", "avg"), ("p95_s", "p95")), NEUTRAL_HEX, strict=True)
    ]
    layout = copy.deepcopy(_QUALITY_GRID)
    for x in ("xaxis", "xaxis2"):
        layout[x].update(role_axis(labels))
    layout["yaxis"].update(ticksuffix="%", rangemode="tozero")
    layout["yaxis2"].update(ticksuffix="s", rangemode="tozero")
    layout["barmode"] = "group"
    fig = built(traces, layout, theme)
    # The shared legend would sit on the panels' titles: hang it above them (it grows upward when it wraps).
    fig.layout.margin.t = 70
    fig.layout.legend.y = 1.12
    return fig


# A bucket's length in minutes → the unit of its counts.
BUCKET_UNITS = {1: "minute", 60: "hour", 1440: "day"}


def bucket_unit(frame: pd.DataFrame) -> str:
    """The unit of a throughput frame's buckets, from a bucket's count over its per-minute rate."""
    finished = frame["done"] + frame["failed"]
    rate = frame["done_per_minute"] + frame["failed_per_minute"]
    minutes = round(float((finished[rate > 0] / rate[rate > 0]).iloc[0]))
    return BUCKET_UNITS.get(minutes, f"{minutes} min")


def worker_throughput(frame: pd.DataFrame, theme: str | None = None) -> go.Figure:
    """Tasks a worker finished per bucket over the range (a `db.read.worker_detail.throughput` frame), completed
    and failed stacked, so the bar's height is the count and its red part the failures. Counts per bucket, in
    the bucket's unit: daily bars in tasks per minute read 0.01–0.05 on a 7-day range."""
    if frame.empty or not (frame["done"].sum() + frame["failed"].sum()):
        return empty_figure("this worker finished no task in this range", theme, height=280, hint=False)
    unit = bucket_unit(frame)
    fig = go.Figure()
    for column, name, status in (
        ("done", "completed", "completed"),
        ("failed", "failed or timed out", "failed"),
    ):
        fig.add_bar(
            x=frame["bucket"],
            y=frame[column],
            name=name,
            marker_color=STATUS_HEX[status],
            hovertemplate=f"%{{x}}: %{{y}} tasks / {unit}<extra>{name}</extra>",
        )
    fig.update_layout(barmode="stack", yaxis_title=f"tasks / {unit}", xaxis_title=None)
    fig.update_yaxes(rangemode="tozero")
    return _layout(fig, theme, height=280)
