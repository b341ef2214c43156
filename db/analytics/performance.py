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
from db.analytics.rollcut import Split, split
from db.analytics.rollup_tables import (
    CYCLE,
    IS_TOOL_LINE,
    PROCESSING,
    QUEUE_WAIT,
    ended_aggregates,
    task_histogram,
)
from db.core.frames import add_up, to_frame
from db.core.models import Activity, CreatedHourly, Invocation, Task, TaskHourly, ToolHourly
from db.core.sqlfuncs import bucket, first_word, hour_of_day, weekday
from db.domain.states import FAILURES, TaskStatus
from db.lifecycle import horizon
from db.read.scope import Scope
from db.read.scope_sql import made_matching_call, task_conditions

T = Task.__table__.c
A = Activity.__table__.c
I = Invocation.__table__.c  # noqa: E741
TH = TaskHourly.__table__.c
CH = CreatedHourly.__table__.c
TOOLS = ToolHourly.__table__.c

COMPLETED = TaskStatus.COMPLETED.value
OUTCOMES = (COMPLETED, *FAILURES)
BOX_PERCENTILES = {"min": 0, "p25": 25, "median": 50, "p75": 75, "p95": 95, "max": 100}
# Up to this many values a percentile is exact (one sort in SQL); above it, it is read from the histogram
# rollup, within about 1 % at such sizes (db/analytics/bins.py), instead of sorting tens of thousands of rows.
EXACT_BELOW = 5_000


# --- scoping -----------------------------------------------------------------------------------------------


def task_filters(scope: Scope) -> list[ColumnElement[bool]]:
    """The scope's filters on a task. Role and model select tasks that made at least one matching call."""
    call = made_matching_call(scope)
    return task_conditions(scope) + ([call] if call is not None else [])


def finished_in(scope: Scope) -> list[ColumnElement[bool]]:
    """Tasks that ended in the range (completed_at is only set on a terminal state; a retry clears it)."""
    return [T.completed_at >= scope.start, T.completed_at < scope.end, *task_filters(scope)]


def _completed_in(scope: Scope) -> list[ColumnElement[bool]]:
    return [*finished_in(scope), T.status == COMPLETED, T.started_at.is_not(None)]


def _kinds(column: Any, scope: Scope) -> list[ColumnElement[bool]]:
    return [column.in_(scope.kind)] if scope.kind else []


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
TASK_METRICS = ("cycle", "processing", "queue")


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
    cut = split(session, scope)
    frames = []
    if cut.rolled:
        rows = session.execute(
            select(
                TH.kind,
                TH.status,
                *(func.sum(TH[c]) for c in SUMS),
                func.min(TH.min_processing_s),
                func.max(TH.max_processing_s),
            )
            .where(TH.hour >= cut.rolled[0], TH.hour < cut.rolled[1], *_kinds(TH.kind, scope))
            .group_by(TH.kind, TH.status)
        ).all()
        frames.append(to_frame(rows, ["kind", "status", *SUMS, "min_s", "max_s"]))
    for part in cut.raw:
        rows = session.execute(
            select(T.kind, T.status, *ended_aggregates()).where(*finished_in(part)).group_by(T.kind, T.status)
        ).all()
        frames.append(to_frame(rows, ["kind", "status", *SUMS, "min_s", "max_s"]))
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=["kind", "status", *SUMS, "min_s", "max_s"])
    both = pd.concat(frames, ignore_index=True)
    for column in ("cycle_s", "processing_s", "queue_s", "min_s", "max_s"):
        both[column] = both[column].astype(float)
    grouped = both.groupby(["kind", "status"], as_index=False, sort=True)
    out = grouped[SUMS].sum()
    out["min_s"] = grouped["min_s"].min()["min_s"]
    out["max_s"] = grouped["max_s"].max()["max_s"]
    return out


def _raw_task_histograms(part: Scope) -> list[Any]:
    return [task_histogram(metric, finished_in(part)) for metric in TASK_METRICS]


def histogram_counts(session: Session, scope: Scope, metric: str) -> dict[str, dict[int, int]]:
    """{kind: {bin: count}} of a task metric (cycle, processing, queue) over the tasks that ended in the
    range, from the histogram rollups and the edges binned in SQL (db/analytics/histograms.py; all three metrics are
    read at once and kept for the session)."""
    per_key = histograms.read(session, scope, TASK_METRICS, _raw_task_histograms, keys=scope.kind)[metric]
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
    unit = unit or scope.unit
    # Minutes cannot come from an hourly rollup.
    cut = split(session, scope) if unit != "minute" else Split(None, (scope,))
    frames = []
    if cut.rolled:
        b = bucket(TH.hour, unit)
        rows = session.execute(
            select(b, TH.kind, TH.status, func.sum(TH.tasks))
            .where(TH.hour >= cut.rolled[0], TH.hour < cut.rolled[1], *_kinds(TH.kind, scope))
            .group_by(b, TH.kind, TH.status)
        ).all()
        frames.append(to_frame(rows, ["bucket", "kind", "status", "count"]))
    b = bucket(T.completed_at, unit)
    for part in cut.raw:
        rows = session.execute(
            select(b, T.kind, T.status, func.count()).where(*finished_in(part)).group_by(b, T.kind, T.status)
        ).all()
        frames.append(to_frame(rows, ["bucket", "kind", "status", "count"]))
    frame = add_up(frames, ["bucket", "kind", "status"], ["count"])
    frame["bucket"] = pd.to_datetime(frame["bucket"])
    frame["count"] = frame["count"].astype(int)
    return frame


def tool_calls(session: Session, scope: Scope, limit: int = 20) -> pd.DataFrame:
    """The most used tools: `tool_exec` activity lines in the range, counted by their first word. Columns tool,
    calls, share (of all tool calls in the scope). With a role/model filter, only lines of a matching call
    count."""
    cut = split(session, scope)
    frames = []
    if cut.rolled:
        rows = session.execute(
            select(TOOLS.tool, func.sum(TOOLS.calls))
            .where(TOOLS.hour >= cut.rolled[0], TOOLS.hour < cut.rolled[1], *_kinds(TOOLS.kind, scope))
            .group_by(TOOLS.tool)
        ).all()
        frames.append(to_frame(rows, ["tool", "calls"]))
    tool = first_word(A.message)
    for part in cut.raw:
        query = (
            select(tool, func.count())
            .select_from(Activity.__table__.join(Task.__table__, T.id == A.task_id))
            .where(IS_TOOL_LINE, A.at >= part.start, A.at < part.end, *task_conditions(part))
        )
        if part.role or part.model:
            query = query.join(Invocation.__table__, I.id == A.invocation_id)
            if part.role:
                query = query.where(I.role.in_(part.role))
            if part.model:
                query = query.where(I.model.in_(part.model))
        frames.append(to_frame(session.execute(query.group_by(tool)).all(), ["tool", "calls"]))
    frame = add_up(frames, ["tool"], ["calls"])
    frame["calls"] = frame["calls"].astype(int)
    total = int(frame["calls"].sum())
    frame = frame.sort_values(["calls", "tool"], ascending=[False, True]).head(limit).reset_index(drop=True)
    frame["share"] = frame["calls"] / total if total else 0.0
    return frame[["tool", "calls", "share"]]


def peak_hours(session: Session, scope: Scope) -> pd.DataFrame:
    """Tasks created per weekday (Monday = 0) and hour of day, UTC: columns weekday, hour, count."""
    cut = split(session, scope)
    frames = []
    if cut.rolled:
        day, hour = weekday(CH.hour), hour_of_day(CH.hour)
        rows = session.execute(
            select(day, hour, func.sum(CH.tasks))
            .where(CH.hour >= cut.rolled[0], CH.hour < cut.rolled[1], *_kinds(CH.kind, scope))
            .group_by(day, hour)
        ).all()
        frames.append(to_frame(rows, ["weekday", "hour", "count"]))
    day, hour = weekday(T.created_at), hour_of_day(T.created_at)
    for part in cut.raw:
        rows = session.execute(
            select(day, hour, func.count())
            .where(T.created_at >= part.start, T.created_at < part.end, *task_filters(part))
            .group_by(day, hour)
        ).all()
        frames.append(to_frame(rows, ["weekday", "hour", "count"]))
    return add_up(frames, ["weekday", "hour"], ["count"]).astype(int)
