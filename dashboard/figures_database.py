"""Dashboard layer: the Database page's plotly figures — write rate, commit latency, update frequency and event-log
growth — each a pure function of the frames db.analytics.insights returns (unit-tested without a browser)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from dashboard.figures import UNIT_MS, _layout, bucket_range, count_axis, empty_figure, unit_of
from db.analytics.insights import Latency, PeakMinute

EVENTS_HEX = "#0d6efd"
PEAK_HEX = "#fd7e14"
COMMITS_HEX = "#20c997"
P50_HEX = "#0d6efd"
P95_HEX = "#dc3545"

# Commit latency is measured, not derived from the event log: a worker flushes its commits' timings to
# write_stats every minute (the web process keeps only its own last minute, in memory). A database filled by
# an import or the demo history holds 20,000 tasks and no such timings: "no data yet? submit a task" was false.
NO_COMMITS = "no commit timings in this range"
NO_COMMITS_WHY = "recorded each minute while a worker runs"


def writes_over_time(
    writes: pd.DataFrame,
    commits: pd.DataFrame,
    peak: PeakMinute | None,
    window: tuple[datetime, datetime],
    unit: str,
    theme: str | None = None,
) -> go.Figure:
    """Average events/s per bucket (bars), the busiest minute (a marker) and, from write_stats, commits/s of
    the processes that flush their statistics (line)."""
    if writes.empty and commits.empty:
        return empty_figure(theme=theme)
    fig = go.Figure()
    if not writes.empty:
        fig.add_bar(
            x=writes["bucket"],
            y=writes["per_second"],
            name="events/s (average)",
            marker_color=EVENTS_HEX,
            width=0.8 * UNIT_MS[unit],
            customdata=writes[["events"]].to_numpy(),
            hovertemplate="%{x}: %{y:.2f}/s · %{customdata[0]:,} events<extra></extra>",
        )
    if peak is not None and unit != "minute":  # at minute buckets the busiest minute is the highest bar
        fig.add_scatter(
            x=[peak.minute],
            y=[peak.per_second],
            name="busiest minute",
            mode="markers",
            marker={"color": PEAK_HEX, "size": 11, "symbol": "triangle-up"},
            # The busiest minute is the chart's highest point and may be its last: drawn whole over the plot's
            # edge, not cut at the corner.
            cliponaxis=False,
            hovertemplate=f"busiest minute: %{{y:.2f}}/s · {peak.events:,} events<extra></extra>",
        )
    if not commits.empty:
        fig.add_scatter(
            x=commits["bucket"],
            y=commits["commits_per_second"],
            name="commits/s (flushed)",
            mode="lines+markers",
            line={"color": COMMITS_HEX, "width": 2, "dash": "dot"},
        )
    fig.update_layout(yaxis_title="per second", yaxis_rangemode="tozero")
    fig.update_xaxes(type="date", range=bucket_range(window, unit))
    return _layout(fig, theme)


def commit_latency(
    latency: pd.DataFrame,
    window: tuple[datetime, datetime],
    live: Latency | None = None,
    theme: str | None = None,
) -> go.Figure:
    """Commit-weighted p50 and worst p95 per bucket from write_stats; `live` (this process's last minute, from
    its ring buffer) is drawn as two markers at the window's end, as it is not flushed yet."""
    now_known = live is not None and live.p50_ms is not None and live.p95_ms is not None
    if latency.empty and not now_known:
        return empty_figure(NO_COMMITS, theme, hint=NO_COMMITS_WHY)
    fig = go.Figure()
    if not latency.empty:
        custom = latency[["commits", "processes"]].to_numpy()
        for column, label, color in (("p50_ms", "p50", P50_HEX), ("p95_ms", "p95", P95_HEX)):
            fig.add_scatter(
                x=latency["bucket"],
                y=latency[column],
                name=label,
                mode="lines+markers",
                line={"color": color, "width": 2},
                customdata=custom,
                hovertemplate=(
                    f"{label} %{{y:.1f}} ms · %{{customdata[0]:,}} commits · %{{customdata[1]}} processes"
                    "<extra></extra>"
                ),
            )
    if live is not None and now_known:
        fig.add_scatter(
            x=[window[1], window[1]],
            y=[live.p50_ms, live.p95_ms],
            name="now (this process)",
            mode="markers",
            marker={"color": [P50_HEX, P95_HEX], "size": 12, "symbol": "diamond"},
            # At the axis' right end: clipped to the plot, half of each diamond was cut off.
            cliponaxis=False,
            hovertemplate=f"now: %{{y:.1f}} ms · {live.commits:,} commits in the last minute<extra></extra>",
        )
    fig.update_layout(yaxis_title="ms per commit", yaxis_rangemode="tozero")
    fig.update_xaxes(type="date", range=bucket_range(window, unit_of(latency["bucket"], window)))
    return _layout(fig, theme)


def update_histogram(frame: pd.DataFrame, theme: str | None = None) -> go.Figure:
    """How many tasks (created in range) were updated how often: bars per update_count bin."""
    if frame.empty:
        return empty_figure(theme=theme, height=300)
    fig = go.Figure()
    fig.add_bar(
        x=frame["label"],
        y=frame["tasks"],
        marker_color=EVENTS_HEX,
        name="tasks",
        hovertemplate="%{x} updates: %{y:,} tasks<extra></extra>",
    )
    tasks = int(frame["tasks"].sum())
    mean = frame["updates"].sum() / tasks if tasks else 0.0
    # Short enough for a phone's card (~330 px of plot): "… updates each on average" was cut at "on ave".
    fig.update_layout(title={"text": f"{tasks:,} tasks · avg {mean:.1f} updates", "x": 0})
    fig.update_layout(
        xaxis_title="updates per task",
        yaxis={"title": "tasks", **count_axis(float(frame["tasks"].max()))},
        xaxis_type="category",
    )
    return _layout(fig, theme, height=300)


# Up to a week, the growth chart labels every day: plotly's own steps labelled every other day of a week (a
# bar without a date under it); longer ranges keep plotly's steps.
EVERY_DAY_UP_TO = timedelta(days=7)


def day_ticks(window: tuple[datetime, datetime]) -> dict[str, Any]:
    """A daily chart's x ticks over `window`: one a day, at midnight (a bar's centre), for a week or less."""
    start, end = pd.Timestamp(window[0]), pd.Timestamp(window[1])
    if end - start > EVERY_DAY_UP_TO:
        return {}
    return {"tickmode": "linear", "tick0": start.floor("D"), "dtick": UNIT_MS["day"]}


def event_growth(
    frame: pd.DataFrame, window: tuple[datetime, datetime], theme: str | None = None
) -> go.Figure:
    """Events appended per day (bars) and the event log's running total (line, right axis)."""
    if frame.empty:
        return empty_figure(theme=theme, height=300)
    fig = go.Figure()
    fig.add_bar(
        x=frame["day"],
        y=frame["events"],
        name="events per day",
        marker_color=EVENTS_HEX,
        width=0.8 * UNIT_MS["day"],
    )
    fig.add_scatter(
        x=frame["day"],
        y=frame["cumulative"],
        name="total rows",
        mode="lines+markers",
        line={"color": PEAK_HEX, "width": 2},
        yaxis="y2",
    )
    fig.update_layout(
        yaxis={"title": "events per day", **count_axis(float(frame["events"].max()))},
        yaxis2={
            "title": "total rows",
            "overlaying": "y",
            "side": "right",
            # Its own round ticks, not plotly's default for an overlaying axis ("sync": as many ticks as the
            # left axis, at its grid lines), which over one event read 0.204, 0.408 … 1.02 and over the demo's
            # 466,649 rows 95,159, 190,293 …; so no grid of its own either.
            "tickmode": "auto",
            "showgrid": False,
            **count_axis(float(frame["cumulative"].max())),
        },
    )
    # Whole days: the first bar not halved.
    fig.update_xaxes(type="date", range=bucket_range(window, "day"), **day_ticks(window))
    fig = _layout(fig, theme, height=300)
    fig.update_layout(margin={"r": 70})
    return fig
