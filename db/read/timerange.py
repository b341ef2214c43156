"""Data layer: the one time-range vocabulary of the pages, the CSV downloads and the API — `range` (the last
1h, 24h, 7d, 30d or 90d) or `from`/`to` (naive UTC) — and its errors, which name the parameter they are about
so an answer can say which one was wrong without reading the message."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

RANGES: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}
LABELS = {
    "1h": "last hour",
    "24h": "last 24 h",
    "7d": "last 7 days",
    "30d": "last 30 days",
    "90d": "last 90 days",
}
CUSTOM = "custom"


class RangeError(ValueError):
    """A time range that does not parse; `parameter` is range, from or to."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True)
class TimeRange:
    """A resolved range: a key of RANGES (from now minus its length), CUSTOM (from/to as given), or None for
    any time. A side given as None is open: resolve() never invents an end; a caller whose answer needs one
    (an analytics scope) ends it now."""

    key: str | None
    start: datetime | None
    end: datetime | None


def parse_time(parameter: str, text: str) -> datetime:
    """A `from`/`to` value: an ISO 8601 date or time in UTC, without a zone."""
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise RangeError(parameter, "from/to must be dates like 2026-11-01 or 2026-11-01T08:00") from None
    if at.tzinfo is not None:
        raise RangeError(parameter, "give from/to in UTC without a time zone")
    return at


def resolve(
    key: str | None,
    start: datetime | None,
    end: datetime | None,
    now: datetime,
    default: str | None = None,
) -> TimeRange:
    """`range`, or `from`/`to` (which win over it), as one TimeRange; `default` when none is given (None: any
    time). Raises RangeError."""
    if start is not None or end is not None:
        if start is not None and end is not None and end <= start:
            raise RangeError("to", "to must be after from")
        return TimeRange(CUSTOM, start, end)
    key = key or default
    if key is None:
        return TimeRange(None, None, None)
    if key not in RANGES:
        raise RangeError("range", f"range must be one of {', '.join(RANGES)}")
    return TimeRange(key, now - RANGES[key], None)
