"""Tests: the reads generated from the rollup specs (db/analytics/rollup_spec.py, db/analytics/rollup_read.py) change
nothing but speed. Every declared read (costs, agents, performance, volume, the worker page, the histograms, the
metrics endpoint), with every grouping and time bucket it offers, over ranges that end in the hour in progress,
before it, inside its folded minutes and past them, answers through the daily, hourly and per-minute rollups exactly
as from the source rows, and so does every analytics answer built on them; percentiles read from the histograms stay
within a bin's error of the exact ones. The folds generated from the specs: the first build a week per transaction
equals one build of everything, refreshing again changes nothing, a retry of an old failed task, a cancelled old
queued task and a long-running task finishing are folded into the old hours they touched, the hour in progress is
read from the source rows until its minutes are folded, and the per-minute fold stays exact as calls end, statuses
change, writers commit late, tasks are deleted and the hourly refresh moves on. On a fixed ten-day data set
(tests/rollup_data.py); SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from db.analytics import agents, bins, costs, insights, performance, rollups, volume
from db.analytics.rollcut import cut, split
from db.analytics.rollup_read import REGISTRY, Read, parts_of, run
from db.analytics.rollup_spec import MINUTE_SPECS, USAGE
from db.core.engine import Database
from db.core.models import (
    CreatedMinutely,
    EventsHourly,
    JobLease,
    Task,
    TaskEvent,
    TaskHourly,
    UsageMinutely,
)
from db.domain.ops import ActivityLine, InvocationFinished, InvocationStarted, TaskSpec, Transition, Usage
from db.domain.states import ActivityType, TaskKind, TaskStatus
from db.read import api_metrics, overview, worker_detail
from db.read.scope import Scope, parse_scope
from db.write.task_delete import delete_task
from db.write.writes import apply_ops, insert_tasks
from tests.rollup_data import CUSTOM, NOW, QUERIES, ROLE_QUERIES, ROLLUPS, WORKERS, H, S, at, build, same

M = timedelta(minutes=1)
FOLDED = NOW - 2 * M  # the last fold: 12:28; the calls after it are the raw tail
QUERIES_NOW = [
    *QUERIES,
    *ROLE_QUERIES,
    "?range=7d&tag=x",
    "?range=1h",  # short: the hour before raw, the minutes of this one rolled
    "?from=2026-03-10T05:00&to=2026-03-10T12:20:30",  # ends inside the folded minutes
    "?from=2026-03-10T12:03:30&to=2026-03-10T12:29",  # all of it in the hour in progress
]
MINUTE_TABLES = (UsageMinutely, CreatedMinutely)


def pairs() -> list[tuple[Read, tuple[str, ...], str | None]]:
    """Every declared read with each grouping and time bucket it may be asked for."""
    out: list[tuple[Read, tuple[str, ...], str | None]] = []
    for read in REGISTRY:
        groupings: list[tuple[str, ...]] = [(c,) for c in read.by_choices] or [read.by]
        out += [(read, by, unit) for by in groupings for unit in (read.units or (None,))]
    return out


@pytest.fixture(autouse=True)
def _no_stale_rollups(db: Database) -> Iterator[None]:
    with db.writing() as s:
        for model in (*ROLLUPS, *MINUTE_TABLES):
            s.execute(delete(model))
    yield


def call(s: Session, task_id: int, name: str, when: datetime, model: str, cost: float) -> None:
    started = InvocationStarted(name, role="builder", provider="p", model=model)
    apply_ops(s, task_id, [started, Usage(model, 120, 12, 3, cost, name)], actor="t", now=when)


def burst(db: Database, start: datetime, n: int, step: timedelta) -> int:
    """A running external task making `n` calls from `start`, one every `step`, two models, some finished."""
    with db.writing() as s:
        [task_id] = insert_tasks(s, [TaskSpec(title="burst", kind=TaskKind.EXTERNAL)], actor="t", now=start)
        apply_ops(s, task_id, [Transition(TaskStatus.RUNNING, worker_id="w1")], actor="t", now=start)
        for k in range(n):
            when = start + k * step
            call(s, task_id, f"b{k}", when, ("gpt-4.1", "haiku")[k % 2], 0.01 * (k % 7 + 1))
            if k % 3 == 0:
                apply_ops(s, task_id, [InvocationFinished(f"b{k}", ok=k % 2 == 0)], actor="t", now=when + S)
    return task_id


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


def built_on_reads(s: Session, scope: Scope, now: datetime) -> dict[str, Any]:
    """The analytics answers the pages show, built on the declared reads (and, for percentiles, on exact
    sorts of the source rows or on the histogram reads)."""
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
        **{f"throughput {w}": worker_detail.throughput(s, w, scope) for w in WORKERS},
        "updates": insights.update_histogram(s, scope),
    }


def answers(s: Session, queries: list[str], now: datetime) -> dict[str, Any]:
    out: dict[str, Any] = {"tasks by status": api_metrics.tasks_by_status(s)}
    for query in queries:
        scope = parse_scope(query, now)
        for read, by, unit in pairs():
            out[f"{query} {read.name} {by} {unit}"] = run(s, read, scope, by, unit)
        for name, answer in built_on_reads(s, scope, now).items():
            out[f"{query} {name}"] = answer
        # Not its task counts: read raw, those are the tasks with a call in the range; with the rollups, the
        # tasks created in it (distinct tasks cannot be summed by bucket; db/analytics/costs.totals).
        spent = costs.totals(s, scope)
        out[f"{query} totals"] = (
            spent.cost,
            spent.input_tokens,
            spent.output_tokens,
            spent.cache_read_tokens,
            spent.calls,
        )
        out[f"{query} spend"] = costs.spend(s, scope)
        out[f"{query} over_time"] = costs.over_time(s, scope)
        for dim in costs.BREAKDOWNS:
            out[f"{query} breakdown {dim}"] = costs.breakdown(s, scope, dim)
            out[f"{query} series {dim}"] = costs.series(s, scope, "day", dim)
    out["dimension values"] = costs.dimension_values(s, now - 30 * 24 * H)
    return out


ESTIMATED = (
    "kpis",
    "kpis_estimated",
    "quantiles",
    "quantiles_estimated",
    "roles",
    "roles_estimated",
    "histogram",
)


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


def rolled_and_raw(db: Database, queries: list[str], now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """The answers read as they are, and from the source rows alone: without the refresh's and the fold's
    records every scope is read raw (removed in a transaction that is rolled back)."""
    with db.reading() as s:
        rolled = answers(s, queries, now)
    with db.write_session() as s:
        s.execute(delete(JobLease).where(JobLease.name.in_([rollups.JOB, rollups.MINUTE_JOB])))
        try:
            raw = answers(s, queries, now)
        finally:
            s.rollback()
    return rolled, raw


def refresh(db: Database, now: datetime) -> None:
    with db.writing() as s:
        rollups.refresh(s, now)


def fold(db: Database, now: datetime) -> None:
    with db.writing() as s:
        rollups.fold_minutes(s, now)


def minute_rows(db: Database, until: datetime) -> dict[str, list[tuple[Any, ...]]]:
    with db.reading() as s:
        return _rows(s, until)


def _rows(s: Session, until: datetime) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    for model in MINUTE_TABLES:
        table: Any = model.__table__
        columns = [c for c in table.c if c.name != "id"]
        rows = s.execute(select(*columns).where(table.c.minute < until)).all()
        out[table.name] = sorted((tuple(r) for r in rows), key=lambda r: tuple(str(v) for v in r))
    return out


def refolded(db: Database, since: datetime, until: datetime) -> dict[str, list[tuple[Any, ...]]]:
    """The minute rows one fold of [since, until) computes from scratch (rolled back afterwards)."""
    with db.write_session() as s:
        try:
            for spec in MINUTE_SPECS:
                s.execute(delete(spec.tables["minute"]))
                spec.fold(s, (since, until), "minute")
            return _rows(s, until)
        finally:
            s.rollback()


def test_every_declared_read_answers_like_the_source_rows(db: Database) -> None:
    build(db)
    burst(db, at("2026-03-10 12:01:10"), 60, 28 * S)  # 12:01:10 … 12:28:42, across the fold at 12:28
    refresh(db, NOW - 25 * M)  # 12:05: every hour before 12:00 rolled
    fold(db, NOW - 20 * M)
    fold(db, FOLDED + 20 * S)  # a second fold, on from the first, up to its whole minutes
    with db.reading() as s:
        parts = cut(s, parse_scope("?range=7d", NOW), USAGE.rolled_dims)
        assert parts.hours == (datetime(2026, 3, 3, 13), datetime(2026, 3, 10, 12))
        assert parts.minutes == (datetime(2026, 3, 10, 12), FOLDED)
        assert [(p.start, p.end) for p in parts.raw] == [
            (NOW - 7 * 24 * H, datetime(2026, 3, 3, 13)),
            (FOLDED, NOW),
        ]
        assert s.scalar(select(UsageMinutely.calls).limit(1)) is not None
        # Whole days from the daily tables, unless the answer is per hour.
        week = parse_scope("?range=7d", NOW)
        grains = [grain for grain, _ in parts_of(s, costs.BREAKDOWN, week, ("model",), None).rolled]
        assert grains == ["day", "hour", "hour", "minute"]
        hourly = parts_of(s, costs.SERIES, week, ("model",), "hour").rolled
        assert [grain for grain, _ in hourly] == ["hour", "minute"]
        inside = cut(s, parse_scope("?from=2026-03-10T12:03:30&to=2026-03-10T12:29", NOW))
        assert inside.hours is None and inside.minutes == (at("2026-03-10 12:04"), FOLDED)
        for query in QUERIES:  # every one of these is served mostly by the hourly rollups, with raw edges
            scope = parse_scope(query, NOW)
            hours = split(s, scope)
            assert hours.rolled is not None, query
            assert hours.rolled[1] == min(rollups.floor_hour(scope.end), datetime(2026, 3, 10, 12)), query
            assert [(p.start, p.end) for p in hours.raw] == [
                (scope.start, hours.rolled[0]),
                (hours.rolled[1], scope.end),
            ], query
    rolled, raw = rolled_and_raw(db, QUERIES_NOW, NOW)
    names = {read.name for read in REGISTRY}
    assert {"agents.roles", "costs.series", "performance.ended", "volume.ended", "worker.throughput"} <= names
    assert {"histograms.call", "histograms.updates", "performance.tools", "api_metrics.by_status"} <= names
    assert "overview.workers" in names and overview.BY_WORKER.by
    assert len(pairs()) >= 40 and len(rolled) == len(raw) and agents.ROLE_READ.by
    for key in raw:
        same(rolled[key], raw[key], key)
    # Not vacuous: the data set has outcomes of every kind in the ranges, retries and tool calls...
    completed, failed, cancelled, first_ok, retried, _ = raw["?range=7d kpis"]["counts"]
    assert completed > 30 and failed > 5 and cancelled > 0 and retried > 3 and first_ok < completed + failed
    assert raw["?range=7d tools"]["calls"].sum() > 20 and len(raw["?range=7d roles"]) == 3
    assert raw["?range=7d fleet"]["done"].sum() > 0 and raw[f"{CUSTOM} kpis"]["counts"][0] > 10
    check_estimates({q: {k: rolled[f"{q} {k}"] for k in ESTIMATED} for q in QUERIES})
    # Not vacuous: spend in the hours, in the folded minutes and in the tail after the fold.
    week = raw["?range=7d costs.series ('model',) hour"]
    assert week[week["bucket"] < datetime(2026, 3, 10, 12)]["cost_usd"].sum() > 1
    recent = week[week["bucket"] == datetime(2026, 3, 10, 12)]
    assert set(recent["model"]) >= {"gpt-4.1", "haiku"}
    assert raw["?from=2026-03-10T12:03:30&to=2026-03-10T12:29 costs.spend () None"]["cost_usd"][0] > 0.5


def test_the_minute_fold_stays_exact(db: Database) -> None:
    refresh(db, at("2026-03-10 12:00:30"))  # nothing yet, but the hourly record exists: cut at 12:00
    task_id = burst(db, at("2026-03-10 12:01:00"), 20, 30 * S)  # 12:01:00 … 12:10:30
    fold(db, at("2026-03-10 12:11:00"))
    hour = datetime(2026, 3, 10, 12)
    same(minute_rows(db, at("2026-03-10 12:11")), refolded(db, hour, at("2026-03-10 12:11")))
    with db.writing() as s:
        # A call that started in a folded minute ends (its minute's measures change), the task fails (its
        # creation minute's status changes), and a writer commits a call stamped before the fold, late.
        apply_ops(s, task_id, [InvocationFinished("b1", ok=False)], actor="t", now=at("2026-03-10 12:14"))
        call(s, task_id, "late", at("2026-03-10 12:10:50"), "haiku", 0.5)
        apply_ops(
            s, task_id, [Transition(TaskStatus.FAILED, error="x")], actor="t", now=at("2026-03-10 12:15")
        )
    assert minute_rows(db, at("2026-03-10 12:11")) != refolded(db, hour, at("2026-03-10 12:11"))
    fold(db, at("2026-03-10 12:16:20"))
    until = at("2026-03-10 12:16")
    same(minute_rows(db, until), refolded(db, hour, until))
    rolled, raw = rolled_and_raw(db, ["?range=24h", "?range=1h"], until)
    for key in raw:
        same(rolled[key], raw[key], key)
    # Deleting the task takes its calls out of the minutes folded so far.
    with db.writing() as s:
        delete_task(s, task_id)
    assert not minute_rows(db, until)["usage_minutely"]
    # The hourly refresh moves on past 12:00: the next fold starts again from its cut, 13:00.
    other = burst(db, at("2026-03-10 12:50"), 10, 6 * M)  # 12:50 … 13:44
    refresh(db, at("2026-03-10 13:05"))
    fold(db, at("2026-03-10 13:40:10"))
    with db.reading() as s:
        scope = parse_scope("?range=24h", at("2026-03-10 13:50"))
        assert cut(s, scope, USAGE.rolled_dims).minutes == (at("2026-03-10 13:00"), at("2026-03-10 13:40"))
    rolled, raw = rolled_and_raw(db, ["?range=24h", "?range=1h"], at("2026-03-10 13:50"))
    for key in raw:
        same(rolled[key], raw[key], key)
    assert other and raw["?range=24h spend"] > 0


def test_no_minutes_before_the_hourly_rollups(db: Database) -> None:
    burst(db, at("2026-03-10 12:01:00"), 5, 30 * S)
    fold(db, NOW)  # nothing to fold onto: readers read the calls until the first refresh
    with db.reading() as s:
        assert s.get(JobLease, rollups.MINUTE_JOB) is None
        assert cut(s, parse_scope("?range=24h", NOW), USAGE.rolled_dims).rolled == []


# --- the generated folds: the first build, refreshing again, changes to old hours, the hour in progress -----


def snapshot(db: Database, before: datetime | None = None) -> dict[str, list[tuple[Any, ...]]]:
    """Every rollup row without its id, sorted (by its key columns first, so rows whose float sums differ in
    the last bit, added in another order, still line up for same()); with `before`, only the hours (days)
    before it. The busiest minute of events_hourly is checked by check_peaks() instead: which of two equally
    busy minutes is kept depends on the order the database returns them in
    (tests/test_rollups.py's test_busiest_minute_tie_is_broken_by_time)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with db.reading() as s:
        for model in ROLLUPS:
            table: Any = model.__table__
            columns = [c for c in table.c if c.name not in ("id", "peak_minute")]
            daily = "day" in table.c
            time = table.c["day" if daily else "hour"]
            query = select(*columns)
            if before is not None:
                limit = rollups.floor_day(before) if daily else rollups.floor_hour(before)
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


def test_the_folds_are_idempotent_and_redo_touched_hours(db: Database) -> None:
    data = build(db)
    assert set(data) == {"old_failed", "old_queued", "old_running"}, data
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
    assert first["histogram_hourly"] and first["histogram_daily"]
    refresh(db, NOW)
    same(snapshot(db), first)
    refresh(db, NOW + 10 * M)  # nothing changed since: the same rows
    same(snapshot(db), first)
    check_peaks(db)

    old = task_row(db, data["old_failed"])
    old_hour, kind = rollups.floor_hour(old.completed_at), old.kind
    before = task_hourly(db, old_hour, kind)
    assert before.get("failed", 0) >= 1
    # Forty minutes later: the old failed task is retried and completes; an old queued task is cancelled; a
    # task running for days finishes. All three change hours long before the last refresh.
    later = NOW + 40 * M
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
    # ...and every read and answer through them equals those from the source rows.
    touched = ["?range=30d", f"?range=30d&kind={kind}", "?range=30d&role=planner"]
    rolled, raw = rolled_and_raw(db, touched, then)
    for key in raw:
        same(rolled[key], raw[key], key)


def test_the_hour_in_progress_is_read_from_the_source_rows(db: Database) -> None:
    build(db, n_random=0)
    refresh(db, NOW)
    scope = parse_scope("?range=7d", NOW + 15 * M)
    with db.reading() as s:
        hours = split(s, scope)
        before = performance.kpis(s, scope)
        tools_before = performance.tool_calls(s, scope)
    assert hours.rolled is not None and hours.rolled[1] == datetime(2026, 3, 10, 12)
    assert hours.raw[-1].start == datetime(2026, 3, 10, 12) and hours.raw[-1].end == scope.end
    # A task created, run and completed after the refresh, within the same hour, with one tool line.
    created = NOW + 2 * M
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
    refresh(db, NOW + 20 * M)
    assert task_hourly(db, datetime(2026, 3, 10, 12), "demo") == rows_before
    with db.reading() as s:
        assert performance.kpis(s, scope).completed == after.completed
    rolled, raw = rolled_and_raw(db, ["?range=24h", "?range=7d&kind=demo"], scope.end)
    for key in raw:
        same(rolled[key], raw[key], key)


def test_finished_counts_are_exact_after_the_hourly_cut(db: Database) -> None:
    """/api/v1/metrics' finished states read the hour in progress from the tasks, not from the minute fold:
    a task created and folded as running that completes before the next fold counts as completed at once."""
    refresh(db, at("2026-03-10 12:00:30"))
    with db.writing() as s:
        [task_id] = insert_tasks(
            s, [TaskSpec(title="t", kind=TaskKind.EXTERNAL)], actor="t", now=at("2026-03-10 12:01")
        )
        apply_ops(
            s,
            task_id,
            [Transition(TaskStatus.RUNNING, worker_id="w1")],
            actor="t",
            now=at("2026-03-10 12:01"),
        )
    fold(db, at("2026-03-10 12:02:10"))
    with db.reading() as s:
        assert s.scalar(select(func.sum(CreatedMinutely.tasks))) == 1
        assert api_metrics.tasks_by_status(s)["running"] == 1
    with db.writing() as s:
        apply_ops(s, task_id, [Transition(TaskStatus.COMPLETED)], actor="t", now=at("2026-03-10 12:03"))
    with db.reading() as s:
        counts = api_metrics.tasks_by_status(s)
    assert counts["completed"] == 1 and counts["running"] == 0
