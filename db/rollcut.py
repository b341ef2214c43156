"""Data layer: splits an analytics scope into the whole hours (or days) a rollup serves and the edges that are
read from the source rows — the part before the first whole bucket and the part since the last refresh."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from db import rollups
from db.models import JobLease
from db.scope import DIMENSIONS, Scope

# Below this span reading the source rows is cheap enough, and exact to the second.
MIN_SPAN = timedelta(hours=6)
GRAINS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}


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


def _floor(at: datetime, grain: str) -> datetime:
    return rollups.floor_day(at) if grain == "day" else rollups.floor_hour(at)


def _ceil(at: datetime, grain: str) -> datetime:
    floor = _floor(at, grain)
    return floor if floor == at else floor + GRAINS[grain]


def split(session: Session, scope: Scope, grain: str = "hour", dims: tuple[str, ...] = ("kind",)) -> Split:
    """The rollup's part of `scope` when its table keeps every filter the scope sets (`dims`: the dimensions
    the table has) and the range is long enough to be worth it; otherwise all of it is raw."""
    everything = Split(None, (scope,))
    if scope.span < MIN_SPAN or any(getattr(scope, d) for d in DIMENSIONS if d not in dims):
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
