"""Data layer: reads a histogram (db/analytics/bins.py's bins, per key) over a Scope from the histogram rollups — whole
days from histogram_daily, the hours around them from histogram_hourly, the minutes at the edges binned from
the source rows — so a percentile over 90 days adds a few thousand counts. Each metric is a rollup spec
(db/analytics/rollup_spec.HISTOGRAMS); its reads are generated from it (db/analytics/rollup_read.py)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from db.analytics.rollup_read import Read, rows
from db.analytics.rollup_spec import HISTOGRAMS
from db.read.scope import Scope

# metric -> key -> bin -> (count, sum of the values)
Histograms = dict[str, dict[str, dict[int, tuple[int, float]]]]

READS = {
    metric: Read(f"histograms.{metric}", spec, ("count", "total"), by=(spec.dims[0].name, "bin"))
    for metric, spec in HISTOGRAMS.items()
}


def read(session: Session, scope: Scope, metrics: tuple[str, ...]) -> Histograms:
    """`metrics` over the scope, with its filters (the rolled keys are the kinds or roles a filter selects).
    Each metric is read once per session and scope, whichever callers ask for it and with what others: a page's
    callbacks share one read transaction (the distributions' histogram and box plot both read `processing`),
    and a caller that wants one metric does not pay for the others' rows."""
    memo = session.info.setdefault("tasklens.histograms", {})
    out: Histograms = {}
    for metric in metrics:
        token = (scope, metric)
        if token not in memo:
            memo[token] = _read(session, scope, metric)
        out[metric] = memo[token]
    return out


def _read(session: Session, scope: Scope, metric: str) -> dict[str, dict[int, tuple[int, float]]]:
    per_key: dict[str, dict[int, tuple[int, float]]] = {}
    for key, b, count, total in rows(session, READS[metric], scope):
        per_bin = per_key.setdefault(str(key), {})
        n, s = per_bin.get(int(b), (0, 0.0))
        per_bin[int(b)] = (n + int(count), s + float(total or 0.0))
    return per_key


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
