"""Data layer: when task schedules fire and the one task each fire time makes — fire times as pure functions
of a given `now` (cron through APScheduler's CronTrigger in the schedule's time zone, or a fixed interval from
when it was switched on), and enqueueing, exactly once however many workers ask.

Every worker calls `enqueue_due` each second (worker/jobs.py). APScheduler computes the times but fires
nothing: each worker's in-memory scheduler would fire every schedule once per worker. The schedule's row is
locked (PostgreSQL FOR UPDATE; SQLite's BEGIN IMMEDIATE serialises writers anyway) while its latest fire time
is compared with `last_fire_at`, so the second worker finds the time handled; the unique index on (schedule_id,
scheduled_for) is the backstop."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from db.control.task_schedules import S, cron_trigger
from db.domain.ops import TaskSpec
from db.domain.states import TaskKind, TaskStatus
from db.write.writes import T, insert_tasks

# catch_up "skip": a fire time found later than this after it passed counts as missed and makes no task.
GRACE = timedelta(seconds=60)
# The latest cron fire time is looked for in growing windows, so a minute-by-minute schedule costs a few dozen
# trigger steps, not a month's worth, and a yearly one is still found.
WINDOWS = (timedelta(hours=1), timedelta(days=1), timedelta(days=35), timedelta(days=400))
_STEP = timedelta(microseconds=1)


def latest_fire(row: dict[str, Any], now: datetime) -> datetime | None:
    """The latest fire time t with (last handled or switched on) < t <= now (and <= end_at), naive UTC."""
    if not row["enabled"] or row["enabled_at"] is None:
        return None
    anchor = max(t for t in (row["enabled_at"], row["last_fire_at"]) if t is not None)
    until = min(now, row["end_at"]) if row["end_at"] is not None else now
    if until <= anchor:
        return None
    if row["interval_seconds"] is not None:
        step = timedelta(seconds=row["interval_seconds"])
        count = math.floor((until - row["enabled_at"]) / step)
        at = row["enabled_at"] + count * step
        return at if count >= 1 and at > anchor else None
    trigger = cron_trigger(row["cron"], ZoneInfo(row["timezone"]))
    for window in WINDOWS:
        low = max(anchor, until - window)
        found = _last_cron_time(trigger, low, until)
        if found is not None or low == anchor:
            return found
    return None


def _last_cron_time(trigger: Any, low: datetime, until: datetime) -> datetime | None:
    """The last fire time in (low, until]. Asked in UTC so that DST cannot stall the scan."""
    cursor, end, last = low.replace(tzinfo=UTC) + _STEP, until.replace(tzinfo=UTC), None
    while True:
        nxt = trigger.get_next_fire_time(None, cursor)
        if nxt is None:
            return last
        at = nxt.astimezone(UTC)
        if at > end:
            return last
        last = at.replace(tzinfo=None)
        cursor = max(at, cursor) + timedelta(seconds=1)


def next_fire(row: dict[str, Any], now: datetime) -> datetime | None:
    """When the schedule fires next after `now` (naive UTC), for showing it; None when paused or over."""
    if not row["enabled"] or row["enabled_at"] is None:
        return None
    if row["max_runs"] is not None and row["runs"] >= row["max_runs"]:
        return None
    if row["interval_seconds"] is not None:
        step = timedelta(seconds=row["interval_seconds"])
        at = row["enabled_at"] + (math.floor((now - row["enabled_at"]) / step) + 1) * step
    else:
        trigger = cron_trigger(row["cron"], ZoneInfo(row["timezone"]))
        nxt = trigger.get_next_fire_time(None, now.replace(tzinfo=UTC))
        if nxt is None:
            return None
        at = nxt.astimezone(UTC).replace(tzinfo=None)
    return None if row["end_at"] is not None and at > row["end_at"] else at


def due_ids(session: Session, now: datetime) -> list[int]:
    """Schedules with a fire time to handle at `now`: a cheap read before any write transaction."""
    rows = session.execute(select(S).where(S.c.enabled.is_(True))).mappings()
    return [r["id"] for r in rows if latest_fire(dict(r), now) is not None]


def enqueue_due(session: Session, now: datetime, schedule_ids: list[int] | None = None) -> list[int]:
    """Handle each due schedule's latest fire time in the caller's (write) transaction; returns the tasks made
    here (a time another worker handled first makes nothing)."""
    made: list[int] = []
    for schedule_id in due_ids(session, now) if schedule_ids is None else schedule_ids:
        task_id = _fire(session, schedule_id, now)
        if task_id is not None:
            made.append(task_id)
    return made


def _fire(session: Session, schedule_id: int, now: datetime) -> int | None:
    found = session.execute(select(S).where(S.c.id == schedule_id).with_for_update()).mappings().first()
    if found is None:
        return None
    row = dict(found)
    at = latest_fire(row, now)
    if at is None:
        return None
    values: dict[str, Any] = {"last_fire_at": at}
    task_id = None
    if row["max_runs"] is not None and row["runs"] >= row["max_runs"]:
        values["enabled"] = False
    elif row["catch_up"] == "skip" and now - at > GRACE:
        pass  # missed, and this schedule does not catch up
    elif row["concurrency"] == "skip" and _active(session, schedule_id):
        pass  # the previous task is still queued or running
    else:
        task_id = _make_task(session, row, at, now)
        values["runs"] = row["runs"] + 1
        if row["max_runs"] is not None and values["runs"] >= row["max_runs"]:
            values["enabled"] = False
    session.execute(update(S).where(S.c.id == schedule_id).values(values))
    return task_id


def _active(session: Session, schedule_id: int) -> bool:
    live = (TaskStatus.QUEUED.value, TaskStatus.RUNNING.value)
    return (
        session.scalar(select(T.c.id).where(T.c.schedule_id == schedule_id, T.c.status.in_(live)).limit(1))
        is not None
    )


def _make_task(session: Session, row: dict[str, Any], at: datetime, now: datetime) -> int:
    spec = TaskSpec(
        title=row["title"],
        kind=TaskKind(row["kind"]),
        payload=row["payload"] or {},
        priority=row["priority"],
        tags=tuple(row["tags"] or ()),
        created_by=f"schedule:{row['name']}",
        max_attempts=row["max_attempts"],
        timeout_seconds=row["timeout_seconds"],
    )
    (task_id,) = insert_tasks(session, [spec], actor=f"schedule:{row['name']}", now=now)
    session.execute(update(T).where(T.c.id == task_id).values(schedule_id=row["id"], scheduled_for=at))
    return task_id
