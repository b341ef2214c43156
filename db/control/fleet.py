"""Data layer: fleet control — drain, resume or stop workers (their row's `control`, which the claim itself
honours and each worker's heartbeat reads) and forget offline ones. A worker is named by its id or by its
name (every worker process of that name). Each change writes a `worker.control` event, so live pages redraw."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, delete, insert, select, update
from sqlalchemy.orm import Session

from db.core.timeutil import utcnow
from db.domain.states import EventType, WorkerStatus
from db.write.celery_workers import is_celery_worker
from db.write.writes import E, W, note_events

CONTROLS = {"drain": "drain", "stop": "stop", "resume": None}


class WorkerNotFound(LookupError):
    def __init__(self, ref: str, what: str = "worker") -> None:
        super().__init__(f"no {what} {ref!r}")
        self.ref = ref


class WorkerStillOnline(RuntimeError):
    def __init__(self, ids: list[str]) -> None:
        super().__init__(f"only offline workers can be forgotten; still online: {', '.join(ids)}")
        self.ids = ids


class CeleryWorkers(ValueError):
    """Drain, resume and stop reach TaskLens's own workers only (their claim and heartbeat read the row); a
    Celery worker has its own controls (pool, consumers, shutdown: dashboard/celerycontrol.py)."""

    def __init__(self, ids: list[str]) -> None:
        super().__init__(
            f"{', '.join(ids)} {'is a Celery worker' if len(ids) == 1 else 'are Celery workers'}: drain, resume "
            "and stop reach TaskLens's own workers only; use the Celery controls (its worker page, or "
            "/api/v1/celery/workers/<hostname>/…: pool, consumers, shutdown)"
        )
        self.ids = ids


def _matching(session: Session, ref: str, *, online: bool | None) -> list[dict[str, Any]]:
    where: list[ColumnElement[bool]] = [(W.c.id == ref) | (W.c.name == ref)]
    if online is True:
        where.append(W.c.status != WorkerStatus.OFFLINE.value)
    rows = [dict(r) for r in session.execute(select(W).where(*where).order_by(W.c.id)).mappings()]
    exact = [r for r in rows if r["id"] == ref]
    return exact or rows


def control(session: Session, ref: str, action: str) -> list[str]:
    """Drain, stop or resume the running workers `ref` names; their ids. A drained worker claims nothing
    from this commit on (the claim checks the row), finishes what it runs and stays; "stop" then exits."""
    value = CONTROLS[action]
    rows = _matching(session, ref, online=True)
    if not rows:
        raise WorkerNotFound(ref, "running worker")
    celery = [r["id"] for r in rows if is_celery_worker(r["id"])]
    if celery:
        raise CeleryWorkers(celery)  # nothing changed: a row's control would be read by no one
    ids = [r["id"] for r in rows]
    session.execute(update(W).where(W.c.id.in_(ids)).values(control=value))
    _events(session, ids, action)
    return ids


def _events(session: Session, ids: list[str], change: str) -> None:
    """One `worker.control` event per worker acted on, in the change's transaction (heartbeats write none,
    so without it an open page would learn of a drain only from its slow tick)."""
    now = utcnow()
    session.execute(
        insert(E),
        [
            {
                "task_id": None,
                "type": EventType.WORKER_CONTROL.value,
                "actor": "fleet",
                "payload": {"worker_id": worker_id, "change": change},
                "at": now,
            }
            for worker_id in ids
        ],
    )
    note_events(session, len(ids))


def forget(session: Session, ref: str) -> list[str]:
    """Removes offline workers' rows (their tasks keep the worker id); refuses a worker still online."""
    rows = _matching(session, ref, online=None)
    if not rows:
        raise WorkerNotFound(ref)
    online = [r["id"] for r in rows if r["status"] != WorkerStatus.OFFLINE.value]
    if online:
        raise WorkerStillOnline(online)
    ids = [r["id"] for r in rows]
    session.execute(delete(W).where(W.c.id.in_(ids)))
    _events(session, ids, "forget")
    return ids


def list_workers(session: Session) -> list[dict[str, Any]]:
    return [dict(r) for r in session.execute(select(W).order_by(W.c.status, W.c.name, W.c.id)).mappings()]
