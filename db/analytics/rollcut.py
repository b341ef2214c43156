"""Data layer: splits an analytics scope into the whole hours (or days) a rollup serves, the whole minutes of
the hours since that its per-minute table serves, and the edges that are read from the source rows — the part
before the first whole bucket and the part since the last fold."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from db.analytics import rollups
from db.core.models import JobLease
from db.read.scope import DIMENSIONS, Scope

# Below this span reading the source rows is cheap enough, and exact to the second.
MIN_SPAN = timedelta(hours=6)
GRAINS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}

if TYPE_CHECKING:  # pandas only where rows are bucketed: `python app.py` commands start without it
    import pandas as pd


@dataclass(frozen=True)
class Split:
    rolled: tuple[datetime, datetime] | None  # [start, end) of whole buckets the rollup answers
    raw: tuple[Scope, ...]  # the rest of the range, same filters, read from the source rows


def refreshed_until(session: Session) -> datetime | None:
    """The start of the hour of the last rollup refresh: every hour before it was complete and rolled up."""
    lease = session.get(JobLease, rollups.JOB)
    if lease is None or lease.last_run_at is None:
        return None
    return rollups.floor_hour(lease.last_run_at)


def folded_until(session: Session) -> tuple[datetime, datetime] | None:
    """(from, until): the per-minute tables hold every whole minute in [from, until) (until: the last fold's
    minute, db/analytics/rollups.fold_minutes); None before the first fold."""
    lease = session.get(JobLease, rollups.MINUTE_JOB)
    if lease is None or lease.last_run_at is None or not lease.last_key:
        return None
    return datetime.fromisoformat(lease.last_key), lease.last_run_at


def _keeps(scope: Scope, dims: tuple[str, ...]) -> bool:
    return not any(getattr(scope, d) for d in DIMENSIONS if d not in dims)


def _floor(at: datetime, grain: str) -> datetime:
    if grain == "minute":
        return rollups.floor_minute(at)
    return rollups.floor_day(at) if grain == "day" else rollups.floor_hour(at)


def _ceil(at: datetime, grain: str) -> datetime:
    floor = _floor(at, grain)
    return floor if floor == at else floor + GRAINS[grain]


def split(
    session: Session,
    scope: Scope,
    grain: str = "hour",
    dims: tuple[str, ...] = ("kind",),
    min_span: timedelta = MIN_SPAN,
) -> Split:
    """The rollup's part of `scope` when its table keeps every filter the scope sets (`dims`: the dimensions
    the table has) and the range is at least `min_span` long; otherwise all of it is raw."""
    everything = Split(None, (scope,))
    if scope.span < min_span or not _keeps(scope, dims):
        return everything
    cut = refreshed_until(session)
    if cut is None:
        return everything
    start = _ceil(scope.start, grain)
    end = min(_floor(scope.end, grain), _floor(cut, grain))
    if end <= start:
        return everything
    raw = []
    if scope.start < start:
        raw.append(replace(scope, start=scope.start, end=start))
    if end < scope.end:
        raw.append(replace(scope, start=end, end=scope.end))
    return Split((start, end), tuple(raw))


@dataclass(frozen=True)
class Cut:
    """A Split with the hour in progress cut further: `minutes` [start, end) of whole minutes from the
    per-minute tables, up to the last fold at most."""

    hours: tuple[datetime, datetime] | None
    minutes: tuple[datetime, datetime] | None
    raw: tuple[Scope, ...]

    @property
    def rolled(self) -> list[tuple[str, tuple[datetime, datetime]]]:
        """(grain, window) of each part the rollup tables answer."""
        tiers = [("hour", self.hours), ("minute", self.minutes)]
        return [(grain, window) for grain, window in tiers if window is not None]


def cut(
    session: Session, scope: Scope, dims: tuple[str, ...] = ("kind",), min_span: timedelta = MIN_SPAN
) -> Cut:
    """split(), and the part of the scope after the last whole rolled hour from the per-minute tables where
    they have it: an answer reads buckets, never every row of the hour in progress. Rows stamped before the
    fold but committed after it are folded by the next fold (db/analytics/rollups.fold_minutes), as whole hours are
    by the next refresh."""
    base = split(session, scope, "hour", dims, min_span)
    plain = Cut(base.rolled, None, base.raw)
    hour_cut, folded = refreshed_until(session), folded_until(session)
    if hour_cut is None or folded is None or not _keeps(scope, dims) or scope.end <= hour_cut:
        return plain
    since, until = folded
    if since > hour_cut or until <= hour_cut:
        return plain  # the minutes do not reach back to the rolled hours, or add nothing to them
    start = base.rolled[1] if base.rolled else scope.start
    lead = [part for part in base.raw if part.end <= start]
    first = max(start, hour_cut)
    whole = _ceil(first, "minute")
    end = min(_floor(scope.end, "minute"), until)
    if end <= whole:
        return plain
    spans = [(start, first), (first, whole), (end, scope.end)]
    raw = lead + [replace(scope, start=a, end=b) for a, b in spans if a < b]
    return Cut(base.rolled, (whole, end), tuple(sorted(raw, key=lambda p: p.start)))


def in_days(
    hours: tuple[datetime, datetime],
) -> tuple[tuple[datetime, datetime] | None, tuple[tuple[datetime, datetime], ...]]:
    """A window of whole hours as its whole days (None without one) and the hours before and after them."""
    start, end = hours
    first, last = _ceil(start, "day"), _floor(end, "day")
    if last <= first:
        return None, (hours,)
    return (first, last), tuple(span for span in ((start, first), (last, end)) if span[0] < span[1])


def bucket_hours(hours: pd.Series, unit: str) -> pd.Series:
    """The start of the minute/hour/day/week (Monday)/month bucket of each rolled hour, as db.core.sqlfuncs.bucket
    computes it in SQL: rollup rows are grouped by their hour in SQL (an index order, no per-row formatting)
    and bucketed here."""
    import pandas as pd

    stamps = pd.to_datetime(hours)
    if unit in ("minute", "hour"):
        return stamps
    if unit == "day":
        return stamps.dt.floor("D")
    if unit == "week":
        return (stamps.dt.floor("D") - pd.to_timedelta(stamps.dt.day_of_week, unit="D")).astype(stamps.dtype)
    if unit == "month":
        return stamps.dt.to_period("M").dt.start_time.astype(stamps.dtype)
    raise ValueError(f"unit must be minute, hour, day, week or month, not {unit!r}")
