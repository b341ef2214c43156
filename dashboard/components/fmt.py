"""Dashboard layer: formatting of durations, money, counts and times for display (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from dash import html

STATUS_COLORS = {
    "queued": "secondary",
    "running": "primary",
    "completed": "success",
    "failed": "danger",
    "timed_out": "warning",
    "cancelled": "dark",
}


def missing(value: Any) -> bool:
    """None, NaN or NaT (what a missing cell looks like after a trip through pandas)."""
    if value is None:
        return True
    if isinstance(value, str | list | dict | tuple):
        return False
    return bool(pd.isna(value))


def duration(seconds: float | None) -> str:
    if seconds is None or missing(seconds):
        return "–"
    seconds = max(0.0, float(seconds))
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    return f"{hours // 24}d {hours % 24}h"


def money(value: float | None) -> str:
    if value is None or missing(value):
        return "–"
    if abs(value) < 10:
        return f"${value:,.4f}"
    return f"${value:,.2f}"


def count(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def plural(n: int, word: str, many: str | None = None) -> str:
    """ "1 budget", "2 budgets", "1,200 tasks"; `many` for words that do not just take an s."""
    return f"{n:,} {word if n == 1 else many or word + 's'}"


def percent(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


def timestamp(value: datetime | None) -> str:
    if value is None or missing(value):
        return "–"
    return value.strftime("%Y-%m-%d %H:%M:%S") + " UTC"


def when(value: datetime | None) -> html.Time | str:
    """timestamp() in a <time datetime="…Z"> element: assets/localtime.js shows it in the browser's time zone
    when the "local time" switch is on (the text says "local" then, "UTC" otherwise)."""
    if value is None or missing(value):
        return "–"
    return html.Time(timestamp(value), dateTime=value.strftime("%Y-%m-%dT%H:%M:%SZ"), className="tl-time")


def since(now: datetime, then: datetime | None) -> float | None:
    if then is None or missing(then):
        return None
    return (now - then).total_seconds()
