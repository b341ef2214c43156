"""Data layer: the scope of an analytics view — a time range (db/read/timerange.py, the one vocabulary) and
dimension filters — and how it maps to the URL query string, so every view can be bookmarked and shared."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlencode

from db.read.timerange import CUSTOM, RangeError, parse_time, resolve

DEFAULT_RANGE = "7d"
MAX_CUSTOM = timedelta(days=400)
DIMENSIONS = ("kind", "tag", "role", "model", "worker")


# A scope that does not parse (db/read/timerange.RangeError: its `parameter` says which of range/from/to).
ScopeError = RangeError


def unit_for(span: timedelta) -> str:
    """The time bucket that gives a readable number of points over `span` (a Scope's unit)."""
    if span <= timedelta(hours=2):
        return "minute"
    if span <= timedelta(days=3):
        return "hour"
    return "day"


@dataclass(frozen=True)
class Scope:
    start: datetime
    end: datetime
    range_key: str = DEFAULT_RANGE  # "custom" when start/end were given
    kind: tuple[str, ...] = ()
    tag: tuple[str, ...] = ()
    role: tuple[str, ...] = ()
    model: tuple[str, ...] = ()
    worker: tuple[str, ...] = ()

    @property
    def span(self) -> timedelta:
        return self.end - self.start

    @property
    def unit(self) -> str:
        """The time bucket that gives a readable number of points for this span."""
        return unit_for(self.span)

    def previous(self) -> Scope:
        """The same-length period just before this one (for "change vs the previous period")."""
        return replace(self, start=self.start - self.span, end=self.start)

    def to_query(self) -> str:
        params: list[tuple[str, str]] = []
        if self.range_key == "custom":
            params += [
                ("from", self.start.isoformat(timespec="minutes")),
                ("to", self.end.isoformat(timespec="minutes")),
            ]
        else:
            params.append(("range", self.range_key))
        for dim in DIMENSIONS:
            params += [(dim, v) for v in getattr(self, dim)]
        return "?" + urlencode(params)


def parse_scope(query: str | None, now: datetime) -> Scope:
    """From a URL query string (`?range=30d&model=gpt-4.1&model=…` or `?from=…&to=…`). Raises ScopeError."""
    params = parse_qs((query or "").lstrip("?"), keep_blank_values=False)
    dims = {
        dim: tuple(dict.fromkeys(v.strip() for v in params.get(dim, []) if v.strip())) for dim in DIMENSIONS
    }
    if "from" in params or "to" in params:
        # Both ends are needed here: a scope without `from` is an error, one without `to` ends now.
        start = parse_time("from", params.get("from", [""])[0])
        end = parse_time("to", params["to"][0]) if "to" in params else now
        resolve(None, start, end, now)  # to after from
        if end - start > MAX_CUSTOM:
            raise ScopeError("from", "a custom range spans at most 400 days")
        return Scope(start=start, end=end, range_key=CUSTOM, **dims)
    found = resolve(params.get("range", [DEFAULT_RANGE])[0], None, None, now)
    assert found.key is not None and found.start is not None
    return Scope(start=found.start, end=now, range_key=found.key, **dims)
