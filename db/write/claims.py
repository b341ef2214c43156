"""Data layer: claiming queued tasks safely across worker processes, lease renewal and the expired-lease sweep."""

from __future__ import annotations

import functools
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, String, and_, bindparam, exists, select, update
from sqlalchemy.orm import Session

from db.alerts import pauses as alert_pauses
from db.control import limits
from db.core.timecol import UtcDateTime
from db.core.timeutil import utcnow
from db.domain.ops import Transition
from db.domain.states import EventType, FailureReason, TaskKind, TaskStatus
from db.write.writes import TAGS, Deferred, E, T, W, apply_ops, note_events


@dataclass(frozen=True)
class ClaimedTask:
    id: int
    title: str
    kind: TaskKind
    payload: dict[str, Any]
    attempt: int
    max_attempts: int
    max_iterations: int | None
    timeout_seconds: float | None
    tags: tuple[str, ...] = ()


def _claimable(kinds: Collection[TaskKind], now: datetime) -> Any:
    return and_(
        T.c.status == TaskStatus.QUEUED.value,
        T.c.kind.in_([k.value for k in kinds]),
        T.c.available_at <= now,
    )


def has_claimable(session: Session, kinds: Collection[TaskKind]) -> bool:
    """A cheap read before taking the write lock, so an idle worker woken by unrelated events stays cheap."""
    now = utcnow()
    return session.execute(select(T.c.id).where(_claimable(kinds, now)).limit(1)).first() is not None


def claim_next(
    session: Session, worker_id: str, kinds: Collection[TaskKind], lease_seconds: float
) -> ClaimedTask | None:
    """Move the best queued task to running for this worker (claim_batch of one)."""
    claimed = claim_batch(session, worker_id, kinds, lease_seconds, 1)
    return claimed[0] if claimed else None


def claim_batch(
    session: Session,
    worker_id: str,
    kinds: Collection[TaskKind],
    lease_seconds: float,
    limit: int,
    *,
    now: datetime | None = None,
    deferred: Deferred | None = None,
    only_tags: Collection[str] = (),
    skip_kinds: Collection[str] = (),
    skip_tags: Collection[str] = (),
) -> list[ClaimedTask]:
    """Move up to `limit` of the best queued tasks to running for this worker in one UPDATE, each with its
    transition event, best first. PostgreSQL: FOR UPDATE SKIP LOCKED lets N workers claim in parallel; SQLite:
    the caller's BEGIN IMMEDIATE serialises claims. The pick reads ix_tasks_claim in order (priority DESC, id),
    so its cost does not grow with the queue. With `deferred`, the events are left to the caller's flush."""
    if limit <= 0:
        return []
    now = now or utcnow()
    kind_values = frozenset(k.value for k in kinds) - frozenset(skip_kinds)
    if not kind_values:
        return []
    statement = _claim_statement(kind_values, frozenset(only_tags), frozenset(skip_tags))
    claimed = session.execute(
        statement,
        {
            "now": now,
            "n": limit,
            "worker_id": worker_id,
            "lease_until": now + timedelta(seconds=lease_seconds),
        },
    ).all()
    if not claimed:
        return []
    rows = sorted(claimed, key=lambda r: (-r.priority, r.id))
    events = Deferred() if deferred is None else deferred
    actor = f"worker:{worker_id}"
    events.events += [
        {
            "task_id": r.id,
            "type": EventType.TRANSITION.value,
            "from_status": TaskStatus.QUEUED.value,
            "to_status": TaskStatus.RUNNING.value,
            "actor": actor,
            "correlation_id": None,
            "payload": {"attempt": r.attempt, "worker_id": worker_id},
            "at": now,
        }
        for r in rows
    ]
    if deferred is None:
        events.flush(session, now)
    note_events(session, len(rows))
    return [
        ClaimedTask(
            id=r.id,
            title=r.title,
            kind=TaskKind(r.kind),
            payload=r.payload or {},
            attempt=r.attempt,
            max_attempts=r.max_attempts,
            max_iterations=r.max_iterations,
            timeout_seconds=r.timeout_seconds,
            tags=tuple(r.tags or ()),
        )
        for r in rows
    ]


def claim_within_limits(
    session: Session,
    worker_id: str,
    kinds: Collection[TaskKind],
    lease_seconds: float,
    limit: int,
    *,
    now: datetime,
    deferred: Deferred,
    only_tags: Collection[str] = (),
) -> list[ClaimedTask]:
    """claim_batch under the fleet's concurrency limits (db/control/limits.py) and alert pauses: without limits one
    batch; with them one task at a time, each claim leaving out the kinds and tags whose limit the running
    tasks (and the claims before it) have reached."""
    if limit <= 0:
        return []
    # Kinds and tags an unacknowledged alert's action holds back (db/alerts/pauses.py) wait in the queue.
    paused = alert_pauses.current(session)
    room = limits.budget(session)
    if room is None:
        return claim_batch(
            session,
            worker_id,
            kinds,
            lease_seconds,
            limit,
            now=now,
            deferred=deferred,
            only_tags=only_tags,
            skip_kinds=paused.kinds,
            skip_tags=paused.tags,
        )
    claimed: list[ClaimedTask] = []
    while len(claimed) < limit:
        full_kinds, full_tags = room.full()
        got = claim_batch(
            session,
            worker_id,
            kinds,
            lease_seconds,
            1,
            now=now,
            deferred=deferred,
            only_tags=only_tags,
            skip_kinds=frozenset(full_kinds) | paused.kinds,
            skip_tags=frozenset(full_tags) | paused.tags,
        )
        if not got:
            break
        room.take(got[0].kind.value, got[0].tags)
        claimed += got
    return claimed


@functools.lru_cache(maxsize=128)
def _claim_statement(kinds: frozenset[str], only_tags: frozenset[str], skip_tags: frozenset[str]) -> Any:
    """Built once per set of filters: building and cache-keying it per claim cost a tenth of a worker's cycle.
    A worker being drained or stopped (its row's `control`) claims nothing from the commit that said so on."""
    now = bindparam("now", type_=UtcDateTime())
    me = bindparam("worker_id", type_=String())
    conditions = [
        T.c.status == TaskStatus.QUEUED.value,
        T.c.kind.in_(sorted(kinds)),
        T.c.available_at <= now,
        ~exists().where(W.c.id == me, W.c.control.is_not(None)),
    ]
    if only_tags:
        conditions.append(exists().where(TAGS.c.task_id == T.c.id, TAGS.c.tag.in_(sorted(only_tags))))
    if skip_tags:
        conditions.append(~exists().where(TAGS.c.task_id == T.c.id, TAGS.c.tag.in_(sorted(skip_tags))))
    pick = (
        select(T.c.id)
        .where(*conditions)
        .order_by(T.c.priority.desc(), T.c.id)
        .limit(bindparam("n", type_=Integer()))
        .with_for_update(skip_locked=True, key_share=True)
        # Materialised, so the pick runs once: as a plain IN (subquery) PostgreSQL may rescan it, and with SKIP
        # LOCKED each rescan picks other rows (a claim of one took two).
        .cte("pick")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    return (
        update(T)
        # No second `status = 'queued'` here: the picked rows are locked (PostgreSQL re-checks them when it
        # locks; SQLite holds the write lock), and with it SQLite walked the status index over the whole queue.
        .where(T.c.id.in_(select(pick.c.id)))
        .values(
            status=TaskStatus.RUNNING.value,
            worker_id=me,
            lease_expires_at=bindparam("lease_until", type_=UtcDateTime()),
            started_at=now,
            completed_at=None,
            error_message=None,
            failure_reason=None,
            cancel_requested=False,
            run_host=None,  # the previous attempt's process is not this one's
            run_pgid=None,
            last_updated_at=now,
            last_activity_at=now,
            update_count=T.c.update_count + 1,
        )
        .returning(*_CLAIMED)
    )


_CLAIMED = (
    T.c.id,
    T.c.priority,
    T.c.tags,
    T.c.title,
    T.c.kind,
    T.c.payload,
    T.c.attempt,
    T.c.max_attempts,
    T.c.max_iterations,
    T.c.timeout_seconds,
)


def renew_leases(session: Session, worker_id: str, task_ids: Sequence[int], lease_seconds: float) -> set[int]:
    """Extend this worker's leases; returns the ids it still holds (a task swept away is no longer ours)."""
    if not task_ids:
        return set()
    until = utcnow() + timedelta(seconds=lease_seconds)
    held = session.execute(
        update(T)
        .where(T.c.id.in_(task_ids), T.c.worker_id == worker_id, T.c.status == TaskStatus.RUNNING.value)
        .values(lease_expires_at=until)
        .returning(T.c.id)
    ).scalars()
    return set(held)


def cancel_requested(session: Session, worker_id: str) -> set[int]:
    rows = session.execute(
        select(T.c.id).where(
            T.c.worker_id == worker_id,
            T.c.status == TaskStatus.RUNNING.value,
            T.c.cancel_requested.is_(True),
        )
    ).scalars()
    return set(rows)


def note_process(session: Session, task_id: int, worker_id: str, host: str, pgid: int) -> bool:
    """Record where this worker runs the task's command (its host and process group); False when the task is no
    longer this worker's running one."""
    done = session.execute(
        update(T)
        .where(T.c.id == task_id, T.c.worker_id == worker_id, T.c.status == TaskStatus.RUNNING.value)
        .values(run_host=host, run_pgid=pgid)
        .returning(T.c.id)
    ).first()
    return done is not None


def earlier_runs(session: Session, task_id: int, attempt: int) -> list[tuple[str, int]]:
    """(worker id, attempt) of each claim of the task before `attempt`, from its claim events."""
    payloads = session.execute(
        select(E.c.payload).where(
            E.c.task_id == task_id,
            E.c.type == EventType.TRANSITION.value,
            E.c.to_status == TaskStatus.RUNNING.value,
        )
    ).scalars()
    runs = {(p.get("worker_id"), p.get("attempt")) for p in payloads if isinstance(p, dict)}
    return sorted((w, a) for w, a in runs if isinstance(w, str) and isinstance(a, int) and a < attempt)


@dataclass(frozen=True)
class ExpiredRun:
    """A running task whose lease expired: which attempt, run by which worker, and where its command runs."""

    id: int
    attempt: int
    worker_id: str | None
    run_host: str | None
    run_pgid: int | None


def expired_leases(session: Session, now: datetime | None = None, limit: int = 500) -> list[ExpiredRun]:
    now = now or utcnow()
    rows = session.execute(
        select(T.c.id, T.c.attempt, T.c.worker_id, T.c.run_host, T.c.run_pgid)
        .where(T.c.status == TaskStatus.RUNNING.value, T.c.lease_expires_at < now)
        .order_by(T.c.id)
        .limit(limit)
    )
    return [ExpiredRun(r.id, r.attempt, r.worker_id, r.run_host, r.run_pgid) for r in rows]


def recover_task(session: Session, task_id: int, *, actor: str) -> TaskStatus | None:
    """Re-queue a task whose worker vanished while attempts remain, else fail it with worker_lost.
    Re-checks the lease under the row lock so two sweepers never both act on one task."""
    row = _running_row(session, task_id, T.c.attempt, T.c.max_attempts, T.c.lease_expires_at)
    now = utcnow()
    if row is None or row.lease_expires_at is None or row.lease_expires_at >= now:
        return None
    if row.attempt < row.max_attempts:
        op = Transition(
            TaskStatus.QUEUED,
            reason=FailureReason.WORKER_LOST.value,
            error="worker lost: lease expired",
            next_attempt=True,
        )
    else:
        op = Transition(
            TaskStatus.FAILED,
            reason=FailureReason.WORKER_LOST.value,
            error="worker lost: lease expired and no attempts left",
        )
    return apply_ops(session, task_id, [op], actor=actor, now=now)


def overdue_external(session: Session, now: datetime, limit: int = 500) -> list[int]:
    """Running external tasks past their timeout_seconds. No worker runs them (their agent reports from
    elsewhere), so nothing else would end one whose agent died; running tasks are few (the status index)."""
    rows = session.execute(
        select(T.c.id, T.c.started_at, T.c.timeout_seconds)
        .where(
            T.c.status == TaskStatus.RUNNING.value,
            T.c.kind == TaskKind.EXTERNAL.value,
            T.c.timeout_seconds.is_not(None),
        )
        .order_by(T.c.id)
    )
    return [r.id for r in rows if _overdue(r.started_at, r.timeout_seconds, now)][:limit]


def time_out_external(session: Session, task_id: int, *, actor: str) -> TaskStatus | None:
    """Ends an overdue external task as timed_out, re-checked under the row lock (an agent's own end, or
    another worker's sweep, may have come first)."""
    row = _running_row(session, task_id, T.c.started_at, T.c.timeout_seconds)
    now = utcnow()
    if row is None or not _overdue(row.started_at, row.timeout_seconds, now):
        return None
    op = Transition(
        TaskStatus.TIMED_OUT,
        reason=FailureReason.TIMEOUT.value,
        error=f"timed out: the agent reported no end within timeout_seconds ({row.timeout_seconds:g} s)",
    )
    return apply_ops(session, task_id, [op], actor=actor, now=now)


def _running_row(session: Session, task_id: int, *columns: Any) -> Any:
    """The task's `columns`, its row locked until commit, when it is still running (else None): a sweep
    re-checks what it found under the lock, since the task's own end or another sweep may have come first."""
    row = session.execute(
        select(T.c.status, *columns).where(T.c.id == task_id).with_for_update(key_share=True)
    ).one_or_none()
    return row if row is not None and row.status == TaskStatus.RUNNING.value else None


def _overdue(started_at: datetime | None, timeout: float | None, now: datetime) -> bool:
    return started_at is not None and timeout is not None and started_at + timedelta(seconds=timeout) < now


def release_owned(session: Session, worker_id: str) -> list[int]:
    """On a clean worker shutdown: lapse this worker's leases at once so the sweep recovers them now."""
    return list(
        session.execute(
            update(T)
            .where(T.c.worker_id == worker_id, T.c.status == TaskStatus.RUNNING.value)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
            .returning(T.c.id)
        ).scalars()
    )
