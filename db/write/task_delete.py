"""Data layer: deletes a finished task with everything under it (events, invocations, activity, tags, ingested
event ids) and rebuilds the analytics rollup hours it had counted in, in the caller's transaction."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session

from db.analytics import rollups
from db.analytics.rollcut import refreshed_until
from db.core.models import Invocation, Task, TaskEvent
from db.core.sqlfuncs import hour_floor
from db.core.timecol import as_datetime
from db.domain.states import TERMINAL, TaskStatus
from db.lifecycle.retention import forget_search
from db.write.writes import lock_status

T = cast(Table, Task.__table__)
E = cast(Table, TaskEvent.__table__)
I = cast(Table, Invocation.__table__)  # noqa: E741
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


class TaskNotFinished(ValueError):
    """Only a finished task may be deleted: a queued or running one would vanish under its worker."""

    def __init__(self, task_id: int, status: TaskStatus) -> None:
        super().__init__(f"task {task_id} is {status.value}: cancel it first, then delete it")
        self.task_id = task_id
        self.status = status


def delete_task(session: Session, task_id: int) -> list[datetime]:
    """Deletes the task (TaskNotFound when there is none, TaskNotFinished unless it has ended) and returns the
    rollup hours it rebuilt."""
    status = lock_status(session, task_id)
    if status not in TERMINAL:
        raise TaskNotFinished(task_id, status)
    hours = _counted_hours(session, task_id)
    forget_search(session, [task_id])  # SQLite's contentless index would keep the call's terms
    session.execute(delete(T).where(T.c.id == task_id))  # the rows under it go by ON DELETE CASCADE
    cut = refreshed_until(session)
    # Hours since the last refresh are rolled by the next one; only rolled hours hold the task's counts.
    stale = sorted(h for h in hours if cut is not None and h < cut)
    days = _windows(sorted({rollups.floor_day(h) for h in stale}), DAY)
    rollups.rebuild_windows(session, list(_windows(stale, HOUR)), list(days))
    # The hours since are in the per-minute tables as far as the last fold: fold them again without it.
    recent = [h for h in hours if cut is not None and h >= cut]
    if recent:
        rollups.refold_minutes(session, min(recent))
    return stale


def _counted_hours(session: Session, task_id: int) -> set[datetime]:
    """Every hour a rollup may have counted the task in: its creation and end, its calls, its events (the
    event-rate and tool-use tables count those)."""
    row = session.execute(select(T.c.created_at, T.c.completed_at).where(T.c.id == task_id)).one()
    found = {rollups.floor_hour(at) for at in row if at is not None}
    for column, table in ((E.c.at, E), (I.c.started_at, I)):
        query = select(hour_floor(column)).where(table.c.task_id == task_id).distinct()
        found.update(as_datetime(v) for v in session.scalars(query))
    return found


def _windows(starts: list[datetime], step: timedelta) -> list[tuple[datetime, datetime]]:
    """Sorted bucket starts as [start, end) windows, neighbours merged."""
    windows: list[tuple[datetime, datetime]] = []
    for start in starts:
        if windows and windows[-1][1] == start:
            windows[-1] = (windows[-1][0], start + step)
        else:
            windows.append((start, start + step))
    return windows
