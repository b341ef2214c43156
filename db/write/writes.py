"""Data layer: applies ops to one task inside the caller's transaction — the task row's projections and its
events always change together. Functions take a session and never commit."""

from __future__ import annotations

import functools
import json
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    Boolean,
    String,
    Table,
    Text,
    Update,
    bindparam,
    case,
    func,
    insert,
    null,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from db.core.models import Activity, Invocation, Task, TaskEvent, TaskTag, Worker
from db.core.timecol import UtcDateTime
from db.core.timeutil import utcnow
from db.domain.ops import (
    EVENT_MESSAGE_PREVIEW,
    MAX_MESSAGE,
    MAX_TITLE,
    ActivityLine,
    CallReported,
    CancelRequest,
    ClientTime,
    Describe,
    InvocationFinished,
    InvocationStarted,
    Op,
    Progress,
    SetResult,
    TaskSpec,
    Transition,
    Usage,
)
from db.domain.states import EventType, IllegalTransition, TaskStatus, check_transition
from db.read import search
from db.write import redact

# Core tables: the write path uses Core statements (one UPDATE, executemany INSERTs), not the unit of work.
T = cast(Table, Task.__table__)
E = cast(Table, TaskEvent.__table__)
A = cast(Table, Activity.__table__)
I = cast(Table, Invocation.__table__)  # noqa: E741
W = cast(Table, Worker.__table__)
TAGS = cast(Table, TaskTag.__table__)

NOTIFY_CHANNEL = "tasklens_events"


class TaskNotFound(LookupError):
    def __init__(self, task_id: int) -> None:
        super().__init__(f"task {task_id} does not exist")
        self.task_id = task_id


class LeaseLost(RuntimeError):
    """The writer no longer holds the task (its lease expired and the sweep gave it away)."""

    def __init__(self, task_id: int, owner: str) -> None:
        super().__init__(f"task {task_id} is no longer held by {owner}")
        self.task_id = task_id


class InvocationNotFound(LookupError):
    def __init__(self, invocation_id: str) -> None:
        super().__init__(f"invocation {invocation_id!r} does not exist")
        self.invocation_id = invocation_id


def note_events(session: Session, count: int, *, queued: bool = False) -> None:
    """Tell the recorder (after commit) what this transaction wrote, and PostgreSQL listeners on commit."""
    info = session.info
    info["events"] = info.get("events", 0) + count
    if queued:
        info["queued"] = True
    if session.get_bind().dialect.name == "postgresql" and not info.get("notified"):
        # Delivered by PostgreSQL only when (and if) this transaction commits.
        session.execute(text("SELECT pg_notify(:c, '')"), {"c": NOTIFY_CHANNEL})
        info["notified"] = True


def insert_tasks(
    session: Session,
    specs: Sequence[TaskSpec],
    *,
    actor: str,
    now: datetime | None = None,
    correlation_id: str | None = None,
    created: Sequence[datetime | None] | None = None,
) -> list[int]:
    """Inserts queued tasks; `created` gives each its creation time by the producer's clock (default now)."""
    now = now or utcnow()
    redactor = session.info.get(redact.INFO_KEY)
    if redactor is not None:
        specs = redactor.items(specs)
    when = list(created) if created is not None else [None] * len(specs)
    rows = [
        {
            "title": s.title,
            "kind": s.kind.value,
            "payload": s.payload,
            "status": TaskStatus.QUEUED.value,
            "priority": s.priority,
            "tags": list(s.tags),
            "created_by": s.created_by or actor,
            "external_id": s.external_id,
            "attempt": 1,
            "max_attempts": s.max_attempts,
            "current_iteration": 0,
            "max_iterations": s.max_iterations,
            "progress": 0.0,
            "timeout_seconds": s.timeout_seconds,
            "cancel_requested": False,
            "available_at": now,
            "created_at": at or now,
            "last_updated_at": now,
            "last_activity_at": now,
            "update_count": 1,
            "invocation_count": 0,
            "activity_count": 0,
            "input_tokens": 0,
            "output_tokens": 0,
            "cache_read_tokens": 0,
            "cost_usd": 0.0,
            "placeholder": s.placeholder,
        }
        for s, at in zip(specs, when, strict=True)
    ]
    ids = list(session.execute(insert(T).returning(T.c.id, sort_by_parameter_order=True), rows).scalars())
    tag_rows = [{"task_id": i, "tag": t} for i, s in zip(ids, specs, strict=True) for t in s.tags]
    if tag_rows:
        session.execute(insert(TAGS), tag_rows)
    session.execute(
        insert(E),
        [
            {
                "task_id": i,
                "type": EventType.CREATED.value,
                "from_status": None,
                "to_status": TaskStatus.QUEUED.value,
                "actor": actor,
                "correlation_id": correlation_id,
                "payload": {"kind": s.kind.value, "title": s.title, "priority": s.priority},
                "at": now,
            }
            for i, s in zip(ids, specs, strict=True)
        ],
    )
    note_events(session, len(ids), queued=True)
    return ids


@dataclass
class Deferred:
    """Rows that several apply_ops calls of one transaction append and `flush` writes with one statement per
    table: an event batch touching ten tasks runs four INSERT/UPDATEs here instead of forty (about 7% more
    events/s through POST /api/v1/events, bench/bench_api.py)."""

    events: list[dict[str, Any]] = field(default_factory=list)
    activity: list[dict[str, Any]] = field(default_factory=list)
    call_rows: list[dict[str, Any]] = field(default_factory=list)
    call_updates: list[dict[str, Any]] = field(default_factory=list)
    call_fills: list[dict[str, Any]] = field(default_factory=list)
    search_rows: list[tuple[int, str, str]] = field(default_factory=list)  # (task, call, text) to index
    # (worker id, column) -> tasks ended: one UPDATE per worker and outcome instead of one per task (a worker
    # writing its batch of ends paid a round trip each on PostgreSQL).
    outcomes: dict[tuple[str, str], int] = field(default_factory=dict)

    def flush(self, session: Session, now: datetime) -> None:
        if self.call_rows:
            session.execute(_INSERT_INVOCATION, self.call_rows)
        if self.search_rows:
            search.add(session, self.search_rows)
        if self.call_updates:
            session.execute(_UPDATE_INVOCATION, self.call_updates)
        if self.call_fills:  # after the inserts: a stand-in may be inserted by this very flush
            session.execute(_FILL_INVOCATION, self.call_fills)
        if self.events:
            _EVENTS.run(session, self.events, now)
        if self.activity:
            _ACTIVITY.run(session, self.activity, now)
        for (worker_id, column), count in self.outcomes.items():
            session.execute(_COUNT_OUTCOME[column], {"wid": worker_id, "n": count})
        self.events, self.activity, self.call_rows, self.call_updates = [], [], [], []
        self.call_fills, self.search_rows = [], []
        self.outcomes = {}


def apply_ops(
    session: Session,
    task_id: int,
    ops: Sequence[Op],
    *,
    actor: str,
    correlation_id: str | None = None,
    now: datetime | None = None,
    owner: str | None = None,
    deferred: Deferred | None = None,
    stand_ins: bool = False,
) -> TaskStatus:
    """Apply `ops` in order to one task: one UPDATE of the task row, its events appended. Returns the new status.
    With `owner`, the task must still be running under that worker (else LeaseLost). With `deferred`, the
    event, activity and call rows are left there for the caller's `flush` (at this `now`), before commit.
    With `stand_ins`, a call that an op names but that does not exist is created as a stand-in (sources whose
    events may come out of order); without, that is InvocationNotFound.
    Raises TaskNotFound, InvocationNotFound or IllegalTransition, leaving the rollback to the caller."""
    now = now or utcnow()
    redactor = session.info.get(redact.INFO_KEY)
    if redactor is not None:  # TASKLENS_REDACT: before anything of the ops is stored
        ops = redactor.items(ops)
    row = session.execute(_LOCK_ROW, {"tid": task_id}).one_or_none()
    if row is None:
        raise TaskNotFound(task_id)
    if owner is not None and (row.worker_id != owner or row.status != TaskStatus.RUNNING.value):
        raise LeaseLost(task_id, owner)
    state = _TaskDelta(task_id, TaskStatus(row.status), row.attempt, row.worker_id, now)
    state.stand_ins = stand_ins
    for op in ops:
        state.apply(session, op)
    if not state.events:
        return state.status
    rows = Deferred() if deferred is None else deferred
    state.write_calls(session, rows)
    params: dict[str, Any] = {f"v_{k}": v for k, v in state.values.items()}
    params.update({f"d_{k}": v for k, v in state.deltas.items()})
    params.update(tid=task_id, v_status=state.status.value, d_update_count=len(state.events), now=now)
    session.execute(_task_update(frozenset(state.values)), params)
    for ev in state.events:
        ev.setdefault("actor", actor)
        ev.setdefault("correlation_id", correlation_id)
    rows.events += state.events
    rows.activity += state.activity
    if state.finished_by is not None:
        _count_worker_outcome(rows, *state.finished_by)
    if deferred is None:
        rows.flush(session, now)
    note_events(session, len(state.events), queued=state.requeued)
    return state.status


def apply_ops_many(
    session: Session,
    batches: Sequence[tuple[int, Sequence[Op]]],
    *,
    actor: str,
    now: datetime,
    deferred: Deferred,
) -> dict[int, TaskStatus]:
    """apply_ops for many tasks at once, the same ops and checks, with the row reads and writes set-based: one
    SELECT locks every task, and the task rows are written by one executemany UPDATE per set of assigned
    columns. A source recording thousands of short tasks a second (the Celery source: about four events a
    task) paid two statements per task; this is two per batch. The rows go into `deferred` for the caller's
    flush. Raises TaskNotFound or IllegalTransition like apply_ops, leaving the rollback to the caller."""
    ids = [task_id for task_id, _ in batches]
    rows: dict[int, tuple[str, int, str | None]] = (
        {r.id: (r.status, r.attempt, r.worker_id) for r in session.execute(_LOCK_ROWS, {"ids": ids})}
        if ids
        else {}
    )
    updates: dict[frozenset[str], list[dict[str, Any]]] = {}
    outcome: dict[int, TaskStatus] = {}
    written = 0
    requeued = False
    for task_id, ops in batches:
        row = rows.get(task_id)
        if row is None:
            raise TaskNotFound(task_id)
        status, attempt, worker_id = row
        state = _TaskDelta(task_id, TaskStatus(status), attempt, worker_id, now)
        for op in ops:
            state.apply(session, op)
        outcome[task_id] = state.status
        if not state.events:
            continue
        # The next batch of the same task (a second call with its id) must see this one's outcome.
        rows[task_id] = (state.status.value, state.attempt, state.worker_id)
        state.write_calls(session, deferred)
        params: dict[str, Any] = {f"v_{k}": v for k, v in state.values.items()}
        params.update({f"d_{k}": v for k, v in state.deltas.items()})
        params.update(tid=task_id, v_status=state.status.value, d_update_count=len(state.events), now=now)
        updates.setdefault(frozenset(state.values), []).append(params)
        for ev in state.events:
            ev.setdefault("actor", actor)
            ev.setdefault("correlation_id", None)
        deferred.events += state.events
        deferred.activity += state.activity
        if state.finished_by is not None:
            _count_worker_outcome(deferred, *state.finished_by)
        written += len(state.events)
        requeued = requeued or state.requeued
    for columns, params_list in updates.items():
        session.execute(_task_update(columns), params_list)
    if written:
        note_events(session, written, queued=requeued)
    return outcome


# The hot path's statements are built once: building and cache-keying a fresh statement per call cost
# more than SQLite's own work (profiled in bench/bench_recorder.py).
# FOR NO KEY UPDATE (key_share): it serialises writers of this task but, unlike FOR UPDATE, does not wait
# for transactions that merely insert rows referencing the task (their FK check takes KEY SHARE).
_LOCK_ROW = (
    select(T.c.status, T.c.attempt, T.c.worker_id)
    .where(T.c.id == bindparam("tid"))
    .with_for_update(key_share=True)
)
_LOCK_ROWS = (
    select(T.c.id, T.c.status, T.c.attempt, T.c.worker_id)
    .where(T.c.id.in_(bindparam("ids", expanding=True)))
    .with_for_update(key_share=True)
)
_DELTA_COLUMNS = (
    "activity_count",
    "invocation_count",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cost_usd",
    "update_count",
)
# Calls are written once per apply_ops, not once per op: the rows of calls started in the batch (with whatever
# the batch later did to them folded in) in one executemany INSERT, and one executemany UPDATE for earlier
# calls the batch finished or added usage to (profiled in bench/bench_api.py: a statement built per op cost
# more than the rest of the batch).
_INSERT_INVOCATION = insert(I)
# A stand-in call's start, reported after its end or usage: everything the start knows, nothing it does not.
_FILL_INVOCATION = (
    update(I)
    .where(I.c.id == bindparam("iid"), I.c.task_id == bindparam("tid"))
    .values(
        started_at=bindparam("f_started", type_=UtcDateTime()),
        role=bindparam("f_role", type_=String()),
        provider=bindparam("f_provider", type_=String()),
        model=case((I.c.model == "", bindparam("f_model", type_=String())), else_=I.c.model),
        prompt=bindparam("f_prompt", type_=Text()),
        iteration=bindparam("f_iteration", type_=I.c.iteration.type),
        kind=bindparam("f_kind", type_=String()),
        parent_id=bindparam("f_parent", type_=String()),
        name=bindparam("f_name", type_=String()),
        placeholder=False,
    )
)
_CALLS_OF_TASK = select(I.c.id).where(
    I.c.task_id == bindparam("tid"), I.c.id.in_(bindparam("ids", expanding=True))
)
_UPDATE_INVOCATION = (
    update(I)
    .where(I.c.id == bindparam("iid"), I.c.task_id == bindparam("tid"))
    .values(
        input_tokens=I.c.input_tokens + bindparam("d_in", type_=I.c.input_tokens.type),
        output_tokens=I.c.output_tokens + bindparam("d_out", type_=I.c.output_tokens.type),
        cache_read_tokens=I.c.cache_read_tokens + bindparam("d_cache", type_=I.c.cache_read_tokens.type),
        cost_usd=I.c.cost_usd + bindparam("d_cost", type_=I.c.cost_usd.type),
        # A finish stores NULL: the call's last activity is then its end (db/domain/liveness.call_last_activity).
        last_activity_at=case(
            (bindparam("p_finished", type_=Boolean()), null()), else_=bindparam("now", type_=UtcDateTime())
        ),
        model=func.coalesce(bindparam("p_model", type_=String()), I.c.model),
        status=func.coalesce(bindparam("p_status", type_=String()), I.c.status),
        completed_at=func.coalesce(bindparam("p_completed", type_=UtcDateTime()), I.c.completed_at),
        response=case(
            (bindparam("p_finished", type_=Boolean()), bindparam("p_response", type_=Text())),
            else_=I.c.response,
        ),
        error=case(
            (bindparam("p_finished", type_=Boolean()), bindparam("p_error", type_=Text())), else_=I.c.error
        ),
    )
)


class JsonInsert:
    """Many rows of one table, all stamped with one time, as ONE JSON parameter the database unpacks (SQLite's
    json_each, PostgreSQL's json_array_elements in array order): SQLAlchemy's per-row parameter processing of
    an executemany cost more than the database's own inserts (profiled in bench/bench_api.py). A JSON column
    travels as itself, not as a string of JSON text, so it is encoded once and never escaped twice; SQLite
    stores its minified text, PostgreSQL's json column the text as sent, and readers parse either alike.
    Rows that cannot go this way (other dialects, differing times, NUL — see json_rows) are an executemany."""

    def __init__(self, table: Table, columns: Sequence[tuple[str, str]]) -> None:
        """`columns`: (name, kind) in row order, kind "int", "text" or "json"; the time goes in `at`."""
        names = ", ".join(name for name, _ in columns)
        head = f"INSERT INTO {table.name} ({names}, at) SELECT "
        lite = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(len(columns)))
        pg_kinds = {"int": "(e ->> {i})::bigint", "text": "e ->> {i}", "json": "e -> {i}"}
        pg = ", ".join(pg_kinds[kind].format(i=i) for i, (_, kind) in enumerate(columns))
        params = (bindparam("at", type_=UtcDateTime()), bindparam("rows", type_=String()))
        self.by_dialect = {
            "sqlite": text(f"{head}{lite}, :at FROM json_each(:rows)").bindparams(*params),
            "postgresql": text(
                f"{head}{pg}, :at FROM json_array_elements(CAST(:rows AS json)) WITH ORDINALITY AS r(e, n) "
                "ORDER BY n"
            ).bindparams(*params),
        }
        self.plain = insert(table)
        self.names = tuple(name for name, _ in columns)
        self.row = operator.itemgetter(*self.names)

    def run(self, session: Session, rows: list[dict[str, Any]], now: datetime) -> None:
        """Inserts `rows`: dicts holding the columns and `at`."""
        if session.get_bind().dialect.name in self.by_dialect and all(r["at"] == now for r in rows):
            self.run_values(session, [self.row(r) for r in rows], now)
        else:
            session.execute(self.plain, rows)

    def run_values(self, session: Session, values: list[tuple[Any, ...]], now: datetime) -> None:
        """Inserts rows given as tuples of the columns, all at `now`."""
        statement = self.by_dialect.get(session.get_bind().dialect.name)
        packed = None if statement is None else json_rows(values)
        if statement is None or packed is None:
            session.execute(
                self.plain, [{**dict(zip(self.names, v, strict=True)), "at": now} for v in values]
            )
        else:
            session.execute(statement, {"rows": packed, "at": now})


def json_rows(rows: list[Any]) -> str | None:
    """`rows` as the one JSON parameter of a JsonInsert, or None when a string in them holds NUL (the escape
    \\u0000): SQLite's JSON functions cut text there and PostgreSQL's refuse it, so such rows take the
    executemany way (which keeps NUL on SQLite; db/core/engine replaces it on PostgreSQL)."""
    text = json.dumps(rows)
    return None if "\\u0000" in text else text


_EVENTS = JsonInsert(
    E,
    [
        ("task_id", "int"),
        ("type", "text"),
        ("from_status", "text"),
        ("to_status", "text"),
        ("actor", "text"),
        ("correlation_id", "text"),
        ("payload", "json"),
    ],
)
_ACTIVITY = JsonInsert(
    A,
    [
        ("task_id", "int"),
        ("invocation_id", "text"),
        ("type", "text"),
        ("stream", "text"),
        ("message", "text"),
    ],
)


@functools.lru_cache(maxsize=256)
def _task_update(columns: frozenset[str]) -> Update:
    """One UPDATE per set of assigned columns: `status` and the timestamps always, counters as deltas."""
    values: dict[str, Any] = {c: bindparam(f"v_{c}", type_=T.c[c].type) for c in columns | {"status"}}
    values.update({c: T.c[c] + bindparam(f"d_{c}", type_=T.c[c].type) for c in _DELTA_COLUMNS})
    values["last_updated_at"] = bindparam("now", type_=T.c.last_updated_at.type)
    values["last_activity_at"] = values["last_updated_at"]
    return update(T).where(T.c.id == bindparam("tid")).values(values)


class _TaskDelta:
    """Accumulates what a batch of ops does to one task row, so the row is written once."""

    def __init__(
        self, task_id: int, status: TaskStatus, attempt: int, worker_id: str | None, now: datetime
    ) -> None:
        self.task_id = task_id
        self.status = status
        self.attempt = attempt
        self.worker_id = worker_id
        self.now = now
        # The time ops happened: now, unless a ClientTime op gave the producer's clock.
        self.clock = now
        self.values: dict[str, Any] = {}
        self.deltas: dict[str, float] = {
            "activity_count": 0,
            "invocation_count": 0,
            "input_tokens": 0,
            "output_tokens": 0,
            "cache_read_tokens": 0,
            "cost_usd": 0.0,
        }
        self.events: list[dict[str, Any]] = []
        self.activity: list[dict[str, Any]] = []
        self.requeued = False
        self.finished_by: tuple[str, TaskStatus] | None = None
        self.call_rows: list[dict[str, Any]] = []  # calls started by these ops, as they will be inserted
        self.new_calls: dict[str, dict[str, Any]] = {}
        self.call_updates: dict[str, dict[str, Any]] = {}  # earlier calls: what these ops change
        self.call_fills: list[dict[str, Any]] = []  # stand-in calls whose start came
        self.search_rows: list[tuple[int, str, str]] = []
        self.stand_ins = False

    def event(self, type_: EventType, payload: dict[str, Any], **extra: Any) -> None:
        self.events.append(
            {
                "task_id": self.task_id,
                "type": type_.value,
                "from_status": extra.pop("from_status", None),
                "to_status": extra.pop("to_status", None),
                "payload": payload,
                "at": self.now,
                **extra,
            }
        )

    def apply(self, session: Session, op: Op) -> None:
        match op:
            case Transition():
                self._transition(op)
            case CancelRequest():
                self._cancel()
            case ClientTime():
                self.clock = op.at or self.now
            case Describe():
                self._describe(session, op)
            case Progress():
                self._progress(op)
            case ActivityLine():
                message = op.message[:MAX_MESSAGE]
                self.activity.append(
                    {
                        "task_id": self.task_id,
                        "invocation_id": op.invocation_id,
                        "type": op.type.value,
                        "stream": op.stream,
                        "message": message,
                        "at": self.clock,
                    }
                )
                self.deltas["activity_count"] += 1
                self.event(
                    EventType.ACTIVITY,
                    {
                        "type": op.type.value,
                        "message": message[:EVENT_MESSAGE_PREVIEW],
                        "invocation_id": op.invocation_id,
                        "stream": op.stream,
                    },
                )
            case InvocationStarted() if op.fill_in:
                self.call_fills.append(
                    {
                        "iid": op.invocation_id,
                        "tid": self.task_id,
                        "f_started": self.clock,
                        "f_role": op.role,
                        "f_provider": op.provider,
                        "f_model": op.model,
                        "f_prompt": op.prompt,
                        "f_iteration": op.iteration,
                        "f_kind": op.kind.value,
                        "f_parent": op.parent_id,
                        "f_name": op.name,
                    }
                )
                self.event(
                    EventType.INVOCATION_STARTED,
                    {
                        "invocation_id": op.invocation_id,
                        "role": op.role,
                        "model": op.model,
                        "filled_in": True,
                    },
                )
            case InvocationStarted():
                row = {
                    "id": op.invocation_id,
                    "task_id": self.task_id,
                    "iteration": op.iteration,
                    "role": op.role,
                    "provider": op.provider,
                    "model": op.model,
                    "status": "running",
                    "started_at": self.clock,
                    "completed_at": None,
                    "last_activity_at": self.clock,
                    "prompt": op.prompt,
                    "response": None,
                    "error": None,
                    "input_tokens": 0,
                    "output_tokens": 0,
                    "cache_read_tokens": 0,
                    "cost_usd": 0.0,
                    "kind": op.kind.value,
                    "parent_id": op.parent_id,
                    "name": op.name,
                    "messages": None,
                    "placeholder": False,
                }
                # A second start of one id fails on the primary key when the rows are inserted, as before.
                self.call_rows.append(row)
                self.new_calls[op.invocation_id] = row
                self.deltas["invocation_count"] += 1
                self.event(
                    EventType.INVOCATION_STARTED,
                    {
                        "invocation_id": op.invocation_id,
                        "role": op.role,
                        "provider": op.provider,
                        "model": op.model,
                        "iteration": op.iteration,
                    },
                )
            case InvocationFinished():
                status = "completed" if op.ok else "failed"
                finish = {"completed_at": self.clock, "response": op.response, "error": op.error}
                started = self.new_calls.get(op.invocation_id)
                if started is not None:
                    started.update(finish, status=status, last_activity_at=None)
                else:
                    change = self._call_update(op.invocation_id)
                    change.update(p_status=status, p_completed=self.clock, p_finished=True)
                    change.update(p_response=op.response, p_error=op.error)
                self.event(
                    EventType.INVOCATION_COMPLETED if op.ok else EventType.INVOCATION_FAILED,
                    {
                        "invocation_id": op.invocation_id,
                        "error": (op.error or "")[:EVENT_MESSAGE_PREVIEW] or None,
                    },
                )
            case CallReported():
                self._reported(op)
            case Usage():
                self._usage(session, op)
            case SetResult():
                self.values["result"] = op.result
                self.event(EventType.RESULT, {})

    def _transition(self, op: Transition) -> None:
        check_transition(self.task_id, self.status, op.to)
        v = self.values
        if op.to is TaskStatus.RUNNING:
            self.worker_id = op.worker_id
            v.update(
                started_at=self.clock,
                completed_at=None,
                worker_id=op.worker_id,
                lease_expires_at=op.lease_until,
                error_message=None,
                failure_reason=None,
            )
        elif op.to is TaskStatus.QUEUED:
            if op.next_attempt:
                self.attempt += 1
            self.requeued = True
            v.update(
                attempt=self.attempt,
                worker_id=None,
                lease_expires_at=None,
                started_at=None,
                completed_at=None,
                cancel_requested=False,
                available_at=op.available_at or self.now,
                progress=0.0,
                current_iteration=0,
                progress_message=None,
                error_message=None,
                failure_reason=None,
            )
        else:
            v.update(completed_at=self.clock, lease_expires_at=None, cancel_requested=False)
            if op.error is not None:
                v["error_message"] = op.error[:MAX_MESSAGE]
            if op.reason is not None and op.to is not TaskStatus.COMPLETED:
                v["failure_reason"] = op.reason
            if op.to is TaskStatus.COMPLETED:
                v["progress"] = 100.0
            if self.status is TaskStatus.RUNNING and self.worker_id:
                self.finished_by = (self.worker_id, op.to)
        if op.has_result:
            v["result"] = op.result
        payload: dict[str, Any] = {"attempt": self.attempt}
        if op.reason:
            payload["reason"] = op.reason
        if op.error:
            payload["error"] = op.error[:EVENT_MESSAGE_PREVIEW]
        if op.to is TaskStatus.RUNNING:
            payload["worker_id"] = op.worker_id
        if self.clock != self.now:
            # The producer's time of the move (the event's own `at` stays the time it was recorded): the task
            # page's timeline draws a Celery task's transitions when Celery made them, not when they arrived.
            payload["happened_at"] = self.clock.isoformat()
        self.event(EventType.TRANSITION, payload, from_status=self.status.value, to_status=op.to.value)
        self.status = op.to

    def _describe(self, session: Session, op: Describe) -> None:
        v = self.values
        v["title"] = op.title.strip()[:MAX_TITLE] or "untitled"
        v["placeholder"] = False
        if op.began_at is not None:
            v["created_at"] = v["started_at"] = op.began_at
        if op.created_at is not None:
            v["created_at"] = op.created_at
        spec = op.spec
        if spec is not None:
            v.update(
                payload=spec.payload,
                priority=spec.priority,
                tags=list(spec.tags),
                max_attempts=spec.max_attempts,
                max_iterations=spec.max_iterations,
                timeout_seconds=spec.timeout_seconds,
            )
            if spec.created_by:
                v["created_by"] = spec.created_by
            if spec.tags:  # a stand-in has none: nothing to replace
                session.execute(insert(TAGS), [{"task_id": self.task_id, "tag": t} for t in spec.tags])
            # Alone in a batch it must still be written (apply_ops writes nothing for ops without events).
            self.event(EventType.DESCRIBED, {"title": v["title"]})

    def _cancel(self) -> None:
        if self.status is TaskStatus.QUEUED:
            self._transition(
                Transition(TaskStatus.CANCELLED, reason="cancelled", error="cancelled before start")
            )
        elif self.status is TaskStatus.RUNNING:
            self.values["cancel_requested"] = True
            self.event(EventType.CANCEL_REQUESTED, {})
        else:
            raise IllegalTransition(self.task_id, self.status, TaskStatus.CANCELLED)

    def _progress(self, op: Progress) -> None:
        v = self.values
        payload: dict[str, Any] = {}
        if op.iteration is not None:
            v["current_iteration"] = payload["iteration"] = max(0, int(op.iteration))
        if op.max_iterations is not None:
            v["max_iterations"] = payload["max_iterations"] = max(1, int(op.max_iterations))
        percent = op.percent
        if percent is None and op.iteration is not None and op.max_iterations:
            percent = 100.0 * op.iteration / op.max_iterations
        if percent is not None:
            v["progress"] = payload["percent"] = min(100.0, max(0.0, float(percent)))
        if op.message is not None:
            v["progress_message"] = payload["message"] = op.message[:EVENT_MESSAGE_PREVIEW]
        self.event(EventType.PROGRESS, payload)

    def _usage(self, session: Session, op: Usage) -> None:
        d = self.deltas
        d["input_tokens"] += op.input_tokens
        d["output_tokens"] += op.output_tokens
        d["cache_read_tokens"] += op.cache_read_tokens
        d["cost_usd"] += op.cost_usd
        if op.invocation_id:
            started = self.new_calls.get(op.invocation_id)
            if started is not None:
                started["input_tokens"] += op.input_tokens
                started["output_tokens"] += op.output_tokens
                started["cache_read_tokens"] += op.cache_read_tokens
                started["cost_usd"] += op.cost_usd
                if op.model:
                    started["model"] = op.model
            else:
                change = self._call_update(op.invocation_id)
                change["d_in"] += op.input_tokens
                change["d_out"] += op.output_tokens
                change["d_cache"] += op.cache_read_tokens
                change["d_cost"] += op.cost_usd
                if op.model:
                    change["p_model"] = op.model
        self.event(
            EventType.USAGE,
            {
                "model": op.model,
                "input_tokens": op.input_tokens,
                "output_tokens": op.output_tokens,
                "cache_read_tokens": op.cache_read_tokens,
                "cost_usd": op.cost_usd,
                "invocation_id": op.invocation_id,
            },
        )

    def _reported(self, op: CallReported) -> None:
        status = "running" if op.completed_at is None else "completed" if op.ok else "failed"
        row = {
            "id": op.invocation_id,
            "task_id": self.task_id,
            "iteration": None,
            "role": op.role,
            "provider": op.provider,
            "model": op.model,
            "status": status,
            "started_at": op.started_at,
            "completed_at": op.completed_at,
            "last_activity_at": op.started_at if op.completed_at is None else None,
            "prompt": op.prompt,
            "response": op.response,
            "error": op.error,
            "input_tokens": op.input_tokens,
            "output_tokens": op.output_tokens,
            "cache_read_tokens": op.cache_read_tokens,
            "cost_usd": op.cost_usd,
            "kind": op.kind.value,
            "parent_id": op.parent_id,
            "name": op.name[:200],
            "messages": op.messages,
            "placeholder": False,
        }
        self.call_rows.append(row)
        self.new_calls[op.invocation_id] = row
        if op.search_text:
            self.search_rows.append((self.task_id, op.invocation_id, op.search_text))
        d = self.deltas
        d["invocation_count"] += 1
        d["input_tokens"] += op.input_tokens
        d["output_tokens"] += op.output_tokens
        d["cache_read_tokens"] += op.cache_read_tokens
        d["cost_usd"] += op.cost_usd
        # One event for the whole call, and a small one: the live views re-read the call from its row (a
        # trace of many calls would otherwise store each call's figures twice; issue 14's storage budget).
        type_ = {
            "running": EventType.INVOCATION_STARTED,
            "completed": EventType.INVOCATION_COMPLETED,
            "failed": EventType.INVOCATION_FAILED,
        }[status]
        self.event(
            type_,
            {
                "invocation_id": op.invocation_id,
                "kind": op.kind.value,
                "error": (op.error or "")[:EVENT_MESSAGE_PREVIEW] or None,
            },
        )

    def _call_update(self, invocation_id: str) -> dict[str, Any]:
        """The pending change to a call started before these ops (usage adds up; a finish sets its end)."""
        change = self.call_updates.get(invocation_id)
        if change is None:
            change = self.call_updates[invocation_id] = {
                "iid": invocation_id,
                "tid": self.task_id,
                "now": self.clock,
                "d_in": 0,
                "d_out": 0,
                "d_cache": 0,
                "d_cost": 0.0,
                "p_model": None,
                "p_status": None,
                "p_completed": None,
                "p_finished": False,
                "p_response": None,
                "p_error": None,
                "first_at": self.clock,  # when a stand-in for it would start (not a column of the UPDATE)
            }
        return change

    def write_calls(self, session: Session, rows: Deferred) -> None:
        """The calls' rows: earlier calls must exist (checked before this batch's own are inserted, so a finish
        that came before its start still fails), then their INSERT and UPDATE rows go to `rows`."""
        if self.call_updates:
            wanted = list(self.call_updates)
            found = set(session.scalars(_CALLS_OF_TASK, {"tid": self.task_id, "ids": wanted}))
            for invocation_id in wanted:
                if invocation_id not in found:
                    if not self.stand_ins:
                        raise InvocationNotFound(invocation_id)
                    self.call_rows.append(self._stand_in(self.call_updates.pop(invocation_id)))
                    self.deltas["invocation_count"] += 1
        rows.call_rows += self.call_rows
        rows.call_updates += self.call_updates.values()
        rows.call_fills += self.call_fills
        rows.search_rows += self.search_rows

    def _stand_in(self, change: dict[str, Any]) -> dict[str, Any]:
        """The row of a call named before its start: what its end and usage said; its start fills it in."""
        return {
            "id": change["iid"],
            "task_id": self.task_id,
            "iteration": None,
            "role": "",
            "provider": "",
            "model": change["p_model"] or "",
            "status": change["p_status"] or "running",
            "started_at": change["first_at"],
            "completed_at": change["p_completed"],
            "last_activity_at": None if change["p_finished"] else change["now"],
            "prompt": None,
            "response": change["p_response"],
            "error": change["p_error"],
            "input_tokens": change["d_in"],
            "output_tokens": change["d_out"],
            "cache_read_tokens": change["d_cache"],
            "cost_usd": change["d_cost"],
            "kind": "llm",
            "parent_id": None,
            "name": "",
            "messages": None,
            "placeholder": True,
        }


_COUNT_OUTCOME = {
    column: update(W).where(W.c.id == bindparam("wid")).values({column: W.c[column] + bindparam("n")})
    for column in ("tasks_completed", "tasks_failed")
}


def _count_worker_outcome(rows: Deferred, worker_id: str, status: TaskStatus) -> None:
    column = "tasks_completed" if status is TaskStatus.COMPLETED else "tasks_failed"
    rows.outcomes[(worker_id, column)] = rows.outcomes.get((worker_id, column), 0) + 1


def lock_status(session: Session, task_id: int) -> TaskStatus:
    """The task's status, with its row locked until the transaction ends (PostgreSQL; SQLite already is)."""
    status = session.execute(
        select(T.c.status).where(T.c.id == task_id).with_for_update(key_share=True)
    ).scalar()
    if status is None:
        raise TaskNotFound(task_id)
    return TaskStatus(status)
