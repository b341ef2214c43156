"""Tests: task schedules on SQLite and PostgreSQL — fire times as functions of an injected clock (cron in a
time zone, intervals, end dates), each fire time making exactly one task however many callers race, the
catch-up and concurrency policies, max runs, the CLI (audited; a bad cron or zone exits 2 naming the field),
and two real worker processes making one task per fire time."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from db.control.schedule_fire import enqueue_due, latest_fire, next_fire
from db.control.task_schedules import ScheduleSpec, ScheduleSpecError, create, find
from db.core.engine import Database, open_database
from db.core.models import AuditLog, Task, TaskSchedule
from db.domain.states import TaskKind
from db.write.recorder import Recorder
from tests.helpers import WorkerProcess, run_cli, wait_until

T0 = datetime(2026, 3, 28, 12, 0, 0)  # a Saturday; Europe/Berlin goes to summer time the next night


def spec(**kw: Any) -> ScheduleSpec:
    base: dict[str, Any] = {
        "name": "s",
        "title": "beat",
        "kind": TaskKind.COMMAND,
        "payload": {"command": "true"},
        "interval_seconds": 10.0,
    }
    base.update(kw)
    return ScheduleSpec(**base)


def row(**kw: Any) -> dict[str, Any]:
    s = spec(**kw)
    return {
        "enabled": s.enabled,
        "enabled_at": T0,
        "last_fire_at": None,
        "end_at": s.end_at,
        "interval_seconds": s.interval_seconds,
        "cron": s.cron,
        "timezone": s.timezone,
        "max_runs": s.max_runs,
        "runs": 0,
    }


def test_fire_times_follow_the_injected_clock() -> None:
    every = row()
    assert latest_fire(every, T0 + timedelta(seconds=9)) is None
    assert latest_fire(every, T0 + timedelta(seconds=35)) == T0 + timedelta(seconds=30)
    assert next_fire(every, T0 + timedelta(seconds=35)) == T0 + timedelta(seconds=40)
    handled = {**every, "last_fire_at": T0 + timedelta(seconds=30)}
    assert latest_fire(handled, T0 + timedelta(seconds=39)) is None
    ended = {**every, "end_at": T0 + timedelta(seconds=25)}
    assert latest_fire(ended, T0 + timedelta(hours=1)) == T0 + timedelta(seconds=20)
    assert latest_fire({**every, "enabled": False}, T0 + timedelta(hours=1)) is None
    # 06:30 in Berlin: 05:30 UTC in winter, 04:30 UTC after the clocks went forward on Sunday.
    berlin = row(cron="30 6 * * *", interval_seconds=None, timezone="Europe/Berlin")
    assert latest_fire(berlin, datetime(2026, 3, 29, 5, 0)) == datetime(2026, 3, 29, 4, 30)
    assert next_fire(berlin, datetime(2026, 3, 28, 12, 0)) == datetime(2026, 3, 29, 4, 30)
    # Down for three days: only the latest missed time is owed.
    assert latest_fire(berlin, datetime(2026, 4, 1, 12, 0)) == datetime(2026, 4, 1, 4, 30)
    minutely = row(cron="*/1 * * * *", interval_seconds=None)
    assert latest_fire(minutely, T0 + timedelta(days=3, seconds=30)) == T0 + timedelta(days=3)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"cron": "61 * * * *", "interval_seconds": None}, "cron"),
        ({"cron": "* * *", "interval_seconds": None}, "cron"),
        ({"cron": "* * * * *"}, "cron"),  # both a cron and an interval
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"interval_seconds": 0.1}, "interval_seconds"),
        ({"catch_up": "all"}, "catch_up"),
        ({"payload": {}}, "payload.command"),
        ({"priority": 5000}, "priority"),
        ({"name": " "}, "name"),
    ],
)
def test_bad_values_are_named(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ScheduleSpecError) as caught:
        spec(**fields)
    assert caught.value.field == field


def make(db: Database, now: datetime, **kw: Any) -> int:
    with db.writing() as session:
        schedule_id = create(session, spec(**kw), now)
    return schedule_id


def scheduled(db: Database) -> list[tuple[int, datetime]]:
    with db.reading() as s:
        rows = s.execute(select(Task.schedule_id, Task.scheduled_for).order_by(Task.id)).all()
    return [(r.schedule_id, r.scheduled_for) for r in rows]


def fire(recorder: Recorder, now: datetime) -> list[int]:
    with recorder.transaction() as session:
        return enqueue_due(session, now)


def test_racing_callers_make_one_task_per_fire_time(db_url: str, db: Database) -> None:
    schedule_id = make(db, T0)
    at = T0 + timedelta(seconds=10)
    made: list[list[int]] = []
    start = threading.Barrier(6)

    def caller() -> None:
        own = open_database(db_url)  # its own engine and connections, as another worker process has
        try:
            start.wait()
            made.append(fire(Recorder(own), at + timedelta(seconds=1)))
        finally:
            own.dispose()

    threads = [threading.Thread(target=caller) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(len(m) for m in made) == [0, 0, 0, 0, 0, 1]
    assert scheduled(db) == [(schedule_id, at)]
    with db.reading() as s:
        task = s.scalars(select(Task)).one()
    assert (task.created_by, task.title, task.status) == ("schedule:s", "beat", "queued")


def test_policies_and_limits(recorder: Recorder, db: Database) -> None:
    # Hourly, and the fleet was down from 12:00 to 14:10: "latest" makes up the 14:00 run once, "skip" does
    # not (it is past the grace), and both count 14:00 as handled.
    latest = make(db, T0, name="latest", interval_seconds=3600.0)
    skip = make(db, T0, name="skip", interval_seconds=3600.0, catch_up="skip")
    assert len(fire(recorder, T0 + timedelta(hours=2, minutes=10))) == 1
    assert scheduled(db) == [(latest, T0 + timedelta(hours=2))]
    assert find_row(db, skip)["last_fire_at"] == T0 + timedelta(hours=2)
    assert len(fire(recorder, T0 + timedelta(hours=3, seconds=5))) == 2  # on time again: both run
    with db.writing() as s:
        s.execute(update(TaskSchedule).values(enabled=False))
    one_at_a_time = make(db, T0, name="one", concurrency="skip", max_runs=2)
    assert len(fire(recorder, T0 + timedelta(seconds=10))) == 1
    assert fire(recorder, T0 + timedelta(seconds=20)) == []  # the first is still queued
    with db.writing() as s:
        s.execute(update(Task).where(Task.schedule_id == one_at_a_time).values(status="completed"))
    assert len(fire(recorder, T0 + timedelta(seconds=30))) == 1
    row_ = find_row(db, one_at_a_time)
    assert (row_["runs"], row_["enabled"]) == (2, False)  # max_runs reached: switched off
    assert fire(recorder, T0 + timedelta(seconds=40)) == []


def find_row(db: Database, schedule_id: int) -> dict[str, Any]:
    with db.reading() as s:
        return find(s, schedule_id)


def test_cli_refuses_bad_input_and_audits_changes(db_url: str, db: Database) -> None:
    bad = run_cli(
        "schedule", "add", "--db", db_url, "--cron", "*/1 * * *", "--title", "x", "--command", "true"
    )
    assert bad.returncode == 2 and "cron:" in bad.stderr
    ok = run_cli(
        "schedule",
        "add",
        "--db",
        db_url,
        "--cron",
        "*/1 * * * *",
        "--title",
        "heartbeat",
        "--command",
        "echo ok",
    )
    assert ok.returncode == 0, ok.stderr
    for action in ("pause", "remove"):
        done = run_cli("schedule", action, "--db", db_url, "heartbeat")
        assert done.returncode == 0, done.stderr
    assert run_cli("schedule", "pause", "--db", db_url, "heartbeat").returncode == 1  # gone
    with db.reading() as s:
        actions = s.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
        left = s.scalar(select(func.count()).select_from(TaskSchedule))
    assert actions == ["schedule.create", "schedule.pause", "schedule.remove"]
    assert left == 0


@pytest.mark.slow
def test_two_workers_make_one_task_per_fire_time(db_url: str, db: Database, tmp_path: Path) -> None:
    added = run_cli(
        "schedule",
        "add",
        "--db",
        db_url,
        "--every",
        "1",
        "--title",
        "tick",
        "--callable",
        "worker.examples:noop",
    )
    assert added.returncode == 0, added.stderr
    with (
        WorkerProcess(db_url, tmp_path, concurrency=2) as a,
        WorkerProcess(db_url, tmp_path, concurrency=2) as b,
    ):

        def enough() -> int | None:
            with db.reading() as s:
                n = s.scalar(select(func.count()).select_from(Task).where(Task.status == "completed")) or 0
            return n if n >= 4 else None

        wait_until(enough, what="four scheduled tasks done", workers=[a, b])
    times = [at for _, at in scheduled(db)]
    assert len(times) == len(set(times))  # never two tasks for one fire time
    start = find_row(db, 1)["enabled_at"]
    for at in times:  # every task is for a fire time of the schedule
        assert (at - start).total_seconds() == pytest.approx(round((at - start).total_seconds()), abs=1e-3)
