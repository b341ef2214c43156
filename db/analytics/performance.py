"""Data layer: performance analytics over a Scope — throughput, cycle / queue / processing times, retries,
duration distributions, outcomes by kind over time, tool-call frequency and peak hours. Whole hours (days for
distributions) come from the rollups, the edges of the range from the tasks themselves (db/analytics/rollcut.py);
everything is aggregated in SQL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import func, literal, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement

from db.analytics import bins, histograms
from db.analytics.rollup_read import UNITS, Read, run
from db.analytics.rollup_spec import CREATED, CYCLE, ENDED, PROCESSING, QUEUE_WAIT, TOOLS
from db.core.models import Task
from db.domain.states import FAILURES, TaskStatus
from db.lifecycle import horizon
from db.read.scope import Scope
from db.read.scope_sql import task_filters

T = Task.__table__.c

COMPLETED = TaskStatus.COMPLETED.value
OUTCOMES = (COMPLETED, *FAILURES)
BOX_PERCENTILES = {"min": 0, "p25": 25, "median": 50, "p75": 75, "p95": 95, "max": 100}
# Up to this many values a percentile is exact (one sort in SQL); above it, it is read from the histogram
# rollup, within about 1 % at such sizes (db/analytics/bins.py), instead of sorting tens of thousands of rows.
EXACT_BELOW = 5_000


# --- scoping -----------------------------------------------------------------------------------------------


def finished_in(scope: Scope) -> list[ColumnElement[bool]]:
    """Tasks that ended in the range (completed_at is only set on a terminal state; a retry clears it)."""
    return [T.completed_at >= scope.start, T.completed_at < scope.end, *task_filters(scope)]


def _completed_in(scope: Scope) -> list[ColumnElement[bool]]:
    return [*finished_in(scope), T.status == COMPLETED, T.started_at.is_not(None)]


def rank(n: int, pct: int) -> int:
    """1-based rank of the pct-th percentile among n sorted values (nearest rank at or below)."""
    return bins.rank(n, pct)


def percentiles(
    session: Session,
    expr: ColumnElement[Any],
    where: list[ColumnElement[bool]],
    pcts: tuple[int, ...],
    by: ColumnElement[Any] | None = None,
) -> dict[Any, tuple[int, dict[int, float]]]:
    """Exact percentiles of `expr` over the rows matching `where`, per value of `by` (or under the key None):
    {key: (n, {pct: value})}. One sort per group (row_number over the bounded range, identical on both
    databases), and only the rows at the wanted ranks leave the database."""
    key = by if by is not None else literal(None)
    partition = [by] if by is not None else None
    sub = (
        select(
            key.label("key"),
            expr.label("v"),
            func.row_number().over(partition_by=partition, order_by=expr).label("rn"),
            func.count().over(partition_by=partition).label("n"),
        )
        .where(*where)
        .subquery()
    )
    # `//` is integer division in SQL too, so the database picks the same ranks as rank() does.
    wanted = or_(*(sub.c.rn == (sub.c.n - 1) * pct // 100 + 1 for pct in pcts))
    found: dict[Any, tuple[int, dict[int, float]]] = {}
    by_rank: dict[Any, dict[int, float]] = {}
    for k, v, rn, n in session.execute(select(sub.c.key, sub.c.v, sub.c.rn, sub.c.n).where(wanted)):
        by_rank.setdefault(k, {})[int(rn)] = float(v)
        found[k] = (int(n), {})
    for k, (n, values) in found.items():
        values.update({pct: by_rank[k][rank(n, pct)] for pct in pcts})
    return found


# --- the ended-task sums behind the KPIs -------------------------------------------------------------------

SUMS = ["tasks", "first_attempt", "started", "cycle_s", "processing_s", "queue_s"]
ENDED_SUMS = Read(
    "performance.ended", ENDED, (*SUMS, "min_processing_s", "max_processing_s"), by=("kind", "status")
)
OUTCOMES_SERIES = Read("performance.outcomes", ENDED, ("tasks",), by=("kind", "status"), units=UNITS)
TOOL_CALLS = Read("performance.tools", TOOLS, ("calls",), by=("tool",))
PEAK_HOURS = Read("performance.peak_hours", CREATED, ("tasks",), by=("weekday", "hour_of_day"))


def ended_sums(session: Session, scope: Scope) -> pd.DataFrame:
    """Per kind and final status of the tasks that ended in the range: columns kind, status, SUMS, min_s,
    max_s (the shortest and longest processing time). Kept for the session: the page's KPIs and box plot
    both start from it."""
    memo = session.info.setdefault("tasklens.ended_sums", {})
    if scope in memo:
        return memo[scope].copy()
    memo[scope] = frame = _ended_sums(session, scope)
    return frame.copy()


def _ended_sums(session: Session, scope: Scope) -> pd.DataFrame:
    frame = run(session, ENDED_SUMS, scope).rename(
        columns={"min_processing_s": "min_s", "max_processing_s": "max_s"}
    )
    for column in ("cycle_s", "processing_s", "queue_s", "min_s", "max_s"):
        frame[column] = frame[column].astype(float)
    return frame


def histogram_counts(session: Session, scope: Scope, metric: str) -> dict[str, dict[int, int]]:
    """{kind: {bin: count}} of a task metric (cycle, processing, queue) over the tasks that ended in the
    range, from the histogram rollups and the edges binned in SQL (db/analytics/histograms.py; each metric read
    once and kept for the session: the distributions read only `processing`, for the histogram and the box)."""
    per_key = histograms.read(session, scope, (metric,))[metric]
    return {kind: histograms.counts({kind: per_bin}) for kind, per_bin in per_key.items()}


# --- KPIs --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Timing:
    avg: float | None
    p50: float | None
    p95: float | None
    estimated: bool = False  # read from the histogram rollup (within about 1 %), not sorted exactly


@dataclass(frozen=True)
class PerfKpis:
    hours: float
    completed: int
    failed: int  # failed or timed out
    cancelled: int
    first_attempt_ok: int
    retried: int  # outcomes that needed more than one attempt
    cycle: Timing
    queue_wait: Timing
    processing: Timing

    @property
    def outcomes(self) -> int:
        return self.completed + self.failed

    @property
    def throughput_per_hour(self) -> float:
        return self.completed / self.hours if self.hours else 0.0

    @property
    def success_rate(self) -> float | None:
        return self.completed / self.outcomes if self.outcomes else None

    @property
    def first_attempt_success_rate(self) -> float | None:
        return self.first_attempt_ok / self.outcomes if self.outcomes else None

    @property
    def retry_rate(self) -> float | None:
        return self.retried / self.outcomes if self.outcomes else None


def kpis(session: Session, scope: Scope, exact_below: int = EXACT_BELOW) -> PerfKpis:
    """Over tasks that ended in the range: cycle and processing times of the completed ones, queue wait of
    every one that started, and the outcome counts behind throughput, success and retry rates."""
    exact_below = horizon.exact_below(session, scope.start, exact_below)
    sums = ended_sums(session, scope)
    by_status = sums.groupby("status")[SUMS].sum() if not sums.empty else pd.DataFrame(columns=SUMS)

    def total(statuses: tuple[str, ...], column: str) -> float:
        present = [s for s in statuses if s in by_status.index]
        return float(by_status.loc[present, column].sum()) if present else 0.0

    completed = int(total((COMPLETED,), "tasks"))
    failed = int(total(FAILURES, "tasks"))
    n_done = int(total((COMPLETED,), "started"))
    n_started = int(by_status["started"].sum()) if len(by_status) else 0
    outcomes = completed + failed

    def timing(
        metric: str, expr: ColumnElement[Any], where: list[ColumnElement[bool]], n: int, s: float
    ) -> Timing:
        avg = s / n if n else None
        if not n:
            return Timing(avg, None, None)
        if n < exact_below:
            got = percentiles(session, expr, where, (50, 95))[None][1]
            return Timing(avg, got[50], got[95])
        counts = bins.merge(*(c.items() for c in histogram_counts(session, scope, metric).values()))
        return Timing(avg, bins.estimate(counts, 50), bins.estimate(counts, 95), estimated=True)

    done_where = _completed_in(scope)
    started_where = [*finished_in(scope), T.started_at.is_not(None)]
    return PerfKpis(
        hours=scope.span.total_seconds() / 3600.0,
        completed=completed,
        failed=failed,
        cancelled=int(total((TaskStatus.CANCELLED.value,), "tasks")),
        first_attempt_ok=int(total((COMPLETED,), "first_attempt")),
        retried=outcomes - int(total(OUTCOMES, "first_attempt")),
        cycle=timing("cycle", CYCLE, done_where, n_done, total((COMPLETED,), "cycle_s")),
        queue_wait=timing(
            "queue",
            QUEUE_WAIT,
            started_where,
            n_started,
            float(by_status["queue_s"].sum()) if len(by_status) else 0.0,
        ),
        processing=timing("processing", PROCESSING, done_where, n_done, total((COMPLETED,), "processing_s")),
    )


# --- durations ---------------------------------------------------------------------------------------------


def bin_label(n: int) -> str:
    """The label of DISPLAY_EDGES bin n (0: below the first edge; the last is open)."""
    edges = bins.DISPLAY_EDGES

    def short(seconds: float) -> str:
        if seconds < 60:
            return f"{seconds:g}s"
        if seconds < 3600:
            return f"{seconds / 60:g}m"
        if seconds < 86400:
            return f"{seconds / 3600:g}h"
        return f"{seconds / 86400:g}d"

    if n == 0:
        return f"<{short(edges[0])}"
    if n >= len(edges):
        return f"≥{short(edges[-1])}"
    return f"{short(edges[n - 1])}–{short(edges[n])}"


def duration_histogram(session: Session, scope: Scope) -> pd.DataFrame:
    """Processing times of the tasks completed in the range in log-like bins (bins.DISPLAY_EDGES) per kind:
    columns kind, bin, label, count — every bin between each kind's shortest and longest, zeros included.
    Exact: every display bin is a sum of whole rollup bins."""
    records = []
    for kind, counts in sorted(histogram_counts(session, scope, "processing").items()):
        shown: dict[int, int] = {}
        for b, c in counts.items():
            if c:
                shown[bins.display_bin(b)] = shown.get(bins.display_bin(b), 0) + c
        if not shown:
            continue
        for b in range(min(shown), max(shown) + 1):
            records.append((kind, b, bin_label(b), shown.get(b, 0)))
    return pd.DataFrame(records, columns=["kind", "bin", "label", "count"]).astype({"bin": int, "count": int})


def duration_quantiles(session: Session, scope: Scope, exact_below: int = EXACT_BELOW) -> pd.DataFrame:
    """Per kind, the five numbers of a box plot plus p95 of completed tasks' processing times: columns kind,
    n, min, p25, median, p75, p95, max, estimated. Exact (one sort per kind) for small ranges; from the
    histogram rollup, with the exact minimum and maximum, for large ones."""
    columns = ["kind", "n", *BOX_PERCENTILES, "estimated"]
    exact_below = horizon.exact_below(session, scope.start, exact_below)
    sums = ended_sums(session, scope)
    done = sums[sums["status"] == COMPLETED]
    if int(done["started"].sum()) < exact_below:
        got = percentiles(
            session, PROCESSING, _completed_in(scope), tuple(BOX_PERCENTILES.values()), by=T.kind
        )
        records = [
            {
                "kind": kind,
                "n": n,
                **{name: values[pct] for name, pct in BOX_PERCENTILES.items()},
                "estimated": False,
            }
            for kind, (n, values) in sorted(got.items())
        ]
        return pd.DataFrame(records, columns=columns)
    extremes = {str(r.kind): (r.min_s, r.max_s) for r in done.itertuples()}
    records = []
    for kind, counts in sorted(histogram_counts(session, scope, "processing").items()):
        n = sum(counts.values())
        if not n:
            continue
        lo, hi = extremes.get(kind, (None, None))
        lo = None if lo is None or pd.isna(lo) else float(lo)
        hi = None if hi is None or pd.isna(hi) else float(hi)
        values = {name: bins.estimate(counts, pct, lo, hi) for name, pct in BOX_PERCENTILES.items()}
        records.append({"kind": kind, "n": n, **values, "estimated": True})
    return pd.DataFrame(records, columns=columns)


# --- outcomes, tools, peak hours ---------------------------------------------------------------------------


def outcomes_over_time(session: Session, scope: Scope, unit: str | None = None) -> pd.DataFrame:
    """Tasks that ended per bucket, kind and final status: columns bucket, kind, status, count."""
    frame = run(session, OUTCOMES_SERIES, scope, unit=unit or scope.unit).rename(columns={"tasks": "count"})
    frame["count"] = frame["count"].astype(int)
    return frame


def tool_calls(session: Session, scope: Scope, limit: int = 20) -> pd.DataFrame:
    """The most used tools: `tool_exec` activity lines in the range, counted by their first word. Columns tool,
    calls, share (of all tool calls in the scope). With a role/model filter, only lines of a matching call
    count."""
    frame = run(session, TOOL_CALLS, scope)
    frame["calls"] = frame["calls"].astype(int)
    total = int(frame["calls"].sum())
    frame = frame.sort_values(["calls", "tool"], ascending=[False, True]).head(limit).reset_index(drop=True)
    frame["share"] = frame["calls"] / total if total else 0.0
    return frame[["tool", "calls", "share"]]


def peak_hours(session: Session, scope: Scope) -> pd.DataFrame:
    """Tasks created per weekday (Monday = 0) and hour of day, UTC: columns weekday, hour, count."""
    frame = run(session, PEAK_HOURS, scope)
    return frame.rename(columns={"hour_of_day": "hour", "tasks": "count"}).astype(int)
