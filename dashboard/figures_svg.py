"""Dashboard layer: charts drawn on the server as inline SVG markup, each by a pure function from a DataFrame
(unit-tested), for pages that must not wait for plotly.js (4.7 MB of script, the overview's last request).

The markup is text only: no script, no event handler, every label escaped. Colours of data are fixed (the
status colours of figures.STATUS_HEX); everything else — text, axes, grid lines, the created line — takes its
colour from CSS classes and currentColor (assets/tasklens.css), so one drawing serves the light and the dark
theme and a theme switch redraws nothing. Each chart is an image with a <title> and a <desc> naming what it
shows (screen readers), and each bar and point carries its own <title> (the browser's hover tooltip).

A drawing scales to its box's width, its text with it: the 720-unit drawing shrunk to a phone's 334 px drew
its labels ~5 px high. So the overview gets two drawings of the same data (`throughput_pair`), the desktop's
and a narrow one (NARROW: fewer units across, so its text is ~11 px on a phone; fewer ticks; its legend on two
rows), and CSS shows the one that fits the window (assets/tasklens.css)."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape
from typing import cast

import pandas as pd

from dashboard.figures import PARTIAL_OPACITY, START_HINT, STATUS_HEX, naive_utc

WIDTH = 720  # the drawing's own units; it scales to its box's width (viewBox), keeping its proportions
HEIGHT = 300
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 52, 12, 34, 40
OUTCOMES = ("completed", "failed", "timed_out", "cancelled")  # stacked bottom to top, as the legend reads
EMPTY_24H = "no tasks in the last 24 hours"


@dataclass(frozen=True)
class Frame:
    """One drawing's size in its own units and what fits in it. Text is sized in these units (CSS, per
    `name`), so the fewer units across, the larger the text on the same screen."""

    name: str  # its class, tl-chart-<name> (assets/tasklens.css: its font sizes, when it shows)
    width: int
    height: int
    left: int  # the margins around the plot
    right: int
    bottom: int
    hour_step: int  # a label on the time axis every this many hours
    most_ticks: int  # at most this many steps up the y axis
    char: float  # a character's advance at the drawing's font size: lays out the legend and wraps a hint
    legend_x: int  # where the legend's first swatch starts
    label_above: bool  # the y axis's "tasks" above it, under the legend (beside it takes a phone's width)


WIDE = Frame("wide", WIDTH, HEIGHT, MARGIN_LEFT, MARGIN_RIGHT, MARGIN_BOTTOM, 3, 5, 7.0, MARGIN_LEFT, False)
# A phone's (up to 576 px wide): 360 units in a 334 px box draw 13-unit text at ~12 px, 12-unit at ~11 px.
NARROW = Frame("narrow", 360, 300, 44, 10, 40, 6, 4, 8.0, 8, True)
LEGEND_ROW = 18  # one row of the legend, in units


def _naive_utc(when: datetime | pd.Timestamp) -> datetime:
    return cast(datetime, naive_utc(when).to_pydatetime())


def nice_ticks(top: float, most: int = 5) -> list[float]:
    """0 and round steps (1, 2 or 5 × 10^n) up to at least `top`, at most `most` + 1 values."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / most
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    steps = math.ceil(top / step - 1e-9)
    return [round(i * step, 10) for i in range(steps + 1)]


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _label(value: float) -> str:
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.1f}"


def _text(x: float, y: float, text: str, cls: str, anchor: str = "middle") -> str:
    return f'<text class="{cls}" x="{_num(x)}" y="{_num(y)}" text-anchor="{anchor}">{escape(text)}</text>'


def empty(message: str, ident: str, hint: bool = True, frame: Frame = WIDE) -> str:
    """The empty state: the message (and how to get data in), no axes. `ident`: a prefix for the ids of its
    title (unique on the page)."""
    middle = frame.width / 2
    lines = _text(middle, frame.height / 2 - 6, message, "tl-chart-message")
    if hint:
        # The hint in as many lines as the drawing's width needs (one on a desktop, two on a phone).
        most = int((frame.width - 24) / frame.char)
        for row, part in enumerate(
            textwrap.wrap(START_HINT, most, break_long_words=False, break_on_hyphens=False)
        ):
            lines += _text(middle, frame.height / 2 + 16 + 18 * row, part, "tl-chart-hint")
    return (
        f'<svg class="tl-chart tl-chart-{frame.name} tl-chart-empty" viewBox="0 0 {frame.width} {frame.height}" '
        f'role="img" aria-labelledby="{ident}"><title id="{ident}">{escape(message)}</title>{lines}</svg>'
    )


def _legend(entries: Iterable[tuple[str, str]], frame: Frame) -> tuple[str, int]:
    """Swatches and names along the top: (name, a fill colour, or "" for the created line's class), on as
    many rows as the drawing's width needs; the markup and where the plot may start below it."""
    parts: list[str] = []
    x: float = frame.legend_x
    row = 0
    for name, fill in entries:
        advance = 24 + frame.char * len(name)
        if x > frame.legend_x and x + advance - 8 > frame.width - frame.right:
            x, row = frame.legend_x, row + 1
        y = 8 + LEGEND_ROW * row
        if fill:
            parts.append(f'<rect x="{_num(x)}" y="{y}" width="12" height="12" rx="2" fill="{fill}"/>')
        else:
            parts.append(
                f'<line class="tl-created" x1="{_num(x)}" y1="{y + 6}" x2="{_num(x + 12)}" y2="{y + 6}"/>'
            )
        parts.append(_text(x + 16, y + 10, name, "tl-chart-text", "start"))
        x += advance
    top = MARGIN_TOP + LEGEND_ROW * row
    return f'<g class="tl-legend" aria-hidden="true">{"".join(parts)}</g>', top


# The hour in progress: its bars faded (as the plotly pages' partial buckets), the line to it dashed, its hover
# text says its count is so far.
PARTIAL_DASH = "4 3"
SO_FAR = " so far (hour in progress)"


def _polyline(
    points: list[tuple[datetime, int]],
    x_of: Callable[[datetime], float],
    y_of: Callable[[float], float],
    extra: str,
) -> str:
    drawn = " ".join(f"{_num(x_of(b))},{_num(y_of(n))}" for b, n in points)
    return f'<polyline class="tl-created" fill="none" points="{drawn}"{extra}/>'


def _inside(bucket: datetime, start: datetime, end: datetime) -> bool:
    """Whether an hour's bucket is drawn: it starts within the window. The hour the window starts in (the
    window is "now - 24 h") is read only from the window's start on, and it sits left of the y axis: its
    created point was drawn in the axis gutter, and its few minutes' count (2 against 26 an hour) as a fall."""
    return start <= bucket <= end


def throughput(
    finished: pd.DataFrame,
    created: pd.DataFrame,
    window: tuple[datetime, datetime],
    ident: str = "throughput-chart",
    frame: Frame = WIDE,
    now: datetime | None = None,
) -> str:
    """Stacked bars of tasks that ended per hour by outcome and a line of tasks created per hour, over `window`
    (times naive UTC or aware). `finished`: bucket, status, count; `created`: bucket, count. `ident`: a
    prefix for the ids of its title and description (unique on the page); `frame`: the drawing's size;
    `now`, when given, marks the hour in progress as partial (faded bars, a dashed last segment, "so far")."""
    if finished.empty and created.empty:
        return empty(EMPTY_24H, ident, frame=frame)
    start, end = (_naive_utc(w) for w in window)
    current = _naive_utc(now) - timedelta(hours=1) if now is not None else None

    def partial(bucket: datetime) -> bool:
        """Whether the hour is still running: its count so far is not a fall in volume."""
        return current is not None and bucket > current

    span = max((end - start).total_seconds(), 1.0)

    ended = finished[finished["status"].isin(OUTCOMES)]
    stacks: dict[datetime, dict[str, int]] = {}
    for bucket, status, n in ended[["bucket", "status", "count"]].itertuples(index=False):
        hour = _naive_utc(bucket)
        if _inside(hour, start, end):
            stacks.setdefault(hour, {})[str(status)] = int(n)
    hours_made = ((_naive_utc(b), int(n)) for b, n in created[["bucket", "count"]].itertuples(index=False))
    made = sorted((hour, n) for hour, n in hours_made if _inside(hour, start, end))
    totals = {s: sum(p.get(s, 0) for p in stacks.values()) for s in OUTCOMES}
    shown = [s for s in OUTCOMES if totals[s]]
    entries = [(s.replace("_", " "), STATUS_HEX[s]) for s in shown] + ([("created", "")] if made else [])
    legend, top = _legend(entries, frame)
    if frame.label_above:
        top += 16  # room for "tasks" between the legend and the plot

    left, right = frame.left, frame.width - frame.right
    bottom = frame.height - frame.bottom

    def x_of(when: datetime) -> float:
        return left + (right - left) * (when - start).total_seconds() / span

    highest = max([sum(s.values()) for s in stacks.values()] + [n for _, n in made] + [0])
    ticks = nice_ticks(highest, frame.most_ticks)

    def y_of(value: float) -> float:
        return bottom - (bottom - top) * value / ticks[-1]

    grid = "".join(
        f'<line class="tl-grid" x1="{left}" x2="{right}" y1="{_num(y_of(t))}" y2="{_num(y_of(t))}"/>'
        + _text(left - 6, y_of(t) + 4, _label(t), "tl-chart-text", "end")
        for t in ticks
    )
    hours = [start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=h) for h in range(1, 26)]
    marks = [h for h in hours if start <= h <= end and h.hour % frame.hour_step == 0]
    axis = "".join(
        f'<line class="tl-axis" x1="{_num(x_of(h))}" x2="{_num(x_of(h))}" y1="{bottom}" y2="{bottom + 4}"/>'
        + _text(x_of(h), bottom + 17, h.strftime("%H:%M"), "tl-chart-text")
        for h in marks
    )
    axis += f'<line class="tl-axis" x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}"/>'
    axis += _text((left + right) / 2, frame.height - 4, "UTC", "tl-chart-text tl-chart-small")
    if frame.label_above:
        axis += _text(4, top - 10, "tasks", "tl-chart-text tl-chart-small", "start")
    else:
        axis += _text(14, (top + bottom) / 2, "tasks", "tl-chart-text tl-chart-small")

    bar_width = (right - left) * 0.8 * 3600 / span
    bars = []
    for bucket, parts in sorted(stacks.items()):
        # The window's first hour began before it: its bar is cut at the axis, not drawn over the y labels.
        x = max(x_of(bucket) - bar_width / 2, left)
        width = x_of(bucket) + bar_width / 2 - x
        if width <= 0:
            continue
        base = 0
        for status in OUTCOMES:
            n = parts.get(status, 0)
            if not n:
                continue
            y0, y1 = y_of(base + n), y_of(base)
            tip = f"{bucket:%Y-%m-%d %H:%M} UTC · {status.replace('_', ' ')}: {n:,}{SO_FAR * partial(bucket)}"
            fade = f' opacity="{PARTIAL_OPACITY}"' if partial(bucket) else ""
            bars.append(
                f'<rect class="tl-bar tl-{status}" x="{_num(x)}" y="{_num(y0)}" width="{_num(width)}" '
                f'height="{_num(max(y1 - y0, 0.5))}" fill="{STATUS_HEX[status]}"{fade}>'
                f"<title>{escape(tip)}</title></rect>"
            )
            base += n
    line = ""
    if made:
        whole = [(b, n) for b, n in made if not partial(b)]
        # The line through the whole hours; on to the hour in progress dashed, from the last whole one.
        going = whole[-1:] + [(b, n) for b, n in made if partial(b)]
        line = _polyline(whole, x_of, y_of, "") if len(whole) > 1 else ""
        if len(going) > 1:
            line += _polyline(going, x_of, y_of, f' stroke-dasharray="{PARTIAL_DASH}"')
        line += "".join(
            f'<circle class="tl-created-point" cx="{_num(x_of(b))}" cy="{_num(y_of(n))}" r="3">'
            f"<title>{b:%Y-%m-%d %H:%M} UTC · created: {n:,}{SO_FAR * partial(b)}</title></circle>"
            for b, n in made
        )

    summary = ", ".join(f"{totals[s]:,} {s.replace('_', ' ')}" for s in shown) or "none ended"
    title = "Tasks ended per hour, last 24 hours (UTC)"
    desc = f"{summary}; {sum(n for _, n in made):,} created."
    return (
        f'<svg class="tl-chart tl-chart-{frame.name}" viewBox="0 0 {frame.width} {frame.height}" role="img" '
        f'aria-labelledby="{ident}-t {ident}-d"><title id="{ident}-t">{title}</title>'
        f'<desc id="{ident}-d">{escape(desc)}</desc>{legend}{grid}{axis}'
        f'<g class="tl-bars">{"".join(bars)}</g><g class="tl-line">{line}</g></svg>'
    )


def throughput_pair(
    finished: pd.DataFrame,
    created: pd.DataFrame,
    window: tuple[datetime, datetime],
    ident: str = "throughput-chart",
    now: datetime | None = None,
) -> str:
    """The chart drawn twice, for a phone (NARROW) and then for a wider window (WIDE): CSS shows one, the
    other is display: none, out of the accessibility tree too (assets/tasklens.css). Ids stay unique: the
    narrow drawing's are `ident`-narrow-…"""
    return throughput(finished, created, window, f"{ident}-narrow", NARROW, now) + throughput(
        finished, created, window, ident, WIDE, now
    )
