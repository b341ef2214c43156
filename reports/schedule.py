"""Reports layer: when scheduled reports are due — fire times from APScheduler's CronTrigger in each
schedule's time zone, as pure functions of a given `now` — and enqueueing each due run exactly once.

Each worker calls `enqueue_due` every 30 seconds (worker/jobs.py). A schedule is due when its latest fire time
at or before `now` is later than both the fire time it last enqueued and the moment it was switched on. Only
that latest fire time runs: a worker fleet that was down across three daily fire times makes one report on
its return, not three. The run's idempotency key (schedule id + fire time) is unique in the database, so any
number of workers enqueueing the same fire time at once make one run."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.orm import Session

from db.core.timeutil import to_naive_utc
from db.reporting import schedules as report_schedules
from db.reporting import store
from db.reporting.schedules import Schedule
from db.reporting.store import RunRequest, RunTrigger
from reports.period import Period, period_for

# Every schedule fires at least once in this window (a monthly one on day 1–28 fires every 28–31 days), so
# scanning it finds the latest fire time however long the workers were down.
LOOKBACK = timedelta(days=35)
# Cron fire times are whole minutes; the next one is asked for from just after the last.
_STEP = timedelta(seconds=1)


def trigger_for(schedule: Schedule) -> CronTrigger:
    zone = ZoneInfo(schedule.timezone)
    if schedule.period == "weekly":
        return CronTrigger(
            day_of_week=schedule.weekday or 0, hour=schedule.hour, minute=schedule.minute, timezone=zone
        )
    if schedule.period == "monthly":
        return CronTrigger(
            day=schedule.day_of_month or 1, hour=schedule.hour, minute=schedule.minute, timezone=zone
        )
    return CronTrigger(hour=schedule.hour, minute=schedule.minute, timezone=zone)


def fire_times(schedule: Schedule, after: datetime, until: datetime) -> list[datetime]:
    """Fire times t with after < t <= until, as naive UTC. Asked in UTC so that wall-clock quirks around DST
    cannot stall the scan: a time that does not exist (spring forward) fires at the same instant an hour
    later on the clock; one that happens twice (fall back) fires twice, and the second is skipped by
    `due_run`'s same-period rule."""
    trigger = trigger_for(schedule)
    found: list[datetime] = []
    cursor = after.replace(tzinfo=UTC) + _STEP
    end = until.replace(tzinfo=UTC)
    while cursor <= end:
        nxt = trigger.get_next_fire_time(None, cursor)
        if nxt is None:
            break
        at = nxt.astimezone(UTC)
        if at < cursor:  # never go backwards, whatever the trigger says
            cursor += timedelta(hours=1)
            continue
        if at > end:
            break
        found.append(at.replace(tzinfo=None))
        cursor = at + _STEP
    return found


def next_fire(schedule: Schedule, now: datetime) -> datetime | None:
    """The next fire time after `now` (naive UTC), for showing when a schedule runs next."""
    nxt = trigger_for(schedule).get_next_fire_time(None, now.replace(tzinfo=UTC) + _STEP)
    return None if nxt is None else to_naive_utc(nxt)


def period_of(schedule: Schedule, fire_at: datetime) -> Period:
    """A scheduled run reports on the last complete (UTC) period before its fire time."""
    return period_for(schedule.period, fire_at)


def idempotency_key(schedule_id: int, fire_at: datetime) -> str:
    return f"schedule:{schedule_id}:{fire_at:%Y-%m-%dT%H:%M:%S}Z"


@dataclass(frozen=True)
class DueRun:
    schedule: Schedule
    fire_at: datetime
    period: Period
    # The fire time's period was already reported by this schedule (its time or zone was edited after a run,
    # or a fall-back hour repeated its time): the fire time is marked handled, no run is made.
    repeat: bool

    @property
    def key(self) -> str:
        return idempotency_key(self.schedule.id, self.fire_at)

    def request(self) -> RunRequest:
        return RunRequest(
            trigger=RunTrigger.SCHEDULE,
            period_kind=self.period.kind.value,
            period_start=self.period.start,
            period_end=self.period.end,
            formats=self.schedule.formats,
            kinds=self.schedule.kinds,
            tags=self.schedule.tags,
            requested_by=f"schedule:{self.schedule.name}",
            schedule_id=self.schedule.id,
            scheduled_for=self.fire_at,
            idempotency_key=self.key,
        )


def due_run(schedule: Schedule, now: datetime) -> DueRun | None:
    """The run a schedule owes at `now`, if any: its latest fire time at or before `now` that is later than
    the fire time it last handled and than the moment it was switched on."""
    if not schedule.enabled:
        return None
    anchors = [now - LOOKBACK, schedule.enabled_at or schedule.created_at]
    if schedule.last_fire_at is not None:
        anchors.append(schedule.last_fire_at)
    times = fire_times(schedule, max(anchors), now)
    if not times:
        return None
    fire_at = times[-1]
    period = period_of(schedule, fire_at)
    repeat = schedule.last_fire_at is not None and period_of(schedule, schedule.last_fire_at) == period
    return DueRun(schedule, fire_at, period, repeat)


def enqueue_due(session: Session, now: datetime, *, actor: str = "scheduler") -> list[int]:
    """Enqueue every due scheduled run (in the caller's transaction); returns the ids of runs created here
    (a run another worker created first for the same fire time is not counted)."""
    created: list[int] = []
    for schedule in report_schedules.list_schedules(session):
        due = due_run(schedule, now)
        if due is None:
            continue
        if not due.repeat:
            run_id = store.enqueue_run(session, due.request(), now, actor=actor)
            if run_id is not None:
                created.append(run_id)
        report_schedules.mark_fired(session, schedule.id, due.fire_at)
    return created
