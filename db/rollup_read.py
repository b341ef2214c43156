"""Data layer: declared analytics reads over a rollup spec (db/rollup_spec.py), and the one function that
runs them: whole hours from the hourly table, whole minutes of the hours since from the per-minute table, the
edges from the source rows (the cut: db/rollcut.py), all generated from the spec and added up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.frames import add_up, to_frame
from db.rollcut import MIN_SPAN, Cut, bucket_hours, cut
from db.rollup_spec import Spec, within
from db.scope import Scope
from db.sqlfuncs import bucket

UNITS = ("minute", "hour", "day", "week", "month")  # the time buckets db.sqlfuncs.bucket computes


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
    keys = (["bucket"] if unit else []) + list(group)
    rollable = all(spec.dim(d).rolled for d in group) and unit != "minute"
    parts = cut(session, scope, spec.rolled_dims, q.min_span) if rollable else Cut(None, None, (scope,))
    frames = [_rolled(session, q, scope, group, unit, grain, w) for grain, w in parts.rolled]
    frames += [_raw(session, q, part, group, unit) for part in parts.raw]
    columns = [*keys, *q.measures]
    if not keys:
        total = pd.concat([f for f in frames if not f.empty] or [pd.DataFrame(columns=columns)])
        return pd.DataFrame([total[list(q.measures)].sum(min_count=0).to_dict()], columns=columns)
    frame = add_up(frames, keys, list(q.measures))
    if unit:
        frame["bucket"] = pd.to_datetime(frame["bucket"])
    return frame


def _rolled(
    session: Session,
    q: Read,
    scope: Scope,
    group: tuple[str, ...],
    unit: str | None,
    grain: str,
    window: tuple[datetime, datetime],
) -> pd.DataFrame:
    table = q.spec.tables[grain]
    at = table.c[grain]
    # Hours and days are bucketed in SQL (fewer rows back); weeks and months from the stored buckets in
    # pandas, where the calendar arithmetic is the same on both databases.
    in_sql = unit in ("hour", "day")
    keys = ([bucket(at, unit) if in_sql else at] if unit else []) + [table.c[d] for d in group]
    query = select(*keys, *(func.sum(table.c[m]) for m in q.measures)).where(*within(at, window))
    for name in q.spec.rolled_dims:
        values = getattr(scope, name, ())
        if values:
            query = query.where(table.c[name].in_(values))
    columns = (["bucket"] if unit else []) + [*group, *q.measures]
    frame = to_frame(session.execute(query.group_by(*keys) if keys else query).all(), columns)
    if unit and not frame.empty:
        frame["bucket"] = pd.to_datetime(frame["bucket"]) if in_sql else bucket_hours(frame["bucket"], unit)
    return frame


def _raw(session: Session, q: Read, scope: Scope, group: tuple[str, ...], unit: str | None) -> pd.DataFrame:
    spec = q.spec
    dims = [spec.dim(d) for d in group]
    keys = ([bucket(spec.time, unit)] if unit else []) + [d.raw for d in dims]
    measures = {m.name: m.raw for m in spec.measures}
    query = (
        select(*keys, *(measures[m] for m in q.measures))
        .select_from(spec.source)
        .where(spec.time >= scope.start, spec.time < scope.end, *spec.conditions(scope))
    )
    for d in dims:
        if d.join is not None:
            query = d.join(query)
    columns = (["bucket"] if unit else []) + [*group, *q.measures]
    frame = to_frame(session.execute(query.group_by(*keys) if keys else query).all(), columns)
    if unit:
        frame["bucket"] = pd.to_datetime(frame["bucket"])  # text from SQL
    return frame
