"""Data layer: applies a batch of events reported by external agents (POST /api/v1/events) in the caller's
transaction — all of it or nothing. Every item is checked against the database and the lifecycle before
anything is written; then new tasks are inserted in one statement, each task's ops go through the write path
(db/write/writes.apply_ops) in one call, and the client event ids are added to the ledger so a replay records
nothing twice."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, or_, select
from sqlalchemy.orm import Session

from db.core.models import IngestedEvent, Invocation, Task
from db.domain.ops import (
    ActivityLine,
    CallReported,
    CancelRequest,
    ClientTime,
    Describe,
    InvocationFinished,
    InvocationStarted,
    Op,
    TaskSpec,
    Transition,
    Usage,
)
from db.domain.pricing import DEFAULT_PRICES, Price, cost_of
from db.domain.states import ALLOWED_TRANSITIONS, TERMINAL, IllegalTransition, TaskKind, TaskStatus
from db.write.writes import Deferred, InvocationNotFound, JsonInsert, TaskNotFound, apply_ops, insert_tasks

T = cast(Table, Task.__table__)
LEDGER = cast(Table, IngestedEvent.__table__)
INV = cast(Table, Invocation.__table__)
# The stored invocation id is `t{task}a{attempt}-{client id}` (as for command tasks), so clients may number
# their calls 1, 2, 3 in every attempt; it must fit invocations.id (64 characters).
MAX_CLIENT_INVOCATION_ID = 36


class Rejection(StrEnum):
    """Why a batch was refused; the API layer turns each into an HTTP status."""

    NOT_FOUND = "not_found"  # a task or invocation the item names does not exist
    CONFLICT = "conflict"  # the item contradicts the task's state (an illegal transition, a second start)
    INVALID = "invalid"  # the item is malformed in a way only the batch as a whole shows


class BatchRejected(Exception):
    """The batch stores nothing: `index` is the offending item, `field` the field within it."""

    def __init__(self, reason: Rejection, index: int, field_name: str, code: str, message: str) -> None:
        super().__init__(f"event {index}: {message}")
        self.reason = reason
        self.index = index
        self.field = field_name
        self.code = code
        self.message = message


@dataclass(frozen=True)
class TaskRef:
    """An item's task: by TaskLens id, or by the client's own key (tasks.external_id)."""

    task_id: int | None = None
    external_id: str | None = None


class IngestItem(NamedTuple):
    """One client event: its position in the batch (for errors), its id (for idempotency), its task, a spec
    when it may create that task, and the ops it means (invocation ids still the client's). A tuple: a batch
    makes a thousand of these, and a frozen dataclass costs several times more to build."""

    position: int
    event_id: str
    ref: TaskRef
    spec: TaskSpec | None = None
    ops: tuple[Op, ...] = ()
    at: datetime | None = None  # when it happened by the producer's clock (naive UTC); None: when recorded


@dataclass(frozen=True)
class TaskOutcome:
    task_id: int
    external_id: str | None
    status: str
    attempt: int
    cancel_requested: bool
    created: bool


@dataclass(frozen=True)
class BatchOutcome:
    recorded: int  # client events recorded now
    duplicates: int  # client events recorded by an earlier batch, skipped
    events_written: int  # rows appended to task_events
    tasks: list[TaskOutcome]


@dataclass
class _Group:
    """What the batch does to one task, simulated before anything is written."""

    first_index: int
    task_id: int | None
    external_id: str | None
    status: TaskStatus
    attempt: int
    cancel_requested: bool
    spec: TaskSpec | None = None
    created_at: datetime | None = None  # a new task's creation time by the producer's clock
    placeholder: bool = False  # an existing task created by reference, waiting for its description
    ops: list[Op] = field(default_factory=list)
    items: list[IngestItem] = field(default_factory=list)
    started: set[str] = field(default_factory=set)  # stored ids started by this batch
    named: set[str] = field(default_factory=set)  # stored ids this batch named (an end, usage) before a start
    final_status: TaskStatus | None = None


def invocation_key(task_id: int | None, attempt: int, client_id: str) -> str:
    # A task created by this batch has no id yet: "new" stands in while checking (it never reaches the DB).
    return f"t{task_id if task_id is not None else 'new'}a{attempt}-{client_id}"


def apply_batch(
    session: Session,
    items: Sequence[IngestItem],
    *,
    actor: str,
    now: datetime,
    correlation_id: str | None = None,
    prices: dict[str, Price] = DEFAULT_PRICES,
) -> BatchOutcome:
    """Check every item, then write them all. Raises BatchRejected before writing anything when an item
    cannot be applied; the caller's transaction rolls back on any exception."""
    rows = _existing_tasks(session, items)
    groups = _group(items, rows)
    duplicates = _recorded_already(session, groups)
    checks = _simulate(groups, duplicates)
    models, fills = _check_invocations(session, checks)

    created = [g for g in groups.values() if g.task_id is None]
    if created:
        ids = insert_tasks(
            session,
            [cast(TaskSpec, g.spec) for g in created],
            actor=actor,
            now=now,
            correlation_id=correlation_id,
            created=[g.created_at for g in created],
        )
        for group, new_id in zip(created, ids, strict=True):
            group.task_id = new_id
    written = len(created)
    ledger: list[tuple[int, str]] = []
    pending = Deferred()  # every task's events, activity and calls, written together below
    for group in groups.values():
        task_id = cast(int, group.task_id)
        if group.ops:
            ops = [
                _filled(_priced(_namespaced(op, task_id, attempt), models, prices), fills)
                for op, attempt in _with_attempts(group)
            ]
            try:
                apply_ops(
                    session,
                    task_id,
                    ops,
                    actor=actor,
                    correlation_id=correlation_id,
                    now=now,
                    deferred=pending,
                    stand_ins=True,
                )
            except (IllegalTransition, InvocationNotFound, TaskNotFound) as exc:
                # The checks above make this unreachable unless the row changed between them and the lock.
                raise BatchRejected(
                    Rejection.CONFLICT, group.first_index, "", "conflict", f"{exc}; retry the batch"
                ) from exc
            written += sum(1 for op in ops if not isinstance(op, ClientTime))
        ledger += [
            (task_id, item.event_id) for item in group.items if (task_id, item.event_id) not in duplicates
        ]
    pending.flush(session, now)
    if ledger:
        _record_ids(session, ledger, now)
    outcomes = [
        TaskOutcome(
            task_id=cast(int, g.task_id),
            external_id=g.external_id,
            status=(g.final_status or g.status).value,
            attempt=g.attempt,
            cancel_requested=g.cancel_requested,
            created=g in created,
        )
        for g in groups.values()
    ]
    return BatchOutcome(len(ledger), len(items) - len(ledger), written, outcomes)


# ---- checking ----------------------------------------------------------------------------------------
def _existing_tasks(session: Session, items: Sequence[IngestItem]) -> dict[tuple[str, Any], Any]:
    """The tasks the batch names, by ("id", n) and ("key", s), locked against other writers until commit
    (PostgreSQL; SQLite's writer already holds the database)."""
    ids = {i.ref.task_id for i in items if i.ref.task_id is not None}
    keys = {i.ref.external_id for i in items if i.ref.external_id is not None}
    if not ids and not keys:
        return {}
    query = (
        select(
            T.c.id, T.c.external_id, T.c.kind, T.c.status, T.c.attempt, T.c.cancel_requested, T.c.placeholder
        )
        .where(or_(T.c.id.in_(ids), T.c.external_id.in_(keys)))
        .with_for_update(key_share=True)
    )
    found: dict[tuple[str, Any], Any] = {}
    for row in session.execute(query):
        found[("id", row.id)] = row
        if row.external_id is not None:
            found[("key", row.external_id)] = row
    return found


def _group(items: Sequence[IngestItem], rows: dict[tuple[str, Any], Any]) -> dict[tuple[str, Any], _Group]:
    groups: dict[tuple[str, Any], _Group] = {}
    aliases: dict[tuple[str, Any], tuple[str, Any]] = {}
    seen: dict[tuple[tuple[str, Any], str], int] = {}
    for item in items:
        ref = item.ref
        name = ("id", ref.task_id) if ref.task_id is not None else ("key", ref.external_id)
        label = f"task_id {ref.task_id}" if ref.task_id is not None else f"external_id {ref.external_id!r}"
        field_name = "task_id" if ref.task_id is not None else "external_id"
        row = rows.get(name)
        if row is not None:
            key = ("id", row.id)
            if key not in groups:
                if row.kind != TaskKind.EXTERNAL.value:
                    raise BatchRejected(
                        Rejection.CONFLICT,
                        item.position,
                        field_name,
                        "not_external",
                        f"task {row.id} is a {row.kind} task: only external tasks take events",
                    )
                groups[key] = _Group(
                    item.position,
                    row.id,
                    row.external_id,
                    TaskStatus(row.status),
                    row.attempt,
                    bool(row.cancel_requested),
                    placeholder=bool(row.placeholder),
                )
        else:
            key = aliases.get(name, name)
            if key not in groups:
                spec = item.spec
                if spec is None and ref.external_id is not None:
                    # Named before it was described (events out of order): a stand-in, described later.
                    spec = TaskSpec(
                        title=ref.external_id,
                        kind=TaskKind.EXTERNAL,
                        external_id=ref.external_id,
                        placeholder=True,
                    )
                if spec is None:
                    raise BatchRejected(
                        Rejection.NOT_FOUND,
                        item.position,
                        field_name,
                        "task_not_found",
                        f"no task with {label}",
                    )
                groups[key] = _Group(
                    item.position, None, ref.external_id, TaskStatus.QUEUED, 1, False, spec, item.at
                )
            else:
                pending = groups[key]
                if item.spec is not None and pending.spec is not None and pending.spec.placeholder:
                    pending.spec = item.spec  # described later in the same batch, before it is inserted
        earlier = seen.setdefault((key, item.event_id), item.position)
        if earlier != item.position:
            raise BatchRejected(
                Rejection.INVALID,
                item.position,
                "event_id",
                "duplicate_event_id",
                f"event_id {item.event_id!r} of this task is also used by event {earlier} of this batch",
            )
        groups[key].items.append(item)
    return groups


def _recorded_already(session: Session, groups: dict[tuple[str, Any], _Group]) -> set[tuple[int | None, str]]:
    """(task id, event id) pairs an earlier batch recorded. Tasks new in this batch have none."""
    task_ids = [g.task_id for g in groups.values() if g.task_id is not None]
    if not task_ids:
        return set()
    event_ids = {i.event_id for g in groups.values() if g.task_id is not None for i in g.items}
    rows = session.execute(
        select(LEDGER.c.task_id, LEDGER.c.event_id).where(
            LEDGER.c.task_id.in_(task_ids), LEDGER.c.event_id.in_(event_ids)
        )
    )
    return {(int(t), str(e)) for t, e in rows}


@dataclass
class _InvocationChecks:
    """Invocations the batch refers to but does not start (they must exist), and those it starts (they must
    not): stored id -> the first item that does so."""

    referenced: dict[str, int] = field(default_factory=dict)
    started: dict[str, int] = field(default_factory=dict)


def _simulate(
    groups: dict[tuple[str, Any], _Group], duplicates: set[tuple[int | None, str]]
) -> _InvocationChecks:
    """Walks each task's new items through the lifecycle map, as apply_ops will, so that a bad item is named
    by its index before anything is written."""
    checks = _InvocationChecks()
    for group in groups.values():
        status, attempt, cancel = group.status, group.attempt, group.cancel_requested
        clocked = False  # whether an earlier item moved the write path's clock off the server's now
        for item in group.items:
            if (group.task_id, item.event_id) in duplicates:
                continue
            if item.at is not None or clocked:
                group.ops.append(ClientTime(item.at))
                clocked = item.at is not None
            if item.spec is not None and group.placeholder:
                # The description of a task that earlier events created as a stand-in.
                group.ops.append(Describe(item.spec.title, created_at=item.at, spec=item.spec))
                group.placeholder = False
            for op in item.ops:
                if isinstance(op, Transition):
                    if op.to not in ALLOWED_TRANSITIONS[status]:
                        raise BatchRejected(
                            Rejection.CONFLICT,
                            item.position,
                            "to",
                            "illegal_transition",
                            f"task {_name(group)} is {status.value}: it cannot go to {op.to.value}",
                        )
                    if op.next_attempt:
                        attempt += 1
                    if op.to in TERMINAL or op.to is TaskStatus.QUEUED:
                        cancel = False
                    status = op.to
                elif isinstance(op, CancelRequest):
                    if status in TERMINAL:
                        raise BatchRejected(
                            Rejection.CONFLICT,
                            item.position,
                            "",
                            "illegal_transition",
                            f"task {_name(group)} is {status.value}: it cannot be cancelled",
                        )
                    cancel, status = (
                        (True, status) if status is TaskStatus.RUNNING else (False, TaskStatus.CANCELLED)
                    )
                elif isinstance(op, InvocationStarted | CallReported):
                    stored = invocation_key(group.task_id, attempt, op.invocation_id)
                    if (
                        isinstance(op, InvocationStarted)
                        and stored in group.named
                        and stored not in group.started
                    ):
                        # Its end or usage came first in this batch and creates it as a stand-in: fill it in.
                        op = dataclasses.replace(op, fill_in=True)
                    if stored in group.started:
                        raise BatchRejected(
                            Rejection.CONFLICT,
                            item.position,
                            "id",
                            "duplicate_invocation",
                            f"invocation {op.invocation_id!r} was already started in this attempt",
                        )
                    group.started.add(stored)
                    if group.task_id is not None:
                        checks.started.setdefault(stored, item.position)
                elif isinstance(op, InvocationFinished | Usage) and op.invocation_id is not None:
                    stored = invocation_key(group.task_id, attempt, op.invocation_id)
                    if stored not in group.started:
                        # A call not started (yet): it exists already, or the write path makes a stand-in.
                        group.named.add(stored)
                        if group.task_id is not None:
                            checks.referenced.setdefault(stored, item.position)
                group.ops.append(op)
        group.final_status, group.cancel_requested = status, cancel
        group.attempt = attempt
    return checks


_LEDGER = JsonInsert(LEDGER, [("task_id", "int"), ("event_id", "text")])


def _record_ids(session: Session, pairs: list[tuple[int, str]], now: datetime) -> None:
    _LEDGER.run_values(session, pairs, now)


def _check_invocations(session: Session, checks: _InvocationChecks) -> tuple[dict[str, str], set[str]]:
    """Raises for a started call that exists already (unless it is a stand-in, whose start fills it in);
    returns the stored model of every call that exists (to price usage reported without a model) and the
    stand-ins this batch starts. A referenced call that does not exist is no error: the write path creates
    it as a stand-in (events may come in any order)."""
    wanted = set(checks.referenced) | set(checks.started)
    if not wanted:
        return {}, set()
    found = session.execute(
        select(INV.c.id, INV.c.model, INV.c.placeholder).where(INV.c.id.in_(wanted))
    ).all()
    models = {str(i): str(m) for i, m, _ in found}
    stand_ins = {str(i) for i, _, placeholder in found if placeholder}
    exists = set(models) - stand_ins
    again = [(index, stored) for stored, index in checks.started.items() if stored in exists]
    if again:
        index, stored = min(again)
        raise BatchRejected(
            Rejection.CONFLICT,
            index,
            "id",
            "duplicate_invocation",
            f"invocation {stored.split('-', 1)[1]!r} was already started in this attempt (stored as {stored})",
        )
    return models, stand_ins & set(checks.started)


def _priced(op: Op, models: dict[str, str], prices: dict[str, Price]) -> Op:
    if not (isinstance(op, Usage) and op.price_from_call and op.invocation_id is not None):
        return op
    model = models.get(op.invocation_id, "")
    cost = cost_of(model, op.input_tokens, op.output_tokens, op.cache_read_tokens, prices)
    return Usage(model, op.input_tokens, op.output_tokens, op.cache_read_tokens, cost, op.invocation_id)


def _filled(op: Op, fills: set[str]) -> Op:
    """A start of a call stored as a stand-in by an earlier batch fills it in rather than inserting it."""
    if isinstance(op, InvocationStarted) and op.invocation_id in fills and not op.fill_in:
        return dataclasses.replace(op, fill_in=True)
    return op


def _name(group: _Group) -> str:
    return str(group.task_id) if group.task_id is not None else repr(group.external_id)


# ---- writing -----------------------------------------------------------------------------------------
def _with_attempts(group: _Group) -> list[tuple[Op, int]]:
    """Each op with the attempt it happens in (a re-queue inside the batch starts the next one)."""
    attempt = group.attempt - sum(1 for op in group.ops if isinstance(op, Transition) and op.next_attempt)
    out: list[tuple[Op, int]] = []
    for op in group.ops:
        if isinstance(op, Transition) and op.next_attempt:
            attempt += 1
        out.append((op, attempt))
    return out


def _namespaced(op: Op, task_id: int, attempt: int) -> Op:
    # Built directly rather than with dataclasses.replace, which costs several times more per op.
    if isinstance(op, InvocationStarted):
        key = invocation_key(task_id, attempt, op.invocation_id)
        parent = None if op.parent_id is None else invocation_key(task_id, attempt, op.parent_id)
        return InvocationStarted(
            key, op.role, op.provider, op.model, op.prompt, op.iteration, op.kind, parent, op.name, op.fill_in
        )
    if isinstance(op, CallReported):
        parent = None if op.parent_id is None else invocation_key(task_id, attempt, op.parent_id)
        return dataclasses.replace(
            op, invocation_id=invocation_key(task_id, attempt, op.invocation_id), parent_id=parent
        )
    if isinstance(op, InvocationFinished):
        return InvocationFinished(
            invocation_key(task_id, attempt, op.invocation_id), op.ok, op.response, op.error
        )
    if isinstance(op, Usage) and op.invocation_id is not None:
        key = invocation_key(task_id, attempt, op.invocation_id)
        return Usage(
            op.model,
            op.input_tokens,
            op.output_tokens,
            op.cache_read_tokens,
            op.cost_usd,
            key,
            op.price_from_call,
        )
    if isinstance(op, ActivityLine) and op.invocation_id is not None:
        return ActivityLine(
            op.message, op.type, invocation_key(task_id, attempt, op.invocation_id), op.stream
        )
    return op
