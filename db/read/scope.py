"""Data layer: the scope of an analytics view — a time range and dimension filters — and how it maps to the
URL query string, so every view can be bookmarked and shared."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlencode

RANGES: dict[str, timedelta] = {
    "1h": timedelta(hours=1),
    "24h": timedelta(days=1),
    "7d": timedelta(days=7),
    "30d": timedelta(days=30),
    "90d": timedelta(days=90),
}
DEFAULT_RANGE = "7d"
DIMENSIONS = ("kind", "tag", "role", "model", "worker")


class ScopeError(ValueError):
    pass


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
        if self.span <= timedelta(hours=2):
            return "minute"
        if self.span <= timedelta(days=3):
            return "hour"
        return "day"

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
        try:
            start = datetime.fromisoformat(params.get("from", [""])[0])
            end = datetime.fromisoformat(params["to"][0]) if "to" in params else now
        except ValueError:
            raise ScopeError("from/to must be dates like 2026-11-01 or 2026-11-01T08:00") from None
        if start.tzinfo or end.tzinfo:
            raise ScopeError("give from/to in UTC without a time zone")
        if end <= start:
            raise ScopeError("to must be after from")
        if end - start > timedelta(days=400):
            raise ScopeError("a custom range spans at most 400 days")
        return Scope(start=start, end=end, range_key="custom", **dims)
    key = params.get("range", [DEFAULT_RANGE])[0]
    if key not in RANGES:
        raise ScopeError(f"range must be one of {', '.join(RANGES)}")
    return Scope(start=now - RANGES[key], end=now, range_key=key, **dims)
