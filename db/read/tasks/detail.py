"""Data layer: one task — every field the view gives its one-task answer plus its database figures, its row
(for the pages and the CLI that read it as the model) and the CLI's summary of it, the lookups by id and
external id, tasks' titles and counts by status, and the write path's latency that its page shows beside them."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.core.models import Task, TaskEvent, WriteStat
from db.domain.states import TaskStatus
from db.read.task_view import TASKS, T

DETAIL_COLUMNS = TASKS.api_names(detail=True)


def get_task(session: Session, task_id: int) -> dict[str, Any] | None:
    """Every field of the task and its database figures: events in the log, and updates per minute of its life."""
    row = (
        session.execute(
            select(*(f.selected() for f in TASKS.api_fields(detail=True))).where(T.c.id == task_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    task = dict(row)
    events = select(func.count()).where(TaskEvent.task_id == task_id)
    task["event_count"] = int(session.scalar(events) or 0)
    life = (task["last_updated_at"] - task["created_at"]).total_seconds()
    task["updates_per_minute"] = task["update_count"] / (life / 60.0) if life > 0 else None
    return task


def task_record(session: Session, task_id: int) -> Task | None:
    """The task's row as the model (its page's panels and the CLI read its attributes)."""
    return session.get(Task, task_id)


def task_summary(task: Task) -> dict[str, Any]:
    """What the CLI prints of a task (`python app.py submit --wait`, `show`)."""
    return {
        "id": task.id,
        "title": task.title,
        "kind": task.kind,
        "status": task.status,
        "attempt": task.attempt,
        "progress": task.progress,
        "iteration": task.current_iteration,
        "max_iterations": task.max_iterations,
        "worker_id": task.worker_id,
        "error": task.error_message,
        "result": task.result,
        "cost_usd": round(task.cost_usd, 6),
        "tokens": task.input_tokens + task.output_tokens,
        "update_count": task.update_count,
    }


def titles(session: Session, task_ids: list[int]) -> dict[int, str]:
    """{id: title} of those of `task_ids` that exist."""
    if not task_ids:
        return {}
    rows = session.execute(select(T.c.id, T.c.title).where(T.c.id.in_(task_ids)))
    return {task_id: title for task_id, title in rows}


def status_counts(session: Session) -> dict[str, int]:
    """How many tasks each status holds (every task: the demo workload's progress line)."""
    return dict(session.execute(select(T.c.status, func.count()).group_by(T.c.status)).tuples().all())


def task_id_of_key(session: Session, external_id: str) -> int | None:
    found = session.scalar(select(T.c.id).where(T.c.external_id == external_id))
    return None if found is None else int(found)


def existing_keys(session: Session, external_ids: list[str]) -> list[str]:
    """Which of these external ids tasks already carry (the unique index answers each)."""
    found: list[str] = []
    for start in range(0, len(external_ids), 500):  # bounded IN lists
        chunk = external_ids[start : start + 500]
        found += session.scalars(select(T.c.external_id).where(T.c.external_id.in_(chunk))).all()
    place = {key: i for i, key in enumerate(external_ids)}
    return sorted(found, key=place.__getitem__)


def task_exists(session: Session, task_id: int) -> bool:
    return session.scalar(select(T.c.id).where(T.c.id == task_id)) is not None


def task_status(session: Session, task_id: int) -> TaskStatus | None:
    status = session.scalar(select(T.c.status).where(T.c.id == task_id))
    return None if status is None else TaskStatus(status)


def write_latency(session: Session, now: datetime, minutes: int = 15) -> tuple[float | None, float | None]:
    """Commit latency p50/p95 (ms) of the write path over recent minutes, all processes, commit-weighted."""
    w = WriteStat.__table__.c
    row = session.execute(
        select(
            func.sum(w.p50_ms * w.commits) / func.nullif(func.sum(w.commits), 0),
            func.max(w.p95_ms),
        ).where(w.minute >= now - timedelta(minutes=minutes))
    ).one()
    return (float(row[0]) if row[0] is not None else None, float(row[1]) if row[1] is not None else None)
