"""Data layer: Celery workers as worker rows, from their worker-online / worker-heartbeat / worker-offline
events (read by the Celery source). A worker's row id is its Celery hostname (`celery@host`), which is also
the worker_id of the tasks it runs; going online or offline appends a worker event like TaskLens's own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from db.domain.states import EventType, WorkerStatus
from db.write.writes import E, W, note_events


def is_celery_worker(worker_id: str) -> bool:
    """Celery names its workers `name@host`; TaskLens's own are `name-pid-xxxx`."""
    return "@" in worker_id


@dataclass(frozen=True)
class CeleryWorkerEvent:
    kind: str  # online | heartbeat | offline
    hostname: str
    at: datetime  # Celery's timestamp (naive UTC)
    pid: int = 0
    active: int = 0  # tasks it is running (Celery's `active`: its accepted requests)
    processed: int = 0
    concurrency: int = (
        0  # pool size when known (0: keep what the row says; events carry none: set_pool_sizes)
    )


def apply_worker_events(session: Session, events: Sequence[CeleryWorkerEvent], *, now: datetime) -> int:
    """Brings each named worker's row to its latest event; returns the worker events appended. last_seen_at is
    the time heard here (not the worker's clock): the silent-worker sweep compares it with this server's now."""
    latest: dict[str, CeleryWorkerEvent] = {}
    for ev in sorted(events, key=lambda e: e.at):
        latest[ev.hostname[:200]] = ev
    if not latest:
        return 0
    rows = {r.id: r for r in session.execute(select(W.c.id, W.c.status).where(W.c.id.in_(list(latest))))}
    appended = 0
    for worker_id, ev in latest.items():
        row = rows.get(worker_id)
        online = ev.kind != "offline"
        status = (WorkerStatus.BUSY if ev.active else WorkerStatus.ONLINE) if online else WorkerStatus.OFFLINE
        values: dict[str, object] = {
            "status": status.value,
            "last_seen_at": now,
            "running_count": ev.active if online else 0,
            "stopped_at": None if online else now,
        }
        if ev.pid:
            values["pid"] = ev.pid
        if ev.concurrency:
            values["concurrency"] = ev.concurrency
        if row is None:
            if not online:
                continue  # never seen online: nothing to show
            session.execute(
                insert(W).values(
                    id=worker_id,
                    name=worker_id,
                    host=worker_id.rpartition("@")[2] or worker_id,
                    concurrency=ev.concurrency or 1,
                    started_at=ev.at,
                    tasks_completed=0,
                    tasks_failed=0,
                    current_task_id=None,
                    **{k: v for k, v in values.items() if k != "concurrency"},
                    **({} if ev.pid else {"pid": 0}),
                )
            )
        else:
            if online and row.status == WorkerStatus.OFFLINE.value:
                values["started_at"] = ev.at
            session.execute(update(W).where(W.c.id == worker_id).values(**values))
        was_online = row is not None and row.status != WorkerStatus.OFFLINE.value
        if online != was_online:
            kind = EventType.WORKER_ONLINE if online else EventType.WORKER_OFFLINE
            payload = {"worker_id": worker_id, "source": "celery"}
            session.execute(
                insert(E).values(task_id=None, type=kind.value, actor="celery", payload=payload, at=now)
            )
            appended += 1
    if appended:
        note_events(session, appended)
    return appended


def set_pool_sizes(session: Session, sizes: dict[str, int]) -> None:
    """Each named Celery worker's concurrency: its pool's size as the worker itself answered (`inspect stats`;
    its events carry none, so a row would otherwise keep the 1 it was made with)."""
    for worker_id, size in sizes.items():
        if size > 0:
            session.execute(update(W).where(W.c.id == worker_id[:200]).values(concurrency=size))


def pool_size(stats: object) -> int:
    """A worker's pool size from its `inspect stats` answer: the prefork pool's processes now (a pool grown or
    shrunk since it started counts), else the pool's max-concurrency (threads, gevent, solo); 0 when unknown."""
    pool = stats.get("pool") if isinstance(stats, dict) else None
    if not isinstance(pool, dict):
        return 0
    processes = pool.get("processes")
    if isinstance(processes, list) and processes:
        return len(processes)
    size = pool.get("max-concurrency")
    return size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else 0


# Celery workers heart-beat every 2 s; one silent this long died without its worker-offline (killed, host gone).
SILENT_AFTER = timedelta(seconds=30)


def mark_silent(session: Session, hostnames: Sequence[str], *, now: datetime) -> list[str]:
    """The named Celery workers not heard from for SILENT_AFTER are shown offline: the consumer does this itself,
    so `python app.py celery` beside a web process (no TaskLens worker running its silent-worker sweep) keeps
    the fleet true. Returns the ids marked."""
    if not hostnames:
        return []
    stale = list(
        session.execute(
            update(W)
            .where(
                W.c.id.in_([h[:200] for h in hostnames]),
                W.c.status != WorkerStatus.OFFLINE.value,
                W.c.last_seen_at < now - SILENT_AFTER,
            )
            .values(status=WorkerStatus.OFFLINE.value, stopped_at=now, running_count=0, current_task_id=None)
            .returning(W.c.id)
        ).scalars()
    )
    for worker_id in stale:
        payload = {"worker_id": worker_id, "source": "celery", "reason": "heartbeat lost"}
        session.execute(
            insert(E).values(
                task_id=None, type=EventType.WORKER_OFFLINE.value, actor="celery", payload=payload, at=now
            )
        )
    if stale:
        note_events(session, len(stale))
    return stale
