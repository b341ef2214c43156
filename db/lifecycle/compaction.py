"""Data layer: event-log compaction — a finished task's progress, activity, call and usage events repeat what
its task row, `activity` and `invocations` rows keep (the live pages needed them while it ran; the task page
reads only its created and transition events). After TASKLENS_COMPACT_EVENTS_DAYS they are deleted in short
batches (on SQLite with the kept rows written back, so they fill fresh pages); the events_hourly rollup is made
complete first and is never rebuilt before the compaction mark."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.orm import Session

from db.analytics import rollups
from db.core.models import JobLease, TaskEvent
from db.domain.states import EventType
from db.lifecycle import archive, retention

E = cast(Table, TaskEvent.__table__)
MARK = rollups.COMPACTED
# What a finished task keeps in the log: what db/read/tasks/history.py and db/analytics/rollups.touched_hours read.
KEPT = (EventType.CREATED.value, EventType.TRANSITION.value, EventType.DESCRIBED.value)


compacted_before = rollups.compacted_before


def _mark(session: Session, at: datetime, now: datetime) -> datetime:
    current = compacted_before(session)
    edge = at if current is None or at > current else current
    values = {"last_key": edge.isoformat(), "last_run_at": now}
    if session.scalar(select(JobLease.name).where(JobLease.name == MARK)) is None:
        session.execute(insert(JobLease).values(name=MARK, holder=None, expires_at=None, **values))
    else:
        session.execute(update(JobLease).where(JobLease.name == MARK).values(**values))
    return edge


def compact(
    transaction: retention.Transaction,
    reading: retention.Transaction,
    now: datetime,
    days: float,
    result: retention.PruneResult,
    batch: int = 200,
) -> None:
    """Deletes the derived events of finished tasks with nothing recorded for `days`, a batch of tasks per
    transaction; the newest event of the log always stays (SQLite would hand its seq out again)."""
    at = retention.cutoff(now, days)
    rollups.refresh_in_steps(transaction, now)  # events_hourly complete up to now
    with transaction() as session:
        rollups.serialise(session)  # wait for a refresh that read the old mark
        _mark(session, at, now)
    after = 0
    while True:
        with reading() as session:
            ids = archive.finished_before(session, at, after, batch)
        if not ids:
            return
        after = ids[-1]
        with transaction() as session:
            top = session.scalar(select(func.max(E.c.seq))) or 0
            if session.get_bind().dialect.name == "sqlite":
                gone = _compact_packed(session, ids, top)
            else:
                deleted = session.execute(
                    delete(E).where(E.c.task_id.in_(ids), E.c.type.not_in(KEPT), E.c.seq < top)
                )
                gone = int(getattr(deleted, "rowcount", 0) or 0)
            result.add("task_events (compacted)", gone)


def _compact_packed(session: Session, ids: list[int], top: int) -> int:
    """SQLite: the tasks' events all deleted and the kept ones written back with their own seq, values as
    stored. A plain delete leaves the kept rows on pages it emptied to a sixth (SQLite merges a page only below
    a third full), in the table keyed by seq and in both indexes; written back, they fill fresh pages — about
    70 bytes a task fewer (bench/README.md). PostgreSQL's heap is not ordered by key: its free space is reused."""
    conn = session.connection()
    marks = ", ".join("?" * len(ids))
    kinds = ", ".join("?" * len(KEPT))
    names = ", ".join(c.name for c in E.columns)
    where = f"task_id IN ({marks}) AND seq < ?"
    kept = conn.exec_driver_sql(
        f"SELECT {names} FROM task_events WHERE {where} AND type IN ({kinds}) ORDER BY seq",
        (*ids, top, *KEPT),
    ).all()
    deleted = conn.exec_driver_sql(f"DELETE FROM task_events WHERE {where}", (*ids, top))
    if kept:
        values = ", ".join("?" * len(E.columns))
        conn.exec_driver_sql(
            f"INSERT INTO task_events ({names}) VALUES ({values})", [tuple(row) for row in kept]
        )
    return int(deleted.rowcount or 0) - len(kept)
