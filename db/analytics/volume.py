"""Data layer: the volume series of a Scope — tasks created, finished and failed and the cost of calls per
bucket — and what is read from it: a forecast of the next bucket and spike flags on cost and failures. The
series is aggregated in SQL (rollups for whole hours, db/analytics/rollcut.py); the forecast and the spike rules are
pure functions of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from db.analytics.rollup_read import UNITS, Read, rows
from db.analytics.rollup_spec import CREATED, ENDED, USAGE
from db.domain.states import FAILURES
from db.read.scope import Scope

FREQ = {"minute": "min", "hour": "h", "day": "D"}
STEP = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
METRICS = ["created", "finished", "failed", "cost"]
COLUMNS = ["bucket", "metric", "value"]
CREATED_SERIES = Read("volume.created", CREATED, ("tasks",), units=UNITS)
ENDED_SERIES = Read("volume.ended", ENDED, ("tasks",), by=("status",), units=UNITS)
COST_SERIES = Read("volume.cost", USAGE, ("cost_usd",), units=UNITS)


def _long(session: Session, scope: Scope, unit: str) -> pd.DataFrame:
    """Every metric per bucket, one row per part and bucket (summed by the caller's pivot): columns bucket,
    metric, value."""
    records = [(b, "created", n) for b, n in rows(session, CREATED_SERIES, scope, unit)]
    for b, status, n in rows(session, ENDED_SERIES, scope, unit):
        records.append((b, "finished", n))
        if status in FAILURES:
            records.append((b, "failed", n))
    records += [(b, "cost", c) for b, c in rows(session, COST_SERIES, scope, unit)]
    frame = pd.DataFrame(records, columns=COLUMNS)
    frame["bucket"] = pd.to_datetime(frame["bucket"])  # text from SQLite
    return frame


def volume_series(session: Session, scope: Scope) -> pd.DataFrame:
    """Per bucket of the scope's unit, every bucket of the range present: tasks created, finished, failed
    (or timed out), and the cost of calls started. Columns bucket, created, finished, failed, cost, complete
    (False for a bucket the range only partly covers, such as the one in progress)."""
    unit = scope.unit
    freq = FREQ[unit]
    start, end = pd.Timestamp(scope.start), pd.Timestamp(scope.end)
    index = pd.date_range(start.floor(freq), end, freq=freq, inclusive="left")
    long = _long(session, scope, unit)
    long["value"] = long["value"].astype(float)
    wide = long.pivot_table(index="bucket", columns="metric", values="value", aggfunc="sum")
    wide = wide.reindex(index=index, columns=METRICS).fillna(0.0)
    frame = wide.rename_axis("bucket").reset_index()
    for column in ("created", "finished", "failed"):
        frame[column] = frame[column].round().astype(int)
    frame["complete"] = (frame["bucket"] >= start) & (frame["bucket"] + STEP[unit] <= end)
    return frame


@dataclass(frozen=True)
class Forecast:
    at: datetime  # the start of the forecast bucket
    value: float
    low: float
    high: float
    basis: int  # how many complete buckets the trend was fitted to


def forecast_next(series: pd.Series, step: timedelta, n: int = 12) -> Forecast | None:
    """Next bucket's value from a least-squares line through the last `n` points of `series` (indexed by
    bucket start, complete buckets only), with a ±2σ band of the residuals; never below zero. None with fewer
    than three points: a line through two says nothing about the noise."""
    recent = series.dropna().sort_index().iloc[-n:]
    if len(recent) < 3:
        return None
    x = np.arange(len(recent), dtype=float)
    y = recent.to_numpy(dtype=float)
    slope, intercept = np.polyfit(x, y, 1)
    predicted = float(slope * len(recent) + intercept)
    spread = float(np.std(y - (slope * x + intercept), ddof=2))
    at = pd.Timestamp(recent.index[-1]).to_pydatetime() + step
    return Forecast(
        at=at,
        value=max(0.0, predicted),
        low=max(0.0, predicted - 2 * spread),
        high=max(0.0, predicted + 2 * spread),
        basis=len(recent),
    )


def spikes(
    series: pd.Series,
    window: int = 24,
    sigmas: float = 3.0,
    min_history: int = 5,
    min_sigma: float = 0.0,
) -> pd.DataFrame:
    """Flags each point above mean + `sigmas`·σ (sample standard deviation) of up to `window` points before it;
    a point with fewer than `min_history` points before it is never flagged. σ is taken as at least `min_sigma`:
    a flat history has σ = 0, which would flag any change at all (one failure after an hour of none).
    Columns value, threshold, spike, indexed like `series`."""
    values = series.astype(float)
    history = values.shift(1).rolling(window, min_periods=min_history)
    mean = history.mean()
    sigma = np.maximum(history.std(ddof=1), min_sigma)
    threshold = mean + sigmas * sigma
    flagged = (values > threshold) & threshold.notna()
    return pd.DataFrame({"value": values, "threshold": threshold, "spike": flagged.astype(bool)})


@dataclass(frozen=True)
class VolumeAnalysis:
    forecast: Forecast | None  # tasks created in the bucket after the last complete one
    cost: pd.DataFrame  # spikes() of cost per bucket
    failed: pd.DataFrame  # spikes() of failures per bucket

    @property
    def alerts(self) -> list[tuple[str, datetime, float, float]]:
        """(metric, bucket, value, threshold) of every flagged bucket, newest first."""
        found = [
            (metric, pd.Timestamp(at).to_pydatetime(), float(row.value), float(row.threshold))
            for metric, flags in (("cost", self.cost), ("failures", self.failed))
            for at, row in flags[flags["spike"]].iterrows()
        ]
        return sorted(found, key=lambda a: a[1], reverse=True)


def analyse(frame: pd.DataFrame, unit: str) -> VolumeAnalysis:
    """The forecast and the spike flags of a volume_series() frame. The forecast fits complete buckets only:
    the bucket in progress would drag the trend down."""
    by_bucket = frame.set_index("bucket")
    complete = by_bucket[by_bucket["complete"]]
    # σ floors. Failures are counts: at least one task of noise. Spend has no natural unit, so a quarter of
    # what a bucket with any spend usually costs: work resuming after idle buckets is not a spike.
    spent = by_bucket["cost"][by_bucket["cost"] > 0]
    return VolumeAnalysis(
        forecast=forecast_next(complete["created"], STEP[unit]),
        cost=spikes(by_bucket["cost"], min_sigma=0.25 * float(spent.mean()) if len(spent) else 0.0),
        failed=spikes(by_bucket["failed"], min_sigma=1.0),
    )
