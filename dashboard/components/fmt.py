"""Dashboard layer: the shared formats (reports/fmt.py, the one place they are defined) plus what only a page
needs — status colours, a time the browser may show in its own zone, seconds since a moment (pure)."""

from __future__ import annotations

import re
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
    "per_hour",
    "percent",
    "plural",
    "signed_percent",
    "since",
    "timestamp",
    "tokens",
    "value_runs",
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


def per_hour(value: float) -> str:
    """A rate per hour as the KPI cards say it: "0/h" for none (Performance said "0.00/h" where the Overview
    said "0/h"), a whole count as it is ("21/h", the Overview's last hour), an average with two decimals
    ("1.73/h")."""
    if missing(value) or float(value) == 0:
        return "0/h"
    if float(value).is_integer():
        return f"{int(value):,}/h"
    return f"{float(value):,.2f}/h"


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


# What follows a number as part of it: a unit, a time zone, the "/" of a pair ("17,317 / 2,869").
UNITS = frozenset({"ms", "s", "m", "h", "d", "%", "B", "KB", "MB", "GB", "TB", "UTC", "/", "/s", "/h", "–"})
_DIGIT = re.compile(r"\d")
_COUNT = re.compile(r"\d[\d,]*")


def value_runs(text: str) -> list[str | html.Span]:
    """`text` with each value kept on one line: a run of words that starts at a word with a digit and goes on
    through words with digits and units ("p95 4m 50s", "2026-11-30 10:33", "60 s", "274–646,"), or a count
    and the word it counts ("54 commits"), is a nowrap span; the words between ("busiest minute,") still wrap.
    A narrow KPI card broke "p95 4m / 50s", "33.4 / s" and "12- / 04 00:00" (a date breaks at its hyphens)."""
    groups: list[tuple[bool, list[str]]] = []  # (a value?, its words)
    for word in text.split(" "):
        value, words = groups[-1] if groups else (False, [])
        if value and not words[-1].endswith(",") and (bool(_DIGIT.search(word)) or word in UNITS):
            words.append(word)
        elif value and _COUNT.fullmatch(words[-1]) and word.isalpha():
            words.append(word)  # a count and what it counts: "54 commits", "0 queued"
            groups.append((False, []))
        elif not value and words and not _DIGIT.search(word):
            words.append(word)
        else:
            groups.append((bool(_DIGIT.search(word)), [word]))
    groups = [g for g in groups if g[1]]
    pieces: list[str | html.Span] = []
    for i, (value, words) in enumerate(groups):
        joined = " ".join(words)
        if not value:
            pieces.append((" " if i else "") + joined + (" " if i + 1 < len(groups) else ""))
            continue
        if i and not isinstance(pieces[-1], str):
            pieces.append(" ")  # between two values
        pieces.append(html.Span(joined, className="text-nowrap"))
    return pieces
