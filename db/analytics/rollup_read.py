"""Data layer: declared analytics reads over a rollup spec (db/analytics/rollup_spec.py), and the one function that
runs them: whole hours from the hourly table, whole minutes of the hours since from the per-minute table, the
edges from the source rows (the cut: db/analytics/rollcut.py), all generated from the spec and added up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from db.analytics.rollcut import MIN_SPAN, bucket_hours, cut, in_days, split
from db.analytics.rollup_spec import AGGREGATES, Spec, within
from db.core.frames import add_up, to_frame
from db.core.sqlfuncs import bucket
from db.read.scope import Scope

UNITS = ("minute", "hour", "day", "week", "month")  # the time buckets db.core.sqlfuncs.bucket computes


@dataclass(frozen=True)
class Read:
    """A declared analytics read: measures of a spec grouped by dimensions (`by`, or one of `by_choices`
    chosen per call) and optionally per time bucket (`units`). Every Read is registered, and the generated
    test (tests/test_rollup_spec.py) checks each one rolled against raw."""

    name: str
    spec: Spec
    measures: tuple[str, ...]
    by: tuple[str, ...] = ()
    by_choices: tuple[str, ...] = ()
    units: tuple[str, ...] = ()
    # False: the hours since the last hourly refresh from the source rows, never the per-minute tables — for
    # an answer that must be exact now, not as of the last minute fold.
    minutes: bool = True
    # Shorter scopes are read from the source rows alone; a read of a busy short range (today so far, on the
    # overview) sets it lower.
    min_span: timedelta = MIN_SPAN

    def __post_init__(self) -> None:
        REGISTRY.append(self)


REGISTRY: list[Read] = []


def run(
    session: Session, q: Read, scope: Scope, by: tuple[str, ...] | None = None, unit: str | None = None
) -> pd.DataFrame:
    """The read over `scope`: whole hours and minutes from the rollup tables where they keep the grouping
    and the scope's filters, the edges from the source rows; columns [bucket], *by, *measures, sorted by
    the keys. Without keys, one row of totals."""
    spec, group = q.spec, tuple(q.by if by is None else by)
    if unit is not None and unit not in q.units:
        raise ValueError(f"{q.name} is not read per {unit!r}")
    parts = parts_of(session, q, scope, group, unit)
    frames = [rolled(session, q, scope, group, unit, grain, w) for grain, w in parts.rolled]
    frames += [_raw(session, q, part, group, unit) for part in parts.raw]
    return combine(spec, frames, (["bucket"] if unit else []) + list(group), q.measures, unit is not None)


@dataclass(frozen=True)
class Parts:
    """Where each part of a scope is read from: (grain, window) of the rollup tables' buckets, the rest
    from the source rows."""

    rolled: list[tuple[str, tuple[datetime, datetime]]]
    raw: tuple[Scope, ...]


def parts_of(session: Session, q: Read, scope: Scope, group: tuple[str, ...], unit: str | None) -> Parts:
    """The rollup tables' part of `scope` when they hold the grouping and the scope's filters — whole days
    where the spec keeps days, whole hours, then the minutes since where it keeps minutes — the rest from
    the source rows. Minute buckets are always read from the source rows."""
    spec = q.spec
    if not all(spec.dim(d).rolled for d in group) or unit == "minute":
        return Parts([], (scope,))
    kept = spec.kept_filters
    tier = "minute" if "minute" in spec.tables and q.minutes else "hour"
    # Whole days from the daily table where the spec keeps one, unless the answer is per hour or grouped by
    # a function of the hour (hour of day).
    days = "day" in spec.tables and unit != "hour" and all(spec.dim(d).of_time is None for d in group)
    # Kept for the session, as db/analytics/histograms.py keeps its reads: a page's callbacks share one read
    # transaction, and its reads of one scope cut it alike.
    memo = session.info.setdefault("tasklens.parts", {})
    token = (scope, kept, tier, days, q.min_span)
    if token not in memo:
        memo[token] = _parts(session, scope, kept, tier, days, q.min_span)
    return memo[token]  # type: ignore[no-any-return]


def _parts(
    session: Session,
    scope: Scope,
    kept: tuple[str, ...],
    tier: str,
    days: bool,
    min_span: timedelta = MIN_SPAN,
) -> Parts:
    if tier == "minute":
        minutes = cut(session, scope, kept, min_span)
        hours, rest, raw = minutes.hours, minutes.rolled[1:] if minutes.hours else minutes.rolled, minutes.raw
    else:
        split_ = split(session, scope, "hour", kept, min_span)
        hours, rest, raw = split_.rolled, [], split_.raw
    if hours is None:
        return Parts(rest, raw)
    if not days:
        return Parts([("hour", hours), *rest], raw)
    whole, around = in_days(hours)
    return Parts(([("day", whole)] if whole else []) + [("hour", w) for w in around] + rest, raw)


def combine(
    spec: Spec, frames: list[pd.DataFrame], keys: list[str], measures: tuple[str, ...], timed: bool
) -> pd.DataFrame:
    """The parts' rows combined per key as each measure combines (summed, or its min / max); sorted by the
    keys. Without keys, one row over everything."""
    columns = [*keys, *measures]
    aggs = {m: spec.measure(m).agg for m in measures}
    if not keys:
        total = pd.concat([f for f in frames if not f.empty] or [pd.DataFrame(columns=columns)])
        row = {m: total[m].sum(min_count=0) if a == "sum" else total[m].agg(a) for m, a in aggs.items()}
        return pd.DataFrame([row], columns=columns)
    if all(a == "sum" for a in aggs.values()):
        frame = add_up(frames, keys, list(measures))
    else:
        parts = [f for f in frames if not f.empty]
        if not parts:
            frame = pd.DataFrame(columns=columns)
        else:
            both = pd.concat(parts, ignore_index=True)
            frame = both.groupby(keys, as_index=False, sort=True).agg(aggs)[columns]
    if timed:
        frame["bucket"] = pd.to_datetime(frame["bucket"])
    return frame


def rows(session: Session, q: Read, scope: Scope, unit: str | None = None) -> list[tuple[Any, ...]]:
    """The read's rows ([bucket], *by, *measures) from every part (rolled buckets, raw edges) as they come,
    not combined: for a caller that adds them up itself (db/analytics/histograms.py's thousands of bins, the volume
    series), where pandas' grouping per read costs more than the SQL. Buckets per hour or day only (both
    computed in SQL, the same text on SQLite); a minute is always read raw."""
    if unit is not None and (unit not in q.units or unit not in ("minute", "hour", "day")):
        raise ValueError(f"{q.name} is not read per {unit!r} without pandas")
    parts = parts_of(session, q, scope, q.by, unit)
    queries = [_rolled_query(q, scope, q.by, unit, grain, w)[0] for grain, w in parts.rolled]
    queries += [_raw_query(q, part, q.by, unit) for part in parts.raw]
    return [tuple(row) for query in queries for row in session.execute(query)]


def rolled(
    session: Session,
    q: Read,
    scope: Scope,
    group: tuple[str, ...],
    unit: str | None,
    grain: str,
    window: tuple[datetime, datetime],
) -> pd.DataFrame:
    """The rolled SELECT of one part: the read's measures over the `grain` table's buckets in `window`,
    grouped by (stored or time-derived) dimensions, with the scope's filters on the stored ones."""
    query, in_sql = _rolled_query(q, scope, group, unit, grain, window)
    columns = (["bucket"] if unit else []) + [*group, *q.measures]
    frame = to_frame(session.execute(query).all(), columns)
    if unit and not frame.empty:
        frame["bucket"] = pd.to_datetime(frame["bucket"]) if in_sql else bucket_hours(frame["bucket"], unit)
    return frame


def _rolled_query(
    q: Read,
    scope: Scope,
    group: tuple[str, ...],
    unit: str | None,
    grain: str,
    window: tuple[datetime, datetime],
) -> tuple[Select[Any], bool]:
    spec = q.spec
    table = spec.tables[grain]
    at = table.c[grain]
    # Hours and days are bucketed in SQL (fewer rows back); weeks and months from the stored buckets in
    # pandas, where the calendar arithmetic is the same on both databases.
    in_sql = unit in ("hour", "day")
    dims = [spec.dim(d) for d in group]
    by = [d.of_time(at) if d.of_time is not None else table.c[d.col] for d in dims]
    keys = ([bucket(at, unit) if in_sql else at] if unit else []) + by
    aggregates = (AGGREGATES[spec.measure(m).agg](table.c[m]) for m in q.measures)
    query = select(*keys, *aggregates).where(*spec.owns(table), *within(at, window))
    for d in spec.dims:
        values = getattr(scope, d.name, ()) if d.stored and d.name not in spec.ignores else ()
        if values:
            query = query.where(table.c[d.col].in_(values))
    return (query.group_by(*keys) if keys else query), in_sql


def _raw(session: Session, q: Read, scope: Scope, group: tuple[str, ...], unit: str | None) -> pd.DataFrame:
    columns = (["bucket"] if unit else []) + [*group, *q.measures]
    frame = to_frame(session.execute(_raw_query(q, scope, group, unit)).all(), columns)
    if unit:
        frame["bucket"] = pd.to_datetime(frame["bucket"])  # text from SQL
    return frame


def _raw_query(q: Read, scope: Scope, group: tuple[str, ...], unit: str | None) -> Select[Any]:
    spec = q.spec
    dims = [spec.dim(d) for d in group]
    keys = ([bucket(spec.time, unit)] if unit else []) + [d.raw for d in dims]
    measures = {m.name: m.raw for m in spec.measures}
    query = (
        select(*keys, *(measures[m] for m in q.measures))
        .select_from(spec.source)
        .where(*spec.where, spec.time >= scope.start, spec.time < scope.end, *spec.conditions(scope))
    )
    for d in dims:
        if d.join is not None:
            query = d.join(query)
    return query.group_by(*keys) if keys else query
