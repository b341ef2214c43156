"""Data layer: worker rows — registration, heartbeat, going offline, and marking silent workers offline."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from db.core.timeutil import utcnow
from db.domain.states import EventType, WorkerStatus
from db.write.writes import E, W, note_events


@dataclass(frozen=True)
class WorkerIdentity:
    id: str
    name: str
    host: str
    pid: int
    concurrency: int
    claim_kinds: tuple[str, ...] | None = None  # None: every kind it can run
    claim_tags: tuple[str, ...] | None = None  # None: any task; else only tasks carrying one of these


def register_worker(session: Session, me: WorkerIdentity) -> None:
    now = utcnow()
    exists = session.execute(select(W.c.id).where(W.c.id == me.id)).first()
    values = {
        "name": me.name,
        "host": me.host,
        "pid": me.pid,
        "status": WorkerStatus.ONLINE.value,
        "concurrency": me.concurrency,
        "running_count": 0,
        "current_task_id": None,
        "started_at": now,
        "last_seen_at": now,
        "stopped_at": None,
        "control": None,
        "claim_kinds": None if me.claim_kinds is None else list(me.claim_kinds),
        "claim_tags": None if me.claim_tags is None else list(me.claim_tags),
    }
    if exists:
        session.execute(update(W).where(W.c.id == me.id).values(**values))
    else:
        session.execute(insert(W).values(id=me.id, tasks_completed=0, tasks_failed=0, **values))
    _worker_event(session, me.id, EventType.WORKER_ONLINE, now)


def heartbeat(session: Session, worker_id: str, running: list[int]) -> str | None:
    """Marks the worker seen; returns its `control` ("drain", "stop" or None), which fleet control set."""
    status = WorkerStatus.BUSY if running else WorkerStatus.ONLINE
    return session.execute(
        update(W)
        .where(W.c.id == worker_id)
        .values(
            last_seen_at=utcnow(),
            status=status.value,
            running_count=len(running),
            current_task_id=running[0] if running else None,
            stopped_at=None,
        )
        .returning(W.c.control)
    ).scalar()


def mark_offline(session: Session, worker_id: str) -> None:
    now = utcnow()
    session.execute(
        update(W)
        .where(W.c.id == worker_id)
        .values(status=WorkerStatus.OFFLINE.value, stopped_at=now, running_count=0, current_task_id=None)
    )
    _worker_event(session, worker_id, EventType.WORKER_OFFLINE, now)


def mark_silent_offline(session: Session, silent_for: timedelta) -> list[str]:
    """Workers that stopped heart-beating (killed, host gone) are shown offline."""
    now = utcnow()
    stale = list(
        session.execute(
            update(W)
            .where(W.c.status != WorkerStatus.OFFLINE.value, W.c.last_seen_at < now - silent_for)
            .values(status=WorkerStatus.OFFLINE.value, stopped_at=now, running_count=0, current_task_id=None)
            .returning(W.c.id)
        ).scalars()
    )
    for worker_id in stale:
        _worker_event(session, worker_id, EventType.WORKER_OFFLINE, now, reason="heartbeat lost")
    return stale


def _worker_event(
    session: Session, worker_id: str, type_: EventType, at: datetime, reason: str | None = None
) -> None:
    payload = {"worker_id": worker_id}
    if reason:
        payload["reason"] = reason
    session.execute(
        insert(E).values(task_id=None, type=type_.value, actor=f"worker:{worker_id}", payload=payload, at=at)
    )
    note_events(session, 1)
