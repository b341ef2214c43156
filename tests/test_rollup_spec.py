"""Tests: the reads generated from the rollup specs (db/rollup_spec.py, db/rollup_read.py) change nothing but
speed. Every declared read, with every grouping and time bucket it offers, over ranges that end in the hour in
progress, before it, inside its folded minutes and past them, answers through the hourly and per-minute
rollups exactly as from the source rows; and the per-minute fold stays exact as calls end, statuses change,
writers commit late, tasks are deleted and the hourly refresh moves on. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from db import agents, costs, overview, rollups
from db.engine import Database
from db.models import CreatedMinutely, JobLease, UsageMinutely
from db.ops import InvocationFinished, InvocationStarted, TaskSpec, Transition, Usage
from db.rollcut import cut
from db.rollup_read import REGISTRY, Read, run
from db.rollup_spec import SPECS, USAGE
from db.scope import parse_scope
from db.states import TaskKind, TaskStatus
from db.task_delete import delete_task
from db.writes import apply_ops, insert_tasks
from tests.rollup_data import NOW, QUERIES, ROLE_QUERIES, ROLLUPS, H, S, at, build, same

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


def answers(s: Session, queries: list[str], now: datetime) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for query in queries:
        scope = parse_scope(query, now)
        for read, by, unit in pairs():
            out[f"{query} {read.name} {by} {unit}"] = run(s, read, scope, by, unit)
        # Not its task counts: read raw, those are the tasks with a call in the range; with the rollups, the
        # tasks created in it (distinct tasks cannot be summed by bucket; db/costs.totals).
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
            for spec in SPECS:
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
        inside = cut(s, parse_scope("?from=2026-03-10T12:03:30&to=2026-03-10T12:29", NOW))
        assert inside.hours is None and inside.minutes == (at("2026-03-10 12:04"), FOLDED)
    rolled, raw = rolled_and_raw(db, QUERIES_NOW, NOW)
    assert {"agents.roles", "costs.series", "overview.workers"} <= {read.name for read in REGISTRY}
    assert agents.ROLE_READ.by and overview.BY_WORKER.by
    assert len(pairs()) >= 40 and len(rolled) == len(raw)
    for key in raw:
        same(rolled[key], raw[key], key)
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
