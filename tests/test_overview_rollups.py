"""Tests: the overview's figures (KPI cards, per-worker outcomes today, the 24 h series) read through the
rollups of ended tasks (db/analytics/rollup_spec.FINISHED, RUNTIMES) equal the answers from the tasks themselves, with
hours rolled, minutes folded and a raw tail — also after a folded task is retried and ends again, and early
in the day (a scope shorter than the analytics pages' minimum). SQLite and PostgreSQL."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete

from db.analytics import rollups
from db.analytics.rollcut import cut
from db.analytics.rollup_spec import FINISHED
from db.core.engine import Database
from db.core.models import JobLease
from db.domain.ops import Transition
from db.domain.states import TaskKind, TaskStatus
from db.read import overview
from db.write.writes import apply_ops
from tests.builders import make_task
from tests.rollup_data import WORKERS, add_workers, same

STUCK = timedelta(minutes=5)


def figures(db: Database, now: datetime, *, raw: bool, exact_below: int = 10**9) -> dict[str, Any]:
    """Every overview read at `now`; raw=True without the rollups' records, so all of it from the tasks
    (in a transaction that is rolled back)."""
    with db.write_session() as s:
        try:
            if raw:
                s.execute(delete(JobLease).where(JobLease.name.in_([rollups.JOB, rollups.MINUTE_JOB])))
            return {
                "kpis": asdict(overview.kpis(s, now, STUCK, exact_below)),
                "workers": overview.live_workers(s, now, None)[
                    ["id", "completed_today", "failed_today", "cancelled_today"]
                ],
                "ended": overview.finished_series(s, now),
                "created": overview.started_series(s, now),
            }
        finally:
            s.rollback()


def refresh_and_fold(db: Database, hourly: datetime, minutes: datetime) -> None:
    with db.writing() as s:
        rollups.refresh(s, hourly)
    with db.writing() as s:
        rollups.fold_minutes(s, minutes)


def day(db: Database, now: datetime) -> dict[str, int]:
    """Tasks ending over the day up to `now`: across hours (rolled), minutes (folded) and after the fold."""
    with db.writing() as s:
        add_workers(s)
    ids: dict[str, int] = {}
    for n, hours_ago in enumerate((20.0, 9.5, 3.2, 2.1, 1.4, 0.9, 0.5, 0.3, 0.05)):
        created = now - timedelta(hours=hours_ago)
        for k, status in enumerate((TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED)):
            if status is not TaskStatus.COMPLETED and (n + k) % 2:
                continue
            ids[f"{n}-{status.value}"] = make_task(
                db,
                created=created,
                status=status,
                ran_for=30.0 + 17 * n + k,
                worker=WORKERS[(n + k) % 3],
                kind=(TaskKind.DEMO, TaskKind.COMMAND)[n % 2],
                calls=(("planner", "gpt-4.1", 0.01 * (n + 1)),),
            )
    make_task(db, created=now - timedelta(minutes=3), status=TaskStatus.RUNNING)
    make_task(db, created=now - timedelta(minutes=1), status=TaskStatus.QUEUED)
    return ids


@pytest.mark.parametrize("exact_below", [10**9, 1])  # p95 sorted, and p95 from the bins
def test_overview_reads_from_the_rollups_equal_the_tasks(db: Database, exact_below: int) -> None:
    now = datetime(2026, 3, 10, 15, 40)
    ids = day(db, now)
    refresh_and_fold(db, datetime(2026, 3, 10, 15, 5), datetime(2026, 3, 10, 15, 31, 20))
    with db.reading() as s:
        parts = cut(s, overview._today(now), FINISHED.rolled_dims, overview.NOW_SPAN)
        # Not vacuous: whole hours, folded minutes and a raw tail.
        assert parts.hours == (datetime(2026, 3, 10), datetime(2026, 3, 10, 15))
        assert parts.minutes == (datetime(2026, 3, 10, 15), datetime(2026, 3, 10, 15, 31))
    rolled, raw = figures(db, now, raw=False, exact_below=exact_below), figures(db, now, raw=True)
    if exact_below == 1:  # the bins' estimate: within a bin of the sorted answer
        assert rolled["kpis"].pop("p95_estimated") and not raw["kpis"].pop("p95_estimated")
        assert rolled["kpis"].pop("p95_duration_s") == pytest.approx(
            raw["kpis"].pop("p95_duration_s"), rel=0.13
        )
    same(rolled, raw)
    k = raw["kpis"]
    assert k["completed_today"] == 8 and k["failed_today"] == 4 and (k["queued"], k["running"]) == (1, 1)
    assert raw["workers"]["cancelled_today"].sum() == 4

    # A task that ended in a folded minute is retried and ends again after the fold, failed this time.
    task_id = ids["7-completed"]
    with db.writing() as s:
        apply_ops(s, task_id, [Transition(TaskStatus.QUEUED)], actor="t", now=now - timedelta(minutes=6))
        start = now - timedelta(minutes=5)
        apply_ops(s, task_id, [Transition(TaskStatus.RUNNING, worker_id=WORKERS[1])], actor="t", now=start)
        apply_ops(
            s,
            task_id,
            [Transition(TaskStatus.FAILED, error="x")],
            actor="t",
            now=start + timedelta(minutes=2),
        )
    later = now + timedelta(minutes=2)
    with db.writing() as s:
        rollups.fold_minutes(s, later - timedelta(seconds=30))
    rolled, raw = figures(db, later, raw=False), figures(db, later, raw=True)
    same(rolled, raw)
    assert raw["kpis"]["completed_today"] == 7 and raw["kpis"]["failed_today"] == 5


def test_early_in_the_day_the_hours_are_rolled_too(db: Database) -> None:
    """Two hours into the day (shorter than the analytics pages' raw-below span): still buckets."""
    now = datetime(2026, 3, 10, 2, 10)
    day(db, now)
    refresh_and_fold(db, datetime(2026, 3, 10, 2, 1), datetime(2026, 3, 10, 2, 8, 5))
    with db.reading() as s:
        parts = cut(s, overview._today(now), FINISHED.rolled_dims, overview.NOW_SPAN)
        assert parts.hours == (datetime(2026, 3, 10), datetime(2026, 3, 10, 2))
    same(figures(db, now, raw=False), figures(db, now, raw=True))
