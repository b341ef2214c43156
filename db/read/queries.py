"""Data layer: read queries used by the CLI, the worker and the tests (the dashboard's live in their own modules)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.core.models import Activity, Invocation, Task, TaskEvent


def status_counts(session: Session) -> dict[str, int]:
    rows = session.execute(select(Task.status, func.count()).group_by(Task.status))
    return {status: count for status, count in rows}


def get_task(session: Session, task_id: int) -> Task | None:
    return session.get(Task, task_id)


def task_events(session: Session, task_id: int) -> list[TaskEvent]:
    return list(
        session.scalars(select(TaskEvent).where(TaskEvent.task_id == task_id).order_by(TaskEvent.seq))
    )


def task_activity(session: Session, task_id: int, limit: int = 1000) -> list[Activity]:
    return list(
        session.scalars(
            select(Activity).where(Activity.task_id == task_id).order_by(Activity.id).limit(limit)
        )
    )


def task_invocations(session: Session, task_id: int) -> list[Invocation]:
    return list(
        session.scalars(
            select(Invocation).where(Invocation.task_id == task_id).order_by(Invocation.started_at)
        )
    )


def latest_seq(session: Session) -> int:
    return int(session.execute(select(func.coalesce(func.max(TaskEvent.seq), 0))).scalar_one())


def task_summary(task: Task) -> dict[str, Any]:
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


def task_titles(session: Session, task_ids: list[int]) -> dict[int, str]:
    if not task_ids:
        return {}
    rows = session.execute(select(Task.id, Task.title).where(Task.id.in_(task_ids)))
    return {task_id: title for task_id, title in rows}
