"""Dashboard layer: plotly figures, each built by a pure function from a DataFrame (unit-tested)."""

from __future__ import annotations

import html
import re
import textwrap
import zlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import plotly.io as pio

from db.read.scope import unit_for
from reports.fmt import count, duration, money

STATUS_HEX = {
    "completed": "#198754",
    "failed": "#dc3545",
    "timed_out": "#ffc107",
    "cancelled": "#6c757d",
    "running": "#0d6efd",
    "queued": "#adb5bd",
}
# The agent's roles in the order its pipeline calls them (worker/simulation.ROLES), each with the one colour it
# has on every chart: the Agents page's charts listed roles by cost in one and by calls in the next.
ROLE_HEX = {
    "analyst": "#6f42c1",
    "planner": "#0dcaf0",
    "builder": "#0d6efd",
    "tester": "#fd7e14",
    "reviewer": "#20c997",
}
# Roles outside the pipeline are named by whoever reports the calls: each takes one of these by a checksum of
# its name, so it keeps its colour whatever else is in the range. None is a pipeline role's, a status' (the
# task timeline draws both) or a neutral series' (NEUTRAL_HEX).
OTHER_ROLE_HEX = ("#d63384", "#8c564b", "#bcbd22")
# Series that are not roles (a role's average and p95 durations): greys, never a role's colour.
NEUTRAL_HEX = ("#adb5bd", "#6c757d")


def _role_name(role: object) -> str:
    return "" if role is None or pd.isna(role) else str(role)


def role_hex(role: object) -> str:
    """The colour of a role on every chart."""
    name = _role_name(role)
    if name in ROLE_HEX:
        return ROLE_HEX[name]
    return OTHER_ROLE_HEX[zlib.crc32(name.encode()) % len(OTHER_ROLE_HEX)]


def role_key(role: object) -> tuple[int, str]:
    """A role's place in the one order every chart lists roles in: the pipeline's (ROLE_HEX), then any other
    by name."""
    name = _role_name(role)
    return (list(ROLE_HEX).index(name), "") if name in ROLE_HEX else (len(ROLE_HEX), name)


def label(value: object) -> str:
    """A user-supplied name as plotly text: plotly renders some HTML in labels (<b>, <a>), so escape it."""
    return html.escape(str(value), quote=False) if value not in (None, "") else "(none)"


# The parts of plotly's white and dark templates these charts use. The full templates carry defaults for every
# trace type, and validating one into each figure took 10 ms (50 ms on a busy machine): a page with seven
# charts spent most of its callback there.
TEMPLATE_PARTS = (
    "colorway",
    "font",
    "paper_bgcolor",
    "plot_bgcolor",
    "hoverlabel",
    "colorscale",
    "coloraxis",
    "xaxis",
    "yaxis",
)
TEMPLATES = {"dark": "tasklens_dark", "light": "tasklens_light"}


def _register_templates() -> None:
    for theme, base in (("dark", "plotly_dark"), ("light", "plotly_white")):
        layout = pio.templates[base].layout
        pio.templates[TEMPLATES[theme]] = go.layout.Template(layout={k: layout[k] for k in TEMPLATE_PARTS})


_register_templates()


HEIGHT = 320  # px: a chart's height unless it says otherwise
# A horizontal legend hung by its bottom just above the plot: when it wraps to more rows (7 models at 390 px)
# it grows upward into the top margin plotly widens for it, not down over the data as a top-anchored one did.
# At most three rows (px; plotly's own cap is half the figure's height): at 390 px each of 7 models' names
# takes a row of its own, and the legend left ~110 px of a 320 px chart to the bars; the rest scroll.
LEGEND_ROWS_PX = 64
LEGEND = {
    "orientation": "h",
    "x": 0,
    "xanchor": "left",
    "y": 1.02,
    "yanchor": "bottom",
    "maxheight": LEGEND_ROWS_PX,
}


# A count axis reaches at least this high: one event filled the chart's height.
COUNT_FLOOR = 5


def count_axis(top: float) -> dict[str, Any]:
    """An axis of counts up to `top`: from zero, whole numbers with separators ("1,000", not "1000"), at least
    0–COUNT_FLOOR. Over one event plotly ticked the axis 0.204, 0.408 … 1.02; below 10 its own steps may be
    fractions, so they are set."""
    axis: dict[str, Any] = {
        "rangemode": "tozero",
        "tickformat": ",d",
        "autorangeoptions": {"include": [0, COUNT_FLOOR]},
    }
    if top <= 10:
        axis.update(tickmode="linear", tick0=0, dtick=1 if top <= COUNT_FLOOR else 2)
    return axis


# The gap between a horizontal bar chart's category labels and its bars (px): plotly draws them touching.
LABEL_GAP = 8
# Tick labels of amounts with thousands separators: plotly writes "$1000" (and "$1200").
THOUSANDS = ","


def template(theme: str | None) -> str:
    return TEMPLATES["dark"] if theme == "dark" else TEMPLATES["light"]


def _look(theme: str | None, height: int) -> dict[str, Any]:
    """The layout every chart shares: its theme, height, margins, a see-through background, the legend on top."""
    return {
        "template": template(theme),
        "height": height,
        "margin": {"l": 70, "r": 10, "t": 40, "b": 40},
        "paper_bgcolor": "rgba(0,0,0,0)",
        "plot_bgcolor": "rgba(0,0,0,0)",
        "legend": LEGEND,
    }


# Charts draw UTC whatever the page's local-time switch says (only text times follow it): a time axis says so
# on the axis and in every hover.
UTC_HOVER = "%Y-%m-%d %H:%M UTC"
UTC_TITLE = {"text": "UTC", "font": {"size": 11}, "standoff": 4}


def _layout(fig: go.Figure, theme: str | None, height: int = HEIGHT) -> go.Figure:
    fig.update_layout(**_look(theme, height))
    if _time_on_x(fig):
        fig.update_xaxes(hoverformat=UTC_HOVER)
        if not fig.layout.xaxis.title.text:
            fig.update_xaxes(title=UTC_TITLE, selector=lambda axis: axis.showticklabels is not False)
    return fig


def _time_on_x(fig: go.Figure) -> bool:
    """Whether the figure's x values are times (plotly decides a date axis only in the browser)."""
    return any(_are_times(getattr(trace, "x", None)) for trace in fig.data)


def _are_times(values: Any) -> bool:
    """Whether x values are times, by the first (a Series' by position: a filtered frame's index need not hold 0)."""
    if values is None or isinstance(values, str):
        return False
    return isinstance(next(iter(values), None), datetime | pd.Timestamp | np.datetime64)


def built(
    traces: list[dict[str, Any]], layout: dict[str, Any], theme: str | None, height: int = HEIGHT
) -> go.Figure:
    """A figure in one step from plain dicts — its traces (each with its `type`) and its layout, over the shared
    look — as `_layout` would finish it. go.Figure validates each property once; add_trace, update_layout,
    update_xaxes and make_subplots each validate and copy again, which was most of a distributions refresh at
    1,000,000 tasks (issue 16)."""
    full = {**_look(theme, height), **layout}
    if any(_are_times(trace.get("x")) for trace in traces):
        titled = full.get("xaxis", {}).get("title")
        untitled = not (titled.get("text") if isinstance(titled, dict) else titled)
        # Every x axis, as update_xaxes would: the layout's own, else the one a figure always has.
        for name in [k for k in full if k.startswith("xaxis")] or ["xaxis"]:
            axis = full.get(name, {})
            # The title only under tick labels: on the top chart of two_rows it sat between the two panels.
            titled_here = untitled and axis.get("showticklabels") is not False
            full[name] = {**axis, "hoverformat": UTC_HOVER, **({"title": UTC_TITLE} if titled_here else {})}
    return go.Figure(data=traces, layout=full)


def two_rows(top: float = 0.5, spacing: float = 0.1) -> dict[str, Any]:
    """The axes of two charts stacked on one shared x axis, as make_subplots(rows=2, cols=1, shared_xaxes=True,
    row_heights=[top, 1 - top], vertical_spacing=spacing) lays them out; the bottom chart's traces name
    xaxis "x2" and yaxis "y2"."""
    bottom = (1 - top) * (1 - spacing)
    return {
        "xaxis": {"anchor": "y", "domain": [0.0, 1.0], "matches": "x2", "showticklabels": False},
        "yaxis": {"anchor": "x", "domain": [bottom + spacing, 1.0]},
        "xaxis2": {"anchor": "y2", "domain": [0.0, 1.0]},
        "yaxis2": {"anchor": "x2", "domain": [0.0, bottom]},
    }


QUEUE_HEX = "#adb5bd"
EDGE = 0.05  # of the axis' span, each side: room for the labels of the first and last transitions


def timeline_range(
    starts: pd.Series, ends: pd.Series, moments: pd.Series
) -> tuple[pd.Timestamp, pd.Timestamp, pd.Timestamp | None]:
    """The x range of a task's timeline and, when the wait before its first call is longer than the run, the
    queue's start (the axis then spans the run only): a 5-minute wait before a 20-second run left its four calls
    as slivers in the rightmost 3 % of the axis. Gantt views of runs (Jaeger, Langfuse) span the work; the
    wait is drawn as a band at the left edge, labelled with its length."""
    times = pd.concat([starts, ends, moments]).dropna()
    first, last = times.min(), times.max()
    run = starts.min() if not starts.empty else None
    folded = run is not None and run - first > last - run
    left = run if folded else first
    pad = max((last - left) * EDGE, pd.Timedelta(seconds=1))
    return left - pad, last + pad, first if folded else None


# A transition label's width per character, as a share of the timeline's plot: 12 px text over the ~250 px plot
# of a phone-width card (the widest the labels need room for; the figure does not know its width).
LABEL_CHAR = 0.025


def transition_labels(names: list[str], at: list[float], taken: int = 0) -> tuple[list[str], list[str]]:
    """The text and textposition of each transition's label on the state row, the transitions at `at` (shares
    of the axis' span, in time order) with the first `taken` characters' width above the row's left end taken
    (a folded wait's label). Labels of transitions close in time go above and below the marker in turn; a label
    that would reach past an end of the axis starts at its marker and runs inward ("queued", centred on a
    marker near the left end, ran into the "state" tick label at 390 px); one with no room on either side is
    left to the hover (which names every transition). Placed from the latest back: of close labels, the earlier
    ones give way (the latest state is always labelled)."""
    held: dict[str, list[tuple[float, float]]] = {
        "top": [(0.0, taken * LABEL_CHAR)] if taken else [],
        "bottom": [],
    }
    texts, places = [""] * len(names), ["top center"] * len(names)
    prefer = "top"
    for i in reversed(range(len(names))):
        x, width = at[i], len(names[i]) * LABEL_CHAR
        if x - width / 2 < 0:
            anchor, reach = "right", (x, x + width)
        elif x + width / 2 > 1:
            anchor, reach = "left", (x - width, x)
        else:
            anchor, reach = "center", (x - width / 2, x + width / 2)
        for side in (prefer, "bottom" if prefer == "top" else "top"):
            if all(reach[1] <= a or b <= reach[0] for a, b in held[side]):
                held[side].append(reach)
                texts[i], places[i] = names[i], f"{side} {anchor}"
                prefer = "bottom" if side == "top" else "top"
                break
    return texts, places


def task_timeline(
    invocations: pd.DataFrame, transitions: pd.DataFrame, now: datetime, theme: str | None = None
) -> go.Figure:
    """A Gantt of the task's invocations (one row per role) with its state transitions as markers."""
    if invocations.empty and transitions.empty:
        return empty_figure("nothing recorded yet", theme, height=280, hint=False)
    fig = go.Figure()
    ends = invocations["completed_at"].fillna(pd.Timestamp(now))
    starts = invocations["started_at"]
    left, right, queued = timeline_range(starts, ends, transitions["at"] if not transitions.empty else starts)
    if not invocations.empty:
        widths_ms = (ends - starts).dt.total_seconds() * 1000.0
        for role in invocations["role"].unique():
            mask = invocations["role"] == role
            fig.add_bar(
                base=starts[mask],
                x=widths_ms[mask],
                y=[label(role)] * int(mask.sum()),
                orientation="h",
                name=label(role),
                marker_color=role_hex(role),
                customdata=[[label(m), s] for m, s in invocations.loc[mask, ["model", "status"]].to_numpy()],
                hovertemplate="%{y} · %{customdata[0]} · %{customdata[1]}<extra></extra>",
            )
    wait_text = "" if queued is None else f"◀ queued {duration((starts.min() - queued).total_seconds())}"
    shown = transitions[(transitions["at"] >= left).to_numpy()]
    if not shown.empty:
        labels = [
            f"{'new' if pd.isna(a) else a} → {b}"
            for a, b in zip(shown["from_status"], shown["to_status"], strict=True)
        ]
        span = right - left
        # A folded wait's label sits above the plot's left edge, where the state row's top labels are drawn.
        texts, places = transition_labels(
            [str(b) for b in shown["to_status"]], [(at - left) / span for at in shown["at"]], len(wait_text)
        )
        fig.add_scatter(
            x=shown["at"],
            y=["state"] * len(shown),
            mode="markers+text",
            text=texts,
            textposition=places,
            # The top row's labels reach past the plot's top edge: drawn into the margin, not cut off.
            cliponaxis=False,
            hovertext=labels,
            hoverinfo="text+x",
            name="transitions",
            marker={"size": 10, "color": [STATUS_HEX.get(str(s), "#6c757d") for s in shown["to_status"]]},
        )
    fig.update_layout(barmode="overlay", showlegend=False)
    fig.update_xaxes(type="date", range=[left, right])
    if queued is not None:
        run = starts.min()
        # The wait runs off the axis' left edge: a band to the first call, and its length above the plot.
        fig.add_vrect(x0=queued, x1=run, fillcolor=QUEUE_HEX, opacity=0.25, line_width=0, layer="below")
        fig.add_annotation(
            x=left,
            y=1,
            xref="x",
            yref="paper",
            xanchor="left",
            yanchor="bottom",
            showarrow=False,
            text=wait_text,
            hovertext=f"queued {queued:%H:%M:%S}, first call {run:%H:%M:%S} UTC",
            font={"size": 11},
        )
    fig = _layout(fig, theme, height=280)
    fig.update_layout(margin={"t": 50})
    return fig


UNIT_MS = {
    "minute": 60_000,
    "hour": 3_600_000,
    "day": 86_400_000,
    "week": 7 * 86_400_000,
    "month": 30 * 86_400_000,
}


def _floor(at: pd.Timestamp, unit: str) -> pd.Timestamp:
    """The start of the bucket `at` falls in, as the database buckets (date_trunc: weeks start on Monday)."""
    naive = at.tz_localize(None) if at.tzinfo else at
    if unit in ("week", "month"):
        start = naive.to_period("W-SUN" if unit == "week" else "M").start_time
    else:
        start = naive.floor({"minute": "min", "hour": "h", "day": "D"}[unit])
    return start.tz_localize(at.tzinfo) if at.tzinfo else start


def bucket_range(window: tuple[datetime, datetime], unit: str) -> list[pd.Timestamp]:
    """The x range of a series bucketed by `unit` over `window`: from half a bucket before the bucket the window
    starts in (a bar is centred on its bucket's start) to the window's end or half a bucket past the last
    bucket's start, whichever is later. From the window's own start a daily chart of "last 7 days" cut its
    first bucket in half (lines ran off the left edge, the first bar was not drawn at all)."""
    half = pd.Timedelta(milliseconds=UNIT_MS[unit] / 2)
    start, end = pd.Timestamp(window[0]), pd.Timestamp(window[1])
    last = _floor(end - pd.Timedelta(microseconds=1), unit)  # the window's end is exclusive
    return [_floor(start, unit) - half, max(end, last + half)]


# A bucket the range covers only in part — the first, from the range's start, and the one in progress — is
# drawn faded, on every plotly page as on the overview's SVG: its smaller count or cost is not a fall.
PARTIAL_OPACITY = 0.45


def partial_opacity(complete: Iterable[bool]) -> list[float]:
    """The bar opacity of each bucket, faded where it is not `complete`."""
    return [1.0 if whole else PARTIAL_OPACITY for whole in complete]


def naive_utc(at: object) -> pd.Timestamp:
    """A time as naive UTC, as the database's buckets are (an aware one converted first)."""
    stamp = pd.Timestamp(at)
    return stamp.tz_convert("UTC").tz_localize(None) if stamp.tzinfo else stamp


def bucket_complete(buckets: Iterable[object], window: tuple[datetime, datetime], unit: str) -> list[bool]:
    """Whether `window` covers each bucket whole, as db.analytics.volume marks its series' `complete` column
    (which Performance's bars are faded by)."""
    start, end = naive_utc(window[0]), naive_utc(window[1])
    step = pd.Timedelta(milliseconds=1.5 * UNIT_MS[unit])  # into the next bucket, whatever a month's length
    return [start <= b and _floor(b + step, unit) <= end for b in map(naive_utc, buckets)]


def unit_of(buckets: pd.Series, window: tuple[datetime, datetime]) -> str:
    """The bucket unit of a series: its smallest step between buckets, or (one bucket) the scope's rule for the
    window (db/read/scope.Scope.unit)."""
    steps = pd.Series(buckets.unique()).sort_values().diff().dropna()
    if steps.empty:
        return unit_for(pd.Timestamp(window[1]) - pd.Timestamp(window[0]))
    step_ms = steps.min().total_seconds() * 1000
    return min(UNIT_MS, key=lambda unit: abs(UNIT_MS[unit] - step_ms))


def cost_over_time(
    frame: pd.DataFrame, window: tuple[datetime, datetime], unit: str, theme: str | None = None
) -> go.Figure:
    """Stacked cost bars per bucket by model, over the whole window (so one bucket is one bar, not the axis); a
    bucket the window covers only in part faded, as on Performance."""
    if frame.empty:
        return empty_figure(theme=theme)
    traces = []
    for model in frame.groupby("model")["cost"].sum().sort_values(ascending=False).index:
        part = frame[frame["model"] == model]
        traces.append(
            {
                "type": "bar",
                "x": part["bucket"],
                "y": part["cost"],
                "name": label(model),
                "width": 0.8 * UNIT_MS[unit],
                "marker": {"opacity": partial_opacity(bucket_complete(part["bucket"], window, unit))},
                "customdata": [
                    money(v) for v in part["cost"]
                ],  # hover text in the one money style (reports/fmt.py)
                "hovertemplate": "%{x}: %{customdata}",
            }
        )
    layout = {
        "barmode": "stack",
        # The most expensive model first, as the traces are: plotly lists a stack's legend top-down (cheapest
        # first), and with the legend capped at three rows on a phone the models that cost most had to be
        # scrolled to.
        "legend": {**LEGEND, "traceorder": "normal"},
        "yaxis": {
            "title": {"text": "USD"},
            "tickprefix": "$",
            "tickformat": THOUSANDS,
            "rangemode": "tozero",
        },
        "xaxis": {"type": "date", "range": bucket_range(window, unit)},
    }
    return built(traces, layout, theme)


def tokens_over_time(
    frame: pd.DataFrame, window: tuple[datetime, datetime], theme: str | None = None, unit: str | None = None
) -> go.Figure:
    """Input, output and cache-read tokens per bucket (all models), over the x range of the cost chart above it
    (`unit` the buckets', found from the frame if not given)."""
    if frame.empty:
        return empty_figure(theme=theme, height=260)
    totals = frame.groupby("bucket")[["input", "output", "cache"]].sum().reset_index()
    traces = [
        {"type": "scatter", "x": totals["bucket"], "y": totals[column], "name": name, "mode": "lines+markers"}
        for column, name in (("input", "input"), ("output", "output"), ("cache", "cache read"))
    ]
    layout = {
        "yaxis": {"title": {"text": "tokens"}, "rangemode": "tozero"},
        "xaxis": {"type": "date", "range": bucket_range(window, unit or unit_of(frame["bucket"], window))},
    }
    return built(traces, layout, theme, height=260)


def breakdown_bars(frame: pd.DataFrame, dim: str, theme: str | None = None) -> go.Figure:
    """Horizontal bars of cost per value of a dimension, most expensive on top."""
    if frame.empty:
        return empty_figure(theme=theme, height=260)
    top = frame.head(15).iloc[::-1]
    bars = {
        "type": "bar",
        "x": top["cost"],
        "y": [label(k) for k in top["key"]],
        "orientation": "h",
        "customdata": [[count(n), money(c)] for n, c in zip(top["calls"], top["cost"], strict=True)],
        "hovertemplate": "%{y}: %{customdata[1]} · %{customdata[0]} calls<extra></extra>",
    }
    layout = {
        "xaxis": {
            "title": {"text": "USD"},
            "tickprefix": "$",
            "tickformat": THOUSANDS,
            "rangemode": "tozero",
        },
        "yaxis": {"title": {"text": dim}, "ticklabelstandoff": LABEL_GAP},
    }
    return built([bars], layout, theme, height=max(260, 28 * len(top) + 80))


NO_DATA = "no data in this range"
START_HINT = "no data yet? start python app.py --demo or submit a task"
COMMAND = "python app.py --demo"
EMPTY_LINE = 28  # characters: a line of the empty state fits a phone-width card (390 px) at 14 px
EMPTY_MARGIN = {"l": 10, "r": 10, "t": 10, "b": 10}  # no axes to make room for: the card's width for the text


def _lines(text: str, style: str = "", width: int = EMPTY_LINE) -> str:
    """Text broken into lines of at most `width` characters at spaces (the command kept on one line), escaped,
    each in a span of `style`, joined with <br>: plotly never wraps an annotation, and one long line ran off a
    narrow chart."""
    kept = text.replace(COMMAND, COMMAND.replace(" ", "\u00a0"))  # textwrap splits only at ASCII spaces
    lines = textwrap.wrap(kept, width, break_on_hyphens=False, break_long_words=False)
    escaped = [html.escape(line.replace("\u00a0", " "), quote=False) for line in lines]
    return "<br>".join(f"<span style='{style}'>{line}</span>" if style else line for line in escaped)


def empty_figure(
    message: str = NO_DATA, theme: str | None = None, height: int = HEIGHT, hint: bool | str = True
) -> go.Figure:
    """The one empty state of every chart: a message and no axes, instead of the −1…4 axes, the $−1 ticks or
    the year-2000 dates plotly draws around no data (and no threshold lines or colour bars over nothing).
    `hint` (True: how to get data in, for charts that stay empty until something is recorded; or a text of the
    chart's own) is a smaller second line."""
    fig = go.Figure()
    text = _lines(message)
    if hint:
        text += "<br>" + _lines(START_HINT if hint is True else hint, "font-size:0.85em;opacity:0.75")
    fig.add_annotation(
        text=text, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font={"size": 14}
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(showlegend=False, meta={"empty": True})
    fig = _layout(fig, theme, height)
    fig.update_layout(margin=EMPTY_MARGIN)
    return fig


def empty_text(fig: go.Figure) -> str:
    """What an empty state says, as one line of plain text (its line breaks and styling spans taken out)."""
    texts = [re.sub(r"<[^>]+>", " ", str(a.text or "")) for a in fig.layout.annotations]
    return " ".join(" ".join(texts).split())


def is_empty(fig: go.Figure) -> bool:
    """Whether a figure is the empty state (tests and pages may ask)."""
    meta = fig.layout.meta
    return isinstance(meta, dict) and bool(meta.get("empty"))
