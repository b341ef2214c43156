"""Tests: builds tasks with chosen timestamps through the real write functions (apply_ops with `now`), so
queries can be checked against hand-computed answers."""

from __future__ import annotations

from datetime import datetime, timedelta

from db.core.engine import Database
from db.domain.ops import InvocationFinished, InvocationStarted, TaskSpec, Transition, Usage
from db.domain.states import TaskKind, TaskStatus
from db.write.recorder import Recorder
from db.write.writes import apply_ops, insert_tasks


def make_task(
    db: Database,
    *,
    created: datetime,
    status: TaskStatus = TaskStatus.COMPLETED,
    started_after: float = 10.0,
    ran_for: float = 60.0,
    title: str = "task",
    kind: TaskKind = TaskKind.DEMO,
    tags: tuple[str, ...] = (),
    worker: str = "w1",
    calls: tuple[tuple[str, str, float], ...] = (),
) -> int:
    """A task created at `created`, started `started_after` s later, ending `ran_for` s after that in `status`
    (queued/running tasks stop where they are). `calls` are (role, model, cost) invocations."""
    with db.writing() as session:
        payload = {"command": "true"} if kind is TaskKind.COMMAND else {}
        spec = TaskSpec(title=title, kind=kind, tags=tags, payload=payload)
        [task_id] = insert_tasks(session, [spec], actor="test", now=created)
        if status is TaskStatus.QUEUED:
            return task_id
        start = created + timedelta(seconds=started_after)
        apply_ops(
            session,
            task_id,
            [Transition(TaskStatus.RUNNING, worker_id=worker, lease_until=start + timedelta(hours=1))],
            actor="t",
            now=start,
        )
        for n, (role, model, cost) in enumerate(calls):
            inv = f"{task_id}-{n}"
            at = start + timedelta(seconds=1 + n)
            apply_ops(
                session,
                task_id,
                [
                    InvocationStarted(inv, role=role, provider="p", model=model),
                    Usage(model, 100, 10, 0, cost, inv),
                    InvocationFinished(inv),
                ],
                actor="t",
                now=at,
            )
        if status is TaskStatus.RUNNING:
            return task_id
        end = start + timedelta(seconds=ran_for)
        error = None if status is TaskStatus.COMPLETED else "boom"
        apply_ops(
            session,
            task_id,
            [Transition(status, error=error, reason="error" if error else None)],
            actor="t",
            now=end,
        )
    return task_id


def external_task(recorder: Recorder, title: str, *, running: bool = True) -> int:
    """An `external` task (no worker ever claims it), put in `running` as its owner would over the API; only the
    test writes its events."""
    task_id = recorder.submit(TaskSpec(title=title, kind=TaskKind.EXTERNAL), actor="test")
    if running:
        recorder.record(task_id, Transition(TaskStatus.RUNNING), actor="test")
    return task_id
