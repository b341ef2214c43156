"""Data layer: reads a histogram (db/analytics/bins.py's bins, per key) over a Scope from the histogram rollups — whole
days from histogram_daily, the hours around them from histogram_hourly, the minutes at the edges binned from
the source rows — so a percentile over 90 days adds a few thousand counts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.analytics.rollcut import tiers
from db.core.models import HistogramDaily, HistogramHourly
from db.read.scope import Scope

D = HistogramDaily.__table__.c
H = HistogramHourly.__table__.c

# metric -> key -> bin -> (count, sum of the values)
Histograms = dict[str, dict[str, dict[int, tuple[int, float]]]]


def read(
    session: Session,
    scope: Scope,
    metrics: tuple[str, ...],
    raw: Callable[[Scope], list[Any]],
    keys: tuple[str, ...] = (),
    dims: tuple[str, ...] = ("kind",),
) -> Histograms:
    """`metrics` over the scope. `raw(part)` gives the SELECTs (columns hour, metric, key, bin, count, total,
    as db.analytics.rollup_tables builds them) for a part of the range the rollups do not cover; `keys` restricts the
    rolled keys (the kinds or roles a filter selects); `dims` are the scope filters the rollup keeps.
    Memoised per session: a page's callbacks share one read transaction, so one read serves them all."""
    memo = session.info.setdefault("tasklens.histograms", {})
    token = (scope, metrics, keys, dims, getattr(raw, "__qualname__", repr(raw)))
    if token in memo:
        return memo[token]  # type: ignore[no-any-return]
    cut = tiers(session, scope, dims)
    rows: list[Any] = []

    def rolled(table: Any, at: Any, lo: Any, hi: Any) -> None:
        where = [at >= lo, at < hi, table.metric.in_(metrics)]
        if keys:
            where.append(table.key.in_(keys))
        rows.extend(
            session.execute(
                select(table.metric, table.key, table.bin, func.sum(table["count"]), func.sum(table.total))
                .where(*where)
                .group_by(table.metric, table.key, table.bin)
            ).all()
        )

    if cut.days:
        rolled(D, D.day, *cut.days)
    for lo, hi in cut.hours:
        rolled(H, H.hour, lo, hi)
    for part in cut.raw:
        for query in raw(part):
            sub = query.subquery()
            rows.extend(
                session.execute(select(sub.c.metric, sub.c.key, sub.c.bin, sub.c["count"], sub.c.total)).all()
            )
    out: Histograms = {m: {} for m in metrics}
    for metric, key, b, count, total in rows:
        per_key = out.setdefault(str(metric), {}).setdefault(str(key), {})
        n, s = per_key.get(int(b), (0, 0.0))
        per_key[int(b)] = (n + int(count), s + float(total or 0.0))
    memo[token] = out
    return out


def counts(
    per_key: dict[str, dict[int, tuple[int, float]]], keys: tuple[str, ...] | None = None
) -> dict[int, int]:
    """Bin counts added over the keys (all of them, or `keys`)."""
    out: dict[int, int] = {}
    for key, per_bin in per_key.items():
        if keys is None or key in keys:
            for b, (n, _) in per_bin.items():
                out[b] = out.get(b, 0) + n
    return out
