"""Tests: the analytics rollups change nothing but speed. On a fixed ten-day data set (several kinds, every
final status, retried tasks, four workers, three roles, tool lines, runs that cross hour and day boundaries and
range edges) the performance, volume and agents answers read through the rollups after a refresh equal the
answers read from the source rows before any refresh; percentiles read from the histograms stay within a
bin's error of the exact ones. Then the refreshes: the first build a week per transaction equals one build of
everything; refreshing again changes nothing; a retry of an old failed task, a cancelled old queued task and a
long-running task finishing are folded into the old hours they touched (the rollups equal a full rebuild); the
hour in progress is read from the source rows. SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, cast

import pandas as pd
import pytest
from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from db.analytics import agents, bins, performance, rollup_tables, rollups, volume
from db.analytics.rollcut import split
from db.core.engine import Database
from db.core.models import (
    EventsHourly,
    HistogramDaily,
    JobLease,
    Task,
    TaskEvent,
    TaskHourly,
)
from db.domain.ops import ActivityLine, TaskSpec, Transition
from db.domain.states import ActivityType, TaskKind, TaskStatus
from db.read.scope import Scope, parse_scope
from db.write.writes import apply_ops, insert_tasks
from tests.rollup_data import CUSTOM, NOW, QUERIES, ROLE_QUERIES, ROLLUPS, H, S, at, build, same


@pytest.fixture(autouse=True)
def _no_stale_rollups(db: Database) -> Iterator[None]:
    """conftest empties the source tables between PostgreSQL tests but not the rollups; a first refresh
    rebuilds them all anyway, and this makes sure no test reads another's rows."""
    with db.writing() as s:
        for model in ROLLUPS:
            s.execute(delete(model))
    yield


@pytest.fixture
def data(db: Database) -> dict[str, int]:
    picks = build(db)
    assert set(picks) == {"old_failed", "old_queued", "old_running"}, picks
    return picks


def timings(k: performance.PerfKpis) -> dict[str, Any]:
    return {
        "counts": (k.completed, k.failed, k.cancelled, k.first_attempt_ok, k.retried, k.hours),
        **{
            name: (t.avg, t.p50, t.p95, t.estimated)
            for name, t in (("cycle", k.cycle), ("queue", k.queue_wait), ("processing", k.processing))
        },
    }


def fleet_counts(s: Session, scope: Scope, now: datetime) -> pd.DataFrame:
    frame = agents.fleet(s, scope, now)
    return (
        frame[["id", "done", "failed", "success_rate", "avg_task_s"]].sort_values("id").reset_index(drop=True)
    )


def answers(s: Session, query: str, now: datetime) -> dict[str, Any]:
    scope = parse_scope(query, now)
    return {
        "kpis": timings(performance.kpis(s, scope)),
        "kpis_estimated": timings(performance.kpis(s, scope, exact_below=0)),
        "histogram": performance.duration_histogram(s, scope),
        "quantiles": performance.duration_quantiles(s, scope),
        "quantiles_estimated": performance.duration_quantiles(s, scope, exact_below=0),
        "outcomes": performance.outcomes_over_time(s, scope),
        "outcomes_by_hour": performance.outcomes_over_time(s, scope, "hour"),
        "peak_hours": performance.peak_hours(s, scope),
        "tools": performance.tool_calls(s, scope),
        "volume": volume.volume_series(s, scope),
        "roles": agents.roles(s, scope),
        "roles_estimated": agents.roles(s, scope, exact_below=0),
        "fleet": fleet_counts(s, scope, now),
    }


def all_answers(db: Database, now: datetime, queries: list[str] = QUERIES + ROLE_QUERIES) -> dict[str, Any]:
    with db.reading() as s:
        return {q: answers(s, q, now) for q in queries}


def raw_answers(db: Database, now: datetime, queries: list[str] = QUERIES + ROLE_QUERIES) -> dict[str, Any]:
    """The answers from the source rows alone: without the refresh's record every scope is read raw. The
    record is removed in a transaction that is rolled back."""
    with db.write_session() as s:
        s.execute(delete(JobLease).where(JobLease.name == rollups.JOB))
        try:
            return {q: answers(s, q, now) for q in queries}
        finally:
            s.rollback()


def refresh(db: Database, now: datetime) -> None:
    with db.writing() as s:
        rollups.refresh(s, now)


# --- with and without the rollups ---------------------------------------------------------------------------


def test_rollups_answer_like_the_source_rows(db: Database, data: dict[str, int]) -> None:
    raw = all_answers(db, NOW)
    refresh(db, NOW)
    with db.reading() as s:
        for query in QUERIES:  # every one of these is served mostly by the rollups, with raw edges
            scope = parse_scope(query, NOW)
            cut = split(s, scope)
            assert cut.rolled is not None, query
            assert cut.rolled[1] == min(rollups.floor_hour(scope.end), datetime(2026, 3, 10, 12)), query
            assert [(p.start, p.end) for p in cut.raw] == [
                (scope.start, cut.rolled[0]),
                (cut.rolled[1], scope.end),
            ], query
    rolled = all_answers(db, NOW)
    for query in raw:
        same(rolled[query], raw[query], query)
    # Not vacuous: the data set has outcomes of every kind in the ranges, retries and tool calls.
    week = raw["?range=7d"]
    completed, failed, cancelled, first_ok, retried, _ = week["kpis"]["counts"]
    assert completed > 30 and failed > 5 and cancelled > 0 and retried > 3 and first_ok < completed + failed
    assert week["tools"]["calls"].sum() > 20 and len(week["roles"]) == 3 and week["fleet"]["done"].sum() > 0
    assert raw[CUSTOM]["kpis"]["counts"][0] > 10
    check_estimates({q: rolled[q] for q in QUERIES})


def check_estimates(got: dict[str, dict[str, Any]]) -> None:
    """Read from the histograms (exact_below=0), a percentile lies in the bin of the exact one: the bin counts
    are exact, so the bin holding the wanted rank is found, and the estimate interpolates inside it. A lone
    value reads back as the bin's geometric middle (within √1.28, 13 %), but the last of several values in a
    bin reads back at its upper edge, up to the whole bin (28 %) off — here the 7 d demo processing p75, 207.4 s
    read as 250 s (see test_bins.py's test_estimate_within_half_a_bin). The duration histogram counts exactly
    the completed tasks the quantiles count."""
    errors: list[float] = []

    def near(exact: float | None, guess: float | None, where: tuple[Any, ...]) -> None:
        if exact is None:
            assert guess is None, where
            return
        assert guess is not None, where
        lo, hi = bins.bounds(bins.bin_of(exact))
        assert lo * (1 - 1e-9) <= guess <= hi * (1 + 1e-9), (where, exact, guess, lo, hi)
        errors.append(abs(guess / exact - 1))

    for query, a in got.items():
        for name in ("cycle", "queue", "processing"):
            avg, p50, p95, estimated = a["kpis"][name]
            e_avg, e50, e95, e_estimated = a["kpis_estimated"][name]
            assert not estimated and (e_estimated or p50 is None), (query, name)
            assert e_avg == pytest.approx(avg), (query, name)
            near(p50, e50, (query, name, 50))
            near(p95, e95, (query, name, 95))
        q, e = a["quantiles"], a["quantiles_estimated"]
        assert list(q["kind"]) == list(e["kind"]) and list(q["n"]) == list(e["n"]), query
        assert e["estimated"].all() and not q["estimated"].any()
        for column in ("min", "max"):  # from the sums' exact extremes
            assert e[column].tolist() == pytest.approx(q[column].tolist()), (query, column)
        for column in ("p25", "median", "p75", "p95"):
            for kind, exact, guess in zip(q["kind"], q[column], e[column], strict=True):
                near(exact, guess, (query, kind, column))
        roles, roles_e = a["roles"].set_index("role"), a["roles_estimated"].set_index("role")
        assert sorted(roles.index) == sorted(roles_e.index), query
        for role in roles.index:
            near(roles.loc[role, "p95_s"], roles_e.loc[role, "p95_s"], (query, role, "p95"))
        hist = a["histogram"].groupby("kind")["count"].sum()
        assert hist.to_dict() == dict(zip(q["kind"], q["n"], strict=True)), query
    assert len(errors) > 100
    # Most estimates are far closer than a bin: the median error is a few per cent (about 4 % here).
    assert sorted(errors)[len(errors) // 2] < 0.06 and max(errors) <= 0.28


# --- the incremental refresh --------------------------------------------------------------------------------


def snapshot(db: Database, before: datetime | None = None) -> dict[str, list[tuple[Any, ...]]]:
    """Every rollup row without its id, sorted (by its key columns first, so rows whose float sums differ in
    the last bit, added in another order, still line up for same()); with `before`, only the hours (days)
    before it. The busiest
    minute of events_hourly is checked by check_peaks() instead: which of two equally busy minutes is kept
    depends on the order the database returns them in (test_busiest_minute_tie_is_broken_by_time)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with db.reading() as s:
        for model in ROLLUPS:
            table: Any = model.__table__
            columns = [c for c in table.c if c.name not in ("id", "peak_minute")]
            time = table.c["day" if model is HistogramDaily else "hour"]
            query = select(*columns)
            if before is not None:
                limit = rollups.floor_day(before) if model is HistogramDaily else rollups.floor_hour(before)
                query = query.where(time < limit)
            rows = [tuple(float(v) if isinstance(v, float) else v for v in r) for r in s.execute(query)]
            out[table.name] = sorted(rows, key=lambda r: tuple((v is None, str(v)) for v in r))
    return out


def check_peaks(db: Database) -> None:
    """Each events_hourly row's busiest minute lies in its hour and has the hour's largest per-minute count."""
    with db.reading() as s:
        per_minute = Counter(at.replace(second=0, microsecond=0) for at in s.scalars(select(TaskEvent.at)))
        rows = s.execute(select(EventsHourly.hour, EventsHourly.peak_minute, EventsHourly.peak_events)).all()
    assert rows
    for hour, minute, peak in rows:
        in_hour = [n for m, n in per_minute.items() if rollups.floor_hour(m) == hour]
        assert rollups.floor_hour(minute) == hour and per_minute[minute] == peak == max(in_hour), hour


def task_hourly(db: Database, hour: datetime, kind: str) -> dict[str, int]:
    with db.reading() as s:
        rows = s.execute(
            select(TaskHourly.status, func.sum(TaskHourly.tasks))
            .where(TaskHourly.hour == hour, TaskHourly.kind == kind)
            .group_by(TaskHourly.status)
        ).all()
    return {str(status): int(n) for status, n in rows}


def task_row(db: Database, task_id: int) -> Any:
    with db.reading() as s:
        return s.get(Task, task_id)


def test_refresh_is_idempotent_and_redoes_touched_hours(db: Database, data: dict[str, int]) -> None:
    # The worker's first build goes a week per transaction (ten days of data: two windows up to 12:00)...
    with db.reading() as s:
        assert rollups.first_build_windows(s, NOW) == [
            (datetime(2026, 2, 28), datetime(2026, 3, 7)),
            (datetime(2026, 3, 7), datetime(2026, 3, 10, 12)),
        ]
    rollups.refresh_in_steps(db.writing, NOW)
    stepped = snapshot(db, before=NOW)
    # ...and gives every whole hour and day the rows one build of everything gives.
    with db.writing() as s:
        rollups.rebuild(s, None)
    same(snapshot(db, before=NOW), stepped)
    refresh(db, NOW)
    first = snapshot(db)
    assert all(
        first[t] for t in ("task_hourly", "created_hourly", "worker_hourly", "tool_hourly", "usage_hourly")
    )
    refresh(db, NOW)
    same(snapshot(db), first)
    refresh(db, NOW + 10 * timedelta(minutes=1))  # nothing changed since: the same rows
    same(snapshot(db), first)
    check_peaks(db)

    old = task_row(db, data["old_failed"])
    old_hour, kind = rollups.floor_hour(old.completed_at), old.kind
    before = task_hourly(db, old_hour, kind)
    assert before.get("failed", 0) >= 1
    # Forty minutes later: the old failed task is retried and completes; an old queued task is cancelled; a
    # task running for days finishes. All three change hours long before the last refresh.
    later = NOW + 40 * timedelta(minutes=1)
    with db.writing() as s:
        retry = Transition(TaskStatus.QUEUED, reason="retry", next_attempt=True, available_at=later)
        apply_ops(s, data["old_failed"], [retry], actor="t", now=later)
        apply_ops(
            s,
            data["old_failed"],
            [Transition(TaskStatus.RUNNING, worker_id="w2", lease_until=later + H)],
            actor="t",
            now=later + 5 * S,
        )
        apply_ops(s, data["old_failed"], [Transition(TaskStatus.COMPLETED)], actor="t", now=later + 95 * S)
        apply_ops(s, data["old_queued"], [Transition(TaskStatus.CANCELLED)], actor="t", now=later + 100 * S)
        apply_ops(
            s,
            data["old_running"],
            [Transition(TaskStatus.FAILED, error="boom")],
            actor="t",
            now=later + 110 * S,
        )
    # Until the next refresh the rollups hold the old hour as it was.
    assert task_hourly(db, old_hour, kind) == before
    then = NOW + 2 * H  # 14:30: the hours 12:00 and 13:00 are now whole
    refresh(db, then)
    after = task_hourly(db, old_hour, kind)
    assert after.get("failed", 0) == before["failed"] - 1
    assert {k: v for k, v in after.items() if k != "failed"} == {
        k: v for k, v in before.items() if k != "failed"
    }
    assert task_hourly(db, rollups.floor_hour(later), kind).get("completed", 0) >= 1
    # Every rollup row of a whole hour (day) equals what a full rebuild computes from scratch...
    incremental = snapshot(db, before=then)
    check_peaks(db)
    with db.writing() as s:
        rollups.rebuild(s, None)
    same(snapshot(db, before=then), incremental)
    # ...and the answers read through them equal those read from the source rows.
    touched = ["?range=30d", f"?range=30d&kind={kind}", "?range=30d&role=planner"]
    same(all_answers(db, then, touched), raw_answers(db, then, touched))


def test_the_hour_in_progress_is_read_from_the_source_rows(db: Database) -> None:
    build(db, n_random=0)
    refresh(db, NOW)
    scope = parse_scope("?range=7d", NOW + 15 * timedelta(minutes=1))
    with db.reading() as s:
        cut = split(s, scope)
        before = performance.kpis(s, scope)
        tools_before = performance.tool_calls(s, scope)
    assert cut.rolled is not None and cut.rolled[1] == datetime(2026, 3, 10, 12)
    assert cut.raw[-1].start == datetime(2026, 3, 10, 12) and cut.raw[-1].end == scope.end
    # A task created, run and completed after the refresh, within the same hour, with one tool line.
    created = NOW + 2 * timedelta(minutes=1)
    with db.writing() as s:
        [task_id] = insert_tasks(s, [TaskSpec(title="late", kind=TaskKind.DEMO)], actor="t", now=created)
        apply_ops(
            s,
            task_id,
            [Transition(TaskStatus.RUNNING, worker_id="w1", lease_until=NOW + H)],
            actor="t",
            now=created + S,
        )
        apply_ops(
            s, task_id, [ActivityLine("bash make", ActivityType.TOOL_EXEC)], actor="t", now=created + 2 * S
        )
        apply_ops(s, task_id, [Transition(TaskStatus.COMPLETED)], actor="t", now=created + 61 * S)
    with db.reading() as s:
        after = performance.kpis(s, scope)
        tools_now = performance.tool_calls(s, scope).set_index("tool")["calls"]
    assert after.completed == before.completed + 1
    assert tools_now["bash"] == int(tools_before.set_index("tool")["calls"].get("bash", 0)) + 1
    # A refresh within the same hour leaves that hour to the readers: the rollup has no row of the new task.
    rows_before = task_hourly(db, datetime(2026, 3, 10, 12), "demo")
    refresh(db, NOW + 20 * timedelta(minutes=1))
    assert task_hourly(db, datetime(2026, 3, 10, 12), "demo") == rows_before
    with db.reading() as s:
        assert performance.kpis(s, scope).completed == after.completed
    queries = ["?range=24h", "?range=7d&kind=demo"]
    same(all_answers(db, scope.end, queries), raw_answers(db, scope.end, queries))


class AnyOrder:
    """A session whose SELECTs without ORDER BY return their rows in reverse: SQL promises no order then, and
    PostgreSQL's hash aggregation really does return groups in an order that changes with the rows around."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def execute(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        result = self.session.execute(statement, *args, **kwargs)
        if not isinstance(statement, Select) or statement._order_by_clauses:
            return result
        rows = list(result.all())[::-1]

        class Rows:
            def all(self) -> list[Any]:
                return rows

        return Rows()


def test_busiest_minute_tie_is_broken_by_time(db: Database) -> None:
    """Two minutes with three events each: the earlier is the busiest minute, whatever order the rows come in."""
    with db.writing() as s:
        [task_id] = insert_tasks(
            s, [TaskSpec(title="t", kind=TaskKind.DEMO)], actor="t", now=at("2026-03-10 11:22:05")
        )
        for when in ("2026-03-10 11:22:10", "2026-03-10 11:22:20", "2026-03-10 11:50:01"):
            apply_ops(s, task_id, [ActivityLine("x")], actor="t", now=at(when))
        for when in ("2026-03-10 11:50:02", "2026-03-10 11:50:03"):
            apply_ops(s, task_id, [ActivityLine("y")], actor="t", now=at(when))
    window = (at("2026-03-10 11:00"), at("2026-03-10 12:00"))
    for session_of in (lambda s: s, AnyOrder):
        with db.writing() as s:
            rollup_tables.events(cast(Session, session_of(s)), window)
            row = s.execute(
                select(EventsHourly.events, EventsHourly.peak_minute, EventsHourly.peak_events)
            ).one()
        assert tuple(row) == (6, at("2026-03-10 11:22"), 3)
