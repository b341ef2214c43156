"""Tests: scheduled reports under a controlled clock — cron fire times in time zones (DST included), the run a
schedule owes at a given moment, schedule validation, and in the database (SQLite and PostgreSQL): two real
Worker objects enqueueing the same fire time at once make one run; a fleet back from downtime makes one run,
for the latest missed fire time."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from config import Settings
from db.core.engine import Database, open_database
from db.core.migrate import upgrade
from db.core.models import ReportRun, ReportSchedule
from db.core.timeutil import utcnow
from db.live.changefeed import Hub
from db.reporting import schedules as report_schedules
from db.reporting.schedules import Schedule, ScheduleError
from db.write.recorder import Recorder
from reports.period import PeriodKind
from reports.schedule import due_run, enqueue_due, fire_times, idempotency_key, next_fire
from reports.write import FORMATS
from worker import jobs
from worker.worker import Worker

T0 = datetime(2026, 3, 4, 12, 0)  # a Wednesday, UTC


def schedule(period: str = "daily", **changes: object) -> Schedule:
    base = Schedule(
        id=1,
        name=f"{period} report",
        period=period,
        enabled=True,
        hour=6,
        minute=0,
        weekday=0 if period == "weekly" else None,
        day_of_month=1 if period == "monthly" else None,
        timezone="UTC",
        formats=("pdf",),
        kinds=(),
        tags=(),
        recipients=(),
        webhook_url=None,
        enabled_at=T0,
        last_fire_at=None,
        created_at=T0,
        updated_at=T0,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


# ---- fire times ------------------------------------------------------------------------------------------
def test_fire_times_in_utc_and_zones() -> None:
    daily = schedule()
    assert fire_times(daily, T0, T0 + timedelta(days=3)) == [
        datetime(2026, 3, 5, 6),
        datetime(2026, 3, 6, 6),
        datetime(2026, 3, 7, 6),
    ]
    # 08:00 on Mondays in New York is 13:00 UTC in winter (EST) and 12:00 UTC from 8 March (EDT).
    weekly = schedule("weekly", hour=8, timezone="America/New_York")
    assert fire_times(weekly, T0, T0 + timedelta(days=14)) == [
        datetime(2026, 3, 9, 12),
        datetime(2026, 3, 16, 12),
    ]
    assert fire_times(weekly, datetime(2026, 2, 25), datetime(2026, 3, 3)) == [datetime(2026, 3, 2, 13)]
    monthly = schedule("monthly", hour=9, day_of_month=15, timezone="Asia/Tokyo")
    assert fire_times(monthly, T0, T0 + timedelta(days=45)) == [
        datetime(2026, 3, 15, 0),
        datetime(2026, 4, 15, 0),
    ]
    # The bound is inclusive at the end and exclusive at the start.
    assert fire_times(daily, datetime(2026, 3, 5, 6), datetime(2026, 3, 6, 6)) == [datetime(2026, 3, 6, 6)]


def test_fire_times_across_dst_in_berlin() -> None:
    at_0230 = schedule(hour=2, minute=30, timezone="Europe/Berlin")
    # Spring forward (29 March 2026): 02:30 does not exist; it fires once, at 03:30 CEST (01:30 UTC).
    spring = fire_times(at_0230, datetime(2026, 3, 27), datetime(2026, 3, 31))
    assert spring == [
        datetime(2026, 3, 27, 1, 30),
        datetime(2026, 3, 28, 1, 30),
        datetime(2026, 3, 29, 1, 30),
        datetime(2026, 3, 30, 0, 30),
    ]
    # Fall back (25 October 2026): 02:30 happens twice; the scan never stalls or goes backwards.
    autumn = fire_times(at_0230, datetime(2026, 10, 24), datetime(2026, 10, 27))
    assert autumn == [
        datetime(2026, 10, 24, 0, 30),
        datetime(2026, 10, 25, 0, 30),
        datetime(2026, 10, 25, 1, 30),
        datetime(2026, 10, 26, 1, 30),
    ]
    # …and the repeated hour makes no second report: both fire times cover the same day.
    first = due_run(at_0230, datetime(2026, 10, 25, 1, 0))
    assert first is not None and not first.repeat and first.fire_at == datetime(2026, 10, 25, 0, 30)
    second = due_run(replace(at_0230, last_fire_at=first.fire_at), datetime(2026, 10, 25, 2, 0))
    assert second is not None and second.repeat and second.period == first.period
    # A daily schedule at 08:00 Berlin keeps 08:00 on the clock across the change.
    at_8 = schedule(hour=8, timezone="Europe/Berlin")
    assert fire_times(at_8, datetime(2026, 3, 28), datetime(2026, 3, 30)) == [
        datetime(2026, 3, 28, 7),
        datetime(2026, 3, 29, 6),
    ]


def test_next_fire() -> None:
    weekly = schedule("weekly", hour=8)
    assert next_fire(weekly, T0) == datetime(2026, 3, 9, 8)
    assert next_fire(weekly, datetime(2026, 3, 9, 8)) == datetime(2026, 3, 16, 8)


# ---- the run a schedule owes -----------------------------------------------------------------------------
def test_due_run_periods_and_key() -> None:
    weekly = schedule("weekly", hour=8)
    assert due_run(weekly, datetime(2026, 3, 9, 7, 59)) is None  # not yet
    due = due_run(weekly, datetime(2026, 3, 9, 8, 0, 30))
    assert due is not None and due.fire_at == datetime(2026, 3, 9, 8)
    # The last complete ISO week before the fire time.
    assert due.period.kind is PeriodKind.WEEKLY
    assert (due.period.start, due.period.end) == (datetime(2026, 3, 2), datetime(2026, 3, 9))
    assert due.key == idempotency_key(1, due.fire_at) == "schedule:1:2026-03-09T08:00:00Z"
    request = due.request()
    assert request.scheduled_for == due.fire_at and request.idempotency_key == due.key
    assert request.formats == ("pdf",) and request.schedule_id == 1
    monthly = due_run(schedule("monthly", hour=9), datetime(2026, 4, 1, 9, 1))
    assert monthly is not None and (monthly.period.start, monthly.period.end) == (
        datetime(2026, 3, 1),
        datetime(2026, 4, 1),
    )
    daily = due_run(schedule(), datetime(2026, 3, 5, 6, 0))
    assert daily is not None and (daily.period.start, daily.period.end) == (
        datetime(2026, 3, 4),
        datetime(2026, 3, 5),
    )


def test_due_run_only_the_latest_missed_and_never_before_enabling() -> None:
    daily = schedule()
    # Down from before the 5th's fire time until after the 8th's: one run, for the 8th.
    due = due_run(daily, datetime(2026, 3, 8, 9))
    assert due is not None and due.fire_at == datetime(2026, 3, 8, 6)
    # Once handled, nothing until the next fire time.
    handled = replace(daily, last_fire_at=due.fire_at)
    assert due_run(handled, datetime(2026, 3, 8, 23)) is None
    nxt = due_run(handled, datetime(2026, 3, 9, 6))
    assert nxt is not None and nxt.fire_at == datetime(2026, 3, 9, 6)
    # Switched on after today's fire time: today's is not owed.
    late = replace(daily, enabled_at=datetime(2026, 3, 5, 7))
    assert due_run(late, datetime(2026, 3, 5, 8)) is None
    assert due_run(replace(daily, enabled=False), datetime(2026, 3, 8, 9)) is None
    # Moved from 06:00 to 09:00 after today's run: the same day is not reported twice.
    moved = replace(handled, hour=9)
    again = due_run(moved, datetime(2026, 3, 8, 10))
    assert again is not None and again.repeat


# ---- validation ------------------------------------------------------------------------------------------
def test_formats_match_the_writer() -> None:
    assert report_schedules.REPORT_FORMATS == FORMATS


@pytest.mark.parametrize(
    ("period", "changes", "field"),
    [
        ("daily", {"time": "25:00"}, "time"),
        ("daily", {"time": "8am"}, "time"),
        ("weekly", {"weekday": "9"}, "weekday"),
        ("monthly", {"day_of_month": 31}, "day_of_month"),
        ("monthly", {"day_of_month": "x"}, "day_of_month"),
        ("daily", {"timezone": "Mars/Olympus"}, "timezone"),
        ("daily", {"timezone": "../etc/passwd"}, "timezone"),
        ("daily", {"timezone": ""}, "timezone"),
        ("daily", {"formats": []}, "formats"),
        ("daily", {"formats": ["docx"]}, "formats"),
        ("daily", {"kinds": ["robot"]}, "kind"),
        ("daily", {"recipients": "ops@example.com, not-an-address"}, "recipients"),
        ("daily", {"recipients": "a@b.com\nBcc: x@y.com"}, "recipients"),
        ("daily", {"webhook_url": "ftp://example.com/x"}, "webhook_url"),
        ("daily", {"webhook_url": "https:// spaced.example.com"}, "webhook_url"),
    ],
)
def test_schedule_edit_errors_name_the_field(period: str, changes: dict[str, object], field: str) -> None:
    values: dict[str, object] = {"enabled": True, "time": "08:00", "weekday": "0", "day_of_month": 1}
    values.update(changes)
    with pytest.raises(ScheduleError) as info:
        report_schedules.parse_schedule_edit(period, **values)
    assert info.value.field == field


def test_schedule_edit_normalises() -> None:
    edit = report_schedules.parse_schedule_edit(
        "weekly",
        enabled=True,
        time="7:05",
        weekday="4",
        timezone=" Europe/Berlin ",
        formats=["pdf", "html", "pdf"],
        kinds=["demo"],
        tags=" billing, urgent ,billing",
        recipients="ops@example.com; lead@example.org\nops@example.com",
        webhook_url=" https://hooks.example.com/r ",
    )
    assert (edit.hour, edit.minute, edit.weekday, edit.timezone) == (7, 5, 4, "Europe/Berlin")
    assert edit.formats == ("html", "pdf") and edit.tags == ("billing", "urgent")
    assert edit.recipients == ("ops@example.com", "lead@example.org")
    assert edit.webhook_url == "https://hooks.example.com/r"


# ---- in the database -------------------------------------------------------------------------------------
def reset_schedules(db: Database, enabled_at: datetime) -> dict[str, Schedule]:
    """Only the three default schedules, switched on at `enabled_at`, and no runs."""
    with db.writing() as session:
        session.execute(delete(ReportRun))
        session.execute(delete(ReportSchedule))
        report_schedules.insert_default_schedules(session, enabled_at)
        return {s.period: s for s in report_schedules.list_schedules(session)}


@pytest.fixture
def schedules(db: Database) -> Iterator[dict[str, Schedule]]:
    yield reset_schedules(db, T0)
    # PostgreSQL's database outlives the test: leave it as a fresh one, nothing queued and nothing due.
    reset_schedules(db, utcnow())


def runs(db: Database) -> list[ReportRun]:
    with db.reading() as session:
        return list(session.execute(select(ReportRun).order_by(ReportRun.id)).scalars())


def test_seeded_defaults(tmp_path: Path) -> None:
    """A fresh database (migration 0006) has the three default schedules, switched on as it was created."""
    before = utcnow()
    fresh = open_database(f"sqlite:///{tmp_path}/fresh.db")
    try:
        upgrade(fresh)
        with fresh.reading() as session:
            seeded = {s.period: s for s in report_schedules.list_schedules(session)}
    finally:
        fresh.dispose()
    assert [s.name for s in seeded.values()] == [d["name"] for d in report_schedules.DEFAULT_SCHEDULES]
    assert seeded["daily"].time_text == "06:00"
    assert (seeded["weekly"].weekday, seeded["weekly"].time_text) == (0, "08:00")
    assert (seeded["monthly"].day_of_month, seeded["monthly"].time_text) == (1, "09:00")
    for s in seeded.values():
        assert s.enabled and s.timezone == "UTC" and s.formats == report_schedules.DEFAULT_FORMATS
        assert s.enabled_at is not None and s.enabled_at >= before - timedelta(seconds=1)


def test_update_schedule_restarts_from_enabling(db: Database, schedules: dict[str, Schedule]) -> None:
    weekly = schedules["weekly"]
    edit = report_schedules.parse_schedule_edit(
        "weekly", enabled=False, time="09:30", weekday="2", timezone="UTC"
    )
    later = T0 + timedelta(days=1)
    with db.writing() as session:
        off = report_schedules.update_schedule(session, weekly.id, edit, later)
    assert not off.enabled and off.enabled_at == T0 and off.weekday == 2 and off.time_text == "09:30"
    with db.writing() as session:
        on = report_schedules.update_schedule(
            session, weekly.id, replace(edit, enabled=True), later + timedelta(days=1)
        )
        with pytest.raises(ScheduleError) as info:
            report_schedules.update_schedule(session, 10_000, edit, later)
    assert on.enabled and on.enabled_at == later + timedelta(days=1)
    assert info.value.field == "schedule"


def test_enqueue_once_per_fire_time(db: Database, schedules: dict[str, Schedule]) -> None:
    recorder = Recorder(db, Hub())
    monday = datetime(2026, 3, 9, 8, 0, 20)
    with recorder.transaction() as session:
        created = enqueue_due(session, monday)
    # Daily (06:00 on the 9th) and weekly (08:00 on the 9th) are due; monthly is not.
    assert len(created) == 2
    with recorder.transaction() as session:
        assert enqueue_due(session, monday + timedelta(seconds=30)) == []
    got = {r.schedule_id: r for r in runs(db)}
    weekly = got[schedules["weekly"].id]
    assert weekly.trigger == "schedule" and weekly.status == "queued"
    assert weekly.scheduled_for == datetime(2026, 3, 9, 8)
    assert (weekly.period_start, weekly.period_end) == (datetime(2026, 3, 2), datetime(2026, 3, 9))
    assert weekly.idempotency_key == f"schedule:{schedules['weekly'].id}:2026-03-09T08:00:00Z"
    with db.reading() as session:
        marked = report_schedules.get_schedule(session, schedules["weekly"].id)
    assert marked is not None and marked.last_fire_at == datetime(2026, 3, 9, 8)


def two_workers(db_url: str) -> list[Worker]:
    """Two real Worker objects, each with its own engines and connections (as two processes would have)."""
    made = []
    for name in ("alpha", "beta"):
        database = open_database(db_url)
        hub = Hub()
        made.append(
            Worker(Settings(database_url=db_url, worker_name=name), database, Recorder(database, hub), hub)
        )
    return made


def race(workers: list[Worker], now: datetime) -> list[list[int]]:
    """Both workers run the enqueue job at the same moment; returns what each created."""
    barrier = threading.Barrier(len(workers))
    results: list[list[int]] = [[] for _ in workers]
    errors: list[BaseException] = []

    def go(i: int, w: Worker) -> None:
        try:
            barrier.wait(timeout=10)
            results[i] = jobs.enqueue_reports(w, now)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(i, w)) for i, w in enumerate(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not errors, errors
    return results


def test_two_workers_enqueue_exactly_once(db: Database, db_url: str, schedules: dict[str, Schedule]) -> None:
    workers = two_workers(db_url)
    try:
        # Five fire times of the daily schedule, each raced by both workers.
        for day in range(5, 10):
            at = datetime(2026, 3, day, 6, 0, 5)
            created = race(workers, at)
            assert sum(len(c) for c in created) == len({r for c in created for r in c})
            daily = [r for r in runs(db) if r.schedule_id == schedules["daily"].id]
            assert [r.scheduled_for for r in daily] == [datetime(2026, 3, d, 6) for d in range(5, day + 1)]
        # Workers that believe the fire time is still owed (its mark lost) hit the taken key: nothing new.
        with db.writing() as session:
            session.execute(update(ReportSchedule).values(last_fire_at=None))
        assert race(workers, datetime(2026, 3, 9, 6, 0, 40)) == [[], []]
        keys = [r.idempotency_key for r in runs(db)]
        assert len(keys) == 5 and len(set(keys)) == 5
    finally:
        for w in workers:
            w.db.dispose()


def test_catch_up_after_downtime_runs_the_latest_once(
    db: Database, db_url: str, schedules: dict[str, Schedule]
) -> None:
    workers = two_workers(db_url)
    try:
        # The fleet ran on the 5th, then was down until the 8th at 07:00: the 6th, 7th and 8th were missed.
        race(workers, datetime(2026, 3, 5, 6, 0, 10))
        created = race(workers, datetime(2026, 3, 8, 7, 0))
        assert sum(len(c) for c in created) == 1
        daily = [r for r in runs(db) if r.schedule_id == schedules["daily"].id]
        assert [r.scheduled_for for r in daily] == [datetime(2026, 3, 5, 6), datetime(2026, 3, 8, 6)]
        latest = daily[-1]
        assert (latest.period_start, latest.period_end) == (datetime(2026, 3, 7), datetime(2026, 3, 8))
        # The weekly schedule's Monday the 9th has not come yet; the worker coming back later that day
        # catches it up once too.
        assert sum(len(c) for c in race(workers, datetime(2026, 3, 9, 23, 0))) == 2  # daily and weekly
        weekly = [r for r in runs(db) if r.schedule_id == schedules["weekly"].id]
        assert [r.scheduled_for for r in weekly] == [datetime(2026, 3, 9, 8)]
        assert race(workers, datetime(2026, 3, 9, 23, 30)) == [[], []]
    finally:
        for w in workers:
            w.db.dispose()
