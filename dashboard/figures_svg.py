"""Dashboard layer: charts drawn on the server as inline SVG markup, each by a pure function from a DataFrame
(unit-tested), for pages that must not wait for plotly.js (4.7 MB of script, the overview's last request).

The markup is text only: no script, no event handler, every label escaped. Colours of data are fixed (the
status colours of figures.STATUS_HEX); everything else — text, axes, grid lines, the created line — takes its
colour from CSS classes and currentColor (assets/tasklens.css), so one drawing serves the light and the dark
theme and a theme switch redraws nothing. Each chart is an image with a <title> and a <desc> naming what it
shows (screen readers), and each bar and point carries its own <title> (the browser's hover tooltip)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from html import escape
from typing import cast

import pandas as pd

from dashboard.figures import START_HINT, STATUS_HEX

WIDTH = 720  # the drawing's own units; it scales to its box's width (viewBox), keeping its proportions
HEIGHT = 300
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 52, 12, 34, 40
OUTCOMES = ("completed", "failed", "timed_out", "cancelled")  # stacked bottom to top, as the legend reads
EMPTY_24H = "no tasks in the last 24 hours"


def _naive_utc(when: datetime | pd.Timestamp) -> datetime:
    stamp = pd.Timestamp(when)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC").tz_localize(None)
    return cast(datetime, stamp.to_pydatetime())


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


def empty(message: str, ident: str, hint: bool = True) -> str:
    """The empty state: the message (and how to get data in), no axes. `ident`: a prefix for the ids of its
    title (unique on the page)."""
    lines = _text(WIDTH / 2, HEIGHT / 2 - 6, message, "tl-chart-message")
    if hint:
        lines += _text(WIDTH / 2, HEIGHT / 2 + 16, START_HINT, "tl-chart-hint")
    return (
        f'<svg class="tl-chart tl-chart-empty" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{ident}"><title id="{ident}">{escape(message)}</title>{lines}</svg>'
    )


def _legend(entries: Iterable[tuple[str, str]]) -> str:
    """Swatches and names along the top: (name, a fill colour, or "" for the created line's class)."""
    parts, x = [], MARGIN_LEFT
    for name, fill in entries:
        if fill:
            parts.append(f'<rect x="{x}" y="8" width="12" height="12" rx="2" fill="{fill}"/>')
        else:
            parts.append(f'<line class="tl-created" x1="{x}" y1="14" x2="{x + 12}" y2="14"/>')
        parts.append(_text(x + 16, 18, name, "tl-chart-text", "start"))
        x += 24 + 7 * len(name)
    return f'<g class="tl-legend" aria-hidden="true">{"".join(parts)}</g>'


def throughput(
    finished: pd.DataFrame,
    created: pd.DataFrame,
    window: tuple[datetime, datetime],
    ident: str = "throughput-chart",
) -> str:
    """Stacked bars of tasks that ended per hour by outcome and a line of tasks created per hour, over `window`
    (times naive UTC or aware). `finished`: bucket, status, count; `created`: bucket, count. `ident`: a
    prefix for the ids of its title and description (unique on the page)."""
    if finished.empty and created.empty:
        return empty(EMPTY_24H, ident)
    start, end = (_naive_utc(w) for w in window)
    span = max((end - start).total_seconds(), 1.0)
    left, right = MARGIN_LEFT, WIDTH - MARGIN_RIGHT
    top, bottom = MARGIN_TOP, HEIGHT - MARGIN_BOTTOM

    def x_of(when: datetime) -> float:
        return left + (right - left) * (when - start).total_seconds() / span

    ended = finished[finished["status"].isin(OUTCOMES)]
    stacks: dict[datetime, dict[str, int]] = {}
    for bucket, status, n in ended[["bucket", "status", "count"]].itertuples(index=False):
        stacks.setdefault(_naive_utc(bucket), {})[str(status)] = int(n)
    made = [(_naive_utc(b), int(n)) for b, n in created[["bucket", "count"]].itertuples(index=False)]
    highest = max([sum(s.values()) for s in stacks.values()] + [n for _, n in made] + [0])
    ticks = nice_ticks(highest)

    def y_of(value: float) -> float:
        return bottom - (bottom - top) * value / ticks[-1]

    grid = "".join(
        f'<line class="tl-grid" x1="{left}" x2="{right}" y1="{_num(y_of(t))}" y2="{_num(y_of(t))}"/>'
        + _text(left - 6, y_of(t) + 4, _label(t), "tl-chart-text", "end")
        for t in ticks
    )
    hours = [start.replace(minute=0, second=0, microsecond=0) + timedelta(hours=h) for h in range(1, 26)]
    marks = [h for h in hours if start <= h <= end and h.hour % 3 == 0]
    axis = "".join(
        f'<line class="tl-axis" x1="{_num(x_of(h))}" x2="{_num(x_of(h))}" y1="{bottom}" y2="{bottom + 4}"/>'
        + _text(x_of(h), bottom + 17, h.strftime("%H:%M"), "tl-chart-text")
        for h in marks
    )
    axis += f'<line class="tl-axis" x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}"/>'
    axis += _text((left + right) / 2, HEIGHT - 4, "UTC", "tl-chart-text tl-chart-small")
    axis += _text(14, (top + bottom) / 2, "tasks", "tl-chart-text tl-chart-small")

    bar_width = (right - left) * 0.8 * 3600 / span
    bars = []
    for bucket, parts in sorted(stacks.items()):
        x = x_of(bucket) - bar_width / 2
        base = 0
        for status in OUTCOMES:
            n = parts.get(status, 0)
            if not n:
                continue
            y0, y1 = y_of(base + n), y_of(base)
            tip = f"{bucket:%Y-%m-%d %H:%M} UTC · {status.replace('_', ' ')}: {n:,}"
            bars.append(
                f'<rect class="tl-bar tl-{status}" x="{_num(x)}" y="{_num(y0)}" width="{_num(bar_width)}" '
                f'height="{_num(max(y1 - y0, 0.5))}" fill="{STATUS_HEX[status]}"><title>{escape(tip)}</title></rect>'
            )
            base += n
    line = ""
    if made:
        made.sort()
        points = " ".join(f"{_num(x_of(b))},{_num(y_of(n))}" for b, n in made)
        dots = "".join(
            f'<circle class="tl-created-point" cx="{_num(x_of(b))}" cy="{_num(y_of(n))}" r="3">'
            f"<title>{b:%Y-%m-%d %H:%M} UTC · created: {n:,}</title></circle>"
            for b, n in made
        )
        line = f'<polyline class="tl-created" fill="none" points="{points}"/>{dots}'

    totals = {s: sum(p.get(s, 0) for p in stacks.values()) for s in OUTCOMES}
    shown = [s for s in OUTCOMES if totals[s]]
    legend = [(s.replace("_", " "), STATUS_HEX[s]) for s in shown] + ([("created", "")] if made else [])
    summary = ", ".join(f"{totals[s]:,} {s.replace('_', ' ')}" for s in shown) or "none ended"
    title = "Tasks ended per hour, last 24 hours (UTC)"
    desc = f"{summary}; {sum(n for _, n in made):,} created."
    return (
        f'<svg class="tl-chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{ident}-t {ident}-d"><title id="{ident}-t">{title}</title>'
        f'<desc id="{ident}-d">{escape(desc)}</desc>{_legend(legend)}{grid}{axis}'
        f'<g class="tl-bars">{"".join(bars)}</g><g class="tl-line">{line}</g></svg>'
    )
