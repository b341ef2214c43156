"""Data layer: applies Celery task events (as the Celery source read them from the broker) in the caller's
transaction through the one write path. A Celery task is a task of kind `celery` whose external_id is Celery's
uuid. Idempotent (an event already recorded is in the `ingested_events` ledger and changes nothing) and
order-tolerant: events are applied by Celery's timestamps, a late event of an earlier state is ignored the way
Celery's own State ignores it, and an end whose start was never seen still records the start (end - runtime)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from db.core.models import IngestedEvent, Task
from db.domain.ops import MAX_TAG_LEN, ActivityLine, ClientTime, Describe, Op, TaskSpec, Transition
from db.domain.states import TERMINAL, ActivityType, TaskKind, TaskStatus
from db.write.writes import Deferred, JsonInsert, apply_ops_many, insert_tasks

T = cast(Table, Task.__table__)
LEDGER = cast(Table, IngestedEvent.__table__)
_LEDGER = JsonInsert(LEDGER, [("task_id", "int"), ("event_id", "text")])

# Applied in this order when two events of a task carry the same timestamp (a clock's resolution).
RANK = {
    "sent": 0,
    "received": 1,
    "started": 2,
    "retried": 3,
    "rejected": 4,
    "revoked": 5,
    "succeeded": 6,
    "failed": 6,
}
# Celery's hard and soft time limits end a task with these exceptions: TaskLens's timed_out.
TIME_LIMITS = ("TimeLimitExceeded", "SoftTimeLimitExceeded")


@dataclass(frozen=True)
class CeleryTaskEvent:
    """One Celery task event: `kind` is its type without "task-" (sent, received, started, succeeded, failed,
    retried, revoked, rejected); `at` is Celery's timestamp as naive UTC (already checked against the skew
    window); `event_id` is what makes it unique within its task (type and raw timestamp)."""

    kind: str
    uuid: str
    at: datetime
    event_id: str
    hostname: str = ""
    name: str | None = None
    args: str | None = None  # Celery's repr of the arguments, truncated and redacted by the source
    kwargs: str | None = None
    retries: int | None = None
    queue: str | None = None
    routing_key: str | None = None
    exchange: str | None = None
    eta: str | None = None
    expires: str | None = None
    root_id: str | None = None
    parent_id: str | None = None
    runtime: float | None = None
    result: str | None = None
    exception: str | None = None
    traceback: str | None = None
    terminated: bool = False
    expired: bool = False
    signum: Any = None
    requeue: bool = False


@dataclass(frozen=True)
class CeleryOutcome:
    recorded: int  # events recorded now
    duplicates: int  # events an earlier batch recorded (or repeated in this one), skipped
    ignored: int  # events that named a task of another kind (its external_id taken)
    task_ids: tuple[int, ...] = ()


@dataclass
class _State:
    """A task as the batch has moved it so far."""

    task_id: int
    status: TaskStatus
    attempt: int
    placeholder: bool
    requeued_at: (
        datetime | None
    )  # Celery's time of the latest re-queue: older starts belong to an earlier try
    ops: list[Op] = field(default_factory=list)


def tags_of(name: str | None, queue: str | None, routing_key: str | None) -> tuple[str, ...]:
    """The filterable fields as tags (the grid filters by tag): the Celery task name, queue and routing key."""
    tags = ["celery"]
    for prefix, value in (("task:", name), ("queue:", queue), ("routing_key:", routing_key)):
        if value:
            tags.append((prefix + value)[:MAX_TAG_LEN])
    return tuple(tags)


def spec_of(uuid: str, events: Sequence[CeleryTaskEvent]) -> TaskSpec:
    """What the batch's events tell about a task: sent and received carry its name and arguments; without a
    name (the consumer started after the task was received) it is a stand-in titled by its uuid."""
    info: dict[str, Any] = {}
    for ev in events:
        for key in ("name", "args", "kwargs", "queue", "routing_key", "exchange", "eta", "expires"):
            value = getattr(ev, key)
            if value is not None and key not in info:
                info[key] = value
        for key in ("root_id", "parent_id"):
            value = getattr(ev, key)
            if value and value != uuid and key not in info:
                info[key] = value
        if ev.kind == "sent" and ev.hostname:
            info.setdefault("sent_by", ev.hostname)
    name = info.get("name")
    return TaskSpec(
        title=name or uuid,
        kind=TaskKind.CELERY,
        payload={"celery": {"id": uuid, **info}},
        # A stand-in has no tags yet: its description (Describe) inserts them all.
        tags=tags_of(name, info.get("queue"), info.get("routing_key")) if name else (),
        created_by=str(info.get("sent_by") or "celery")[:200],
        max_attempts=100,
        external_id=uuid,
        placeholder=name is None,
    )


def apply_celery(
    session: Session, events: Sequence[CeleryTaskEvent], *, actor: str, now: datetime
) -> CeleryOutcome:
    by_uuid: dict[str, list[CeleryTaskEvent]] = defaultdict(list)
    for ev in sorted(events, key=lambda e: (e.at, RANK.get(e.kind, 9))):
        by_uuid[ev.uuid].append(ev)
    if not by_uuid:
        return CeleryOutcome(0, 0, 0)
    rows = {
        r.external_id: r
        for r in session.execute(
            select(
                T.c.id, T.c.external_id, T.c.kind, T.c.status, T.c.attempt, T.c.placeholder, T.c.available_at
            )
            .where(T.c.external_id.in_(list(by_uuid)))
            .with_for_update(key_share=True)
        )
    }
    ignored = 0
    for uuid in list(by_uuid):
        row = rows.get(uuid)
        if row is not None and row.kind != TaskKind.CELERY.value:
            ignored += len(by_uuid.pop(uuid))
    states: dict[str, _State] = {}
    for uuid, row in rows.items():
        if uuid in by_uuid:
            requeued = row.available_at if row.attempt > 1 else None
            states[uuid] = _State(
                row.id, TaskStatus(row.status), row.attempt, bool(row.placeholder), requeued
            )
    seen = _recorded_already(session, [s.task_id for s in states.values()], by_uuid)
    new = [u for u in by_uuid if u not in rows]
    if new:
        specs = [spec_of(u, by_uuid[u]) for u in new]
        ids = insert_tasks(session, specs, actor=actor, now=now, created=[by_uuid[u][0].at for u in new])
        for uuid, spec, task_id in zip(new, specs, ids, strict=True):
            states[uuid] = _State(task_id, TaskStatus.QUEUED, 1, spec.placeholder, None)
    recorded = duplicates = 0
    ledger: list[tuple[int, str]] = []
    pending = Deferred()
    changes: list[tuple[int, list[Op]]] = []
    for uuid, group in by_uuid.items():
        state = states[uuid]
        for ev in group:
            key = (state.task_id, ev.event_id)
            if key in seen:
                duplicates += 1
                continue
            seen.add(key)
            ledger.append(key)
            recorded += 1
            _step(state, ev, group)
        if state.ops:
            changes.append((state.task_id, state.ops))
    # Every task's ops through the write path at once (one row lock read, one UPDATE per column set).
    apply_ops_many(session, changes, actor=actor, now=now, deferred=pending)
    pending.flush(session, now)
    if ledger:
        _LEDGER.run_values(session, ledger, now)
    return CeleryOutcome(recorded, duplicates, ignored, tuple(s.task_id for s in states.values()))


def _recorded_already(
    session: Session, task_ids: list[int], by_uuid: dict[str, list[CeleryTaskEvent]]
) -> set[tuple[int, str]]:
    if not task_ids:
        return set()
    event_ids = {ev.event_id for group in by_uuid.values() for ev in group}
    rows = session.execute(
        select(LEDGER.c.task_id, LEDGER.c.event_id).where(
            LEDGER.c.task_id.in_(task_ids), LEDGER.c.event_id.in_(event_ids)
        )
    )
    return {(int(t), str(e)) for t, e in rows}


def _step(state: _State, ev: CeleryTaskEvent, group: Sequence[CeleryTaskEvent]) -> None:
    """The ops one event means for the task as it stands; nothing when the task is already past it."""
    ops = state.ops
    status = state.status
    if ev.kind in ("sent", "received"):
        if state.placeholder and ev.name:
            spec = spec_of(ev.uuid, [e for e in group if e.kind in ("sent", "received")])
            ops.append(Describe(spec.title, created_at=ev.at, spec=spec))
            state.placeholder = False
        attempt = (ev.retries or 0) + 1
        if attempt > state.attempt and status is not TaskStatus.QUEUED:
            # A retry's new delivery seen before (or instead of) the old try's task-retried.
            _requeue(state, ev, "retry", None)
        return
    if ev.kind == "started":
        if status is TaskStatus.QUEUED and not _stale(state, ev):
            ops += [ClientTime(ev.at), Transition(TaskStatus.RUNNING, worker_id=ev.hostname or None)]
            state.status = TaskStatus.RUNNING
        return
    if ev.kind in ("succeeded", "failed"):
        if status in TERMINAL or _stale(state, ev):
            return
        if status is TaskStatus.QUEUED:
            # Its start was never seen (missed, or still on its way): it began `runtime` before it ended.
            began = ev.at - timedelta(seconds=max(ev.runtime or 0.0, 0.0))
            ops += [ClientTime(began), Transition(TaskStatus.RUNNING, worker_id=ev.hostname or None)]
        if ev.kind == "succeeded":
            ops += [ClientTime(ev.at), Transition(TaskStatus.COMPLETED, result=ev.result, has_result=True)]
            state.status = TaskStatus.COMPLETED
            return
        error = failure_of(ev)
        timed_out = any(limit in error for limit in TIME_LIMITS)
        to = TaskStatus.TIMED_OUT if timed_out else TaskStatus.FAILED
        ops.append(ClientTime(ev.at))
        if ev.traceback:
            ops.append(ActivityLine(ev.traceback, ActivityType.ERROR))
        ops.append(Transition(to, reason="timeout" if timed_out else "error", error=error))
        state.status = to
        return
    if ev.kind == "retried":
        if status is TaskStatus.RUNNING:
            _requeue(state, ev, "retry", ev.exception)
        elif status is TaskStatus.QUEUED and ev.traceback:
            ops += [ClientTime(ev.at), ActivityLine(ev.traceback, ActivityType.ERROR)]
        return
    if ev.kind == "revoked":
        if status not in TERMINAL:
            reason = "expired" if ev.expired else "terminated" if ev.terminated else "revoked"
            error = f"revoked ({reason}{f', signal {ev.signum}' if ev.signum else ''})"
            ops += [ClientTime(ev.at), Transition(TaskStatus.CANCELLED, reason=reason, error=error)]
            state.status = TaskStatus.CANCELLED
        return
    if ev.kind == "rejected" and status not in TERMINAL:
        if ev.requeue:  # back in the queue: it will be received again
            ops += [
                ClientTime(ev.at),
                ActivityLine(f"rejected by {ev.hostname}, requeued", ActivityType.ERROR),
            ]
        else:
            error = f"rejected by {ev.hostname or 'the worker'}"
            ops += [ClientTime(ev.at), Transition(TaskStatus.CANCELLED, reason="rejected", error=error)]
            state.status = TaskStatus.CANCELLED


def failure_of(ev: CeleryTaskEvent) -> str:
    """The error to show: Celery's repr of the exception, unless the pool wrapped it (a hard time limit comes
    as `ExceptionWithTraceback()`): then the traceback's last line, which names the real exception."""
    exception = (ev.exception or "").strip()
    if exception and not exception.startswith("ExceptionWithTraceback"):
        return exception
    lines = [line for line in (ev.traceback or "").splitlines() if line.strip()]
    return lines[-1].strip() if lines else exception or "failed"


def _requeue(state: _State, ev: CeleryTaskEvent, reason: str, error: str | None) -> None:
    state.ops.append(ClientTime(ev.at))
    if ev.traceback:
        state.ops.append(ActivityLine(ev.traceback, ActivityType.ERROR))
    # available_at keeps Celery's time of the re-queue: a start older than it belongs to the earlier try.
    state.ops.append(
        Transition(TaskStatus.QUEUED, reason=reason, error=error, next_attempt=True, available_at=ev.at)
    )
    state.status = TaskStatus.QUEUED
    state.attempt += 1
    state.requeued_at = ev.at


def _stale(state: _State, ev: CeleryTaskEvent) -> bool:
    return state.requeued_at is not None and ev.at < state.requeued_at
