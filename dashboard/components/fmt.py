"""Dashboard layer: the shared formats (reports/fmt.py, the one place they are defined) plus what only a page
needs — status colours, a time the browser may show in its own zone, seconds since a moment (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dash import html

from db.read.views import Field, Fmt
from reports.fmt import (
    KINDS,
    ago,
    compact,
    count,
    duration,
    missing,
    money,
    percent,
    plural,
    signed_percent,
    timestamp,
    tokens,
)

__all__ = [
    "CANCELLED",
    "STATUS_COLORS",
    "ago",
    "compact",
    "count",
    "duration",
    "missing",
    "money",
    "percent",
    "plural",
    "signed_percent",
    "since",
    "timestamp",
    "tokens",
    "view_cell",
    "when",
]

# Bootstrap colour names, and for cancelled a colour of its own (assets/tasklens.css, --tl-cancelled): Bootstrap's
# "dark" was #212529, the dark theme's own background, so the badge read as bare text and a cancelled card lost
# its coloured edge. dbc takes a colour that is not one of Bootstrap's as the badge's inline background.
CANCELLED = "var(--tl-cancelled)"
STATUS_COLORS = {
    "queued": "secondary",
    "running": "primary",
    "completed": "success",
    "failed": "danger",
    "timed_out": "warning",
    "cancelled": CANCELLED,
}


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


def view_cell(field: Field, value: Any) -> html.Time | str:
    """A declared view's field as a page shows it: in its format kind's style (reports/fmt.KINDS), a time as
    when() gives it."""
    return when(value) if field.fmt is Fmt.TIMESTAMP else KINDS[field.fmt](value)
