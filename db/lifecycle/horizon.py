"""Data layer: the retention horizon — the moment before which raw rows may have been pruned, so the analytics
rollups before it are final (never rebuilt from the thinned source rows) and percentiles read histograms."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from db.core.models import JobLease

# A row of job_leases (no new table): last_key holds the horizon as ISO text, last_run_at the last prune.
MARK = "retention:horizon"


def pruned_before(session: Session) -> datetime | None:
    """Raw rows stamped before this may be gone; None while nothing was ever pruned."""
    key = session.scalar(select(JobLease.last_key).where(JobLease.name == MARK))
    return datetime.fromisoformat(key) if key else None


def raise_to(session: Session, at: datetime, now: datetime) -> datetime:
    """Moves the horizon up to `at` (never down: rollups once frozen stay frozen); returns the horizon."""
    current = pruned_before(session)
    horizon = at if current is None or at > current else current
    values = {"last_key": horizon.isoformat(), "last_run_at": now}
    if session.scalar(select(JobLease.name).where(JobLease.name == MARK)) is None:
        session.execute(insert(JobLease).values(name=MARK, holder=None, expires_at=None, **values))
    else:
        session.execute(update(JobLease).where(JobLease.name == MARK).values(**values))
    return horizon


def clip(
    window: tuple[datetime, datetime] | None, horizon: datetime | None
) -> tuple[datetime, datetime] | None:
    """`window` without the part before the horizon (None, all of history, becomes [horizon, max)); callers
    drop the windows that are wholly `frozen` first."""
    if horizon is None:
        return window
    if window is None:
        return (horizon, datetime.max)
    return (max(window[0], horizon), window[1])


def frozen(window: tuple[datetime, datetime] | None, horizon: datetime | None) -> bool:
    """The whole window lies before the horizon: nothing in it may be rebuilt."""
    return horizon is not None and window is not None and window[1] <= horizon


def exact_below(session: Session, start: datetime, default: int) -> int:
    """How many values an exact percentile may sort: none when the range reaches before the horizon, where
    the source rows are thinned and only the histograms still count everything."""
    edge = pruned_before(session)
    return 0 if edge is not None and start < edge else default
