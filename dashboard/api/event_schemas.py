"""API layer: the events an external agent reports through POST /api/v1/events — the JSON-lines protocol's
vocabulary (progress, activity, invocation.*, usage, result) plus `task` and `transition` — and their
translation into the write path's ops (db/domain/ops.py)."""

from __future__ import annotations

import typing
from datetime import datetime
from typing import Annotated, Any, Literal, cast

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from dashboard.api.schemas import NO_NUL
from db.domain.clientclock import OutOfWindow, SkewWindow
from db.domain.ops import (
    MAX_MESSAGE,
    ActivityLine,
    CallReported,
    InvocationFinished,
    InvocationStarted,
    Op,
    Progress,
    SetResult,
    SpecError,
    TaskSpec,
    Transition,
    Usage,
)
from db.domain.pricing import Price, cost_of
from db.domain.states import ActivityType, CallKind, TaskKind, TaskStatus
from db.read.search import index_text
from db.write.ingest import MAX_CLIENT_INVOCATION_ID, IngestItem, TaskRef
from db.write.messages import pack

MAX_EVENTS = 1_000
MAX_BATCH_BYTES = 5 * 1024 * 1024
MAX_ID = 2**63 - 1
MAX_TOKENS = 10**12

ClientInvocationId = Annotated[str, Field(min_length=1, max_length=MAX_CLIENT_INVOCATION_ID, pattern=NO_NUL)]
Tokens = Annotated[int, Field(ge=0, le=MAX_TOKENS)]
Text = Annotated[str, Field(max_length=MAX_MESSAGE)]
Short = Annotated[str, Field(max_length=200)]


class _Event(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    event_id: str = Field(
        min_length=1,
        max_length=200,
        pattern=NO_NUL,
        description="yours, unique within the task: a replayed event is skipped",
    )
    task_id: int | None = Field(None, ge=1, le=MAX_ID, description="the task's TaskLens id …")
    external_id: str | None = Field(
        None, min_length=1, max_length=200, pattern=NO_NUL, description="… or your key for it"
    )
    at: AwareDatetime | None = Field(
        None,
        description="when it happened by your clock (ISO 8601 with an offset, e.g. 2026-12-03T07:00:00.250Z); "
        "stored as given within the server's skew window (default 7 days back, 5 minutes ahead; else 422). "
        "Default: when the server records it",
    )

    @model_validator(mode="after")
    def _one_task_reference(self) -> _Event:
        if (self.task_id is None) == (self.external_id is None):
            raise ValueError("give exactly one of task_id and external_id")
        return self


class TaskEvent(_Event):
    """Creates the external task `external_id` if it does not exist yet; for an existing one it changes nothing
    (the description is fixed at creation), so an agent may send it with every batch."""

    event: Literal["task"]
    title: str = Field(min_length=1, max_length=500)
    payload: dict[str, Any] = Field(default_factory=dict)
    priority: int = Field(0, ge=-1000, le=1000)
    tags: list[Annotated[str, Field(max_length=100)]] = Field(default_factory=list, max_length=20)
    created_by: Short = ""
    max_attempts: int = Field(1, ge=1, le=100)
    max_iterations: int | None = Field(None, ge=1, le=2**31 - 1)
    timeout_seconds: float | None = Field(None, gt=0, le=10**9)

    @model_validator(mode="after")
    def _needs_key(self) -> TaskEvent:
        if self.external_id is None:
            raise ValueError("a task event names the task by external_id (the key that makes it idempotent)")
        return self


class TransitionEvent(_Event):
    """A status change, checked against the lifecycle: queued → running → completed | failed | cancelled |
    timed_out; `queued` again retries a finished task (or gives a running one back) with attempt + 1."""

    event: Literal["transition"]
    to: TaskStatus
    error: Text | None = None
    reason: Short | None = Field(None, description="failure reason; default error / timeout / cancelled")
    result: Any = Field(None, description="with to=completed: the task's result")
    worker: Short | None = Field(None, description="with to=running: who runs it (shown as its worker)")


class ProgressEvent(_Event):
    event: Literal["progress"]
    iteration: int | None = Field(None, ge=0, le=2**31 - 1)
    max_iterations: int | None = Field(None, ge=1, le=2**31 - 1)
    percent: float | None = Field(None, ge=0, le=100)
    message: Text | None = None


class ActivityEvent(_Event):
    event: Literal["activity"]
    type: ActivityType = ActivityType.OUTPUT
    message: Text
    invocation_id: ClientInvocationId | None = None
    stream: Literal["stdout", "stderr"] | None = None


class InvocationStartedEvent(_Event):
    event: Literal["invocation.started"]
    id: ClientInvocationId = Field(description="yours, unique within the attempt")
    role: Short = ""
    provider: Short = Field("", description="default: the model's provider in the price table")
    model: Short = ""
    prompt: Text | None = None
    iteration: int | None = Field(None, ge=0, le=2**31 - 1)
    kind: CallKind = Field(CallKind.LLM, description="llm, tool, agent, retriever or other")
    parent_id: ClientInvocationId | None = Field(None, description="the id of the call this one was made in")
    name: Short = Field("", description="a tool's or agent's name")


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Short = Field(description="system, user, assistant, tool …")
    content: Any = Field(None, description="text, or structured parts")


class CallEvent(_Event):
    """A whole call in one event (no separate start): a tool call with its input and output, or a model call
    with its messages, each with its own start and end by your clock. `parent_id` may name a call reported
    later."""

    event: Literal["call"]
    id: ClientInvocationId = Field(description="yours, unique within the attempt")
    kind: CallKind = CallKind.LLM
    name: Short = ""
    parent_id: ClientInvocationId | None = None
    role: Short = ""
    provider: Short = ""
    model: Short = ""
    started_at: AwareDatetime
    ended_at: AwareDatetime | None = Field(None, description="absent: still running")
    ok: bool = True
    error: Text | None = None
    input: Any = Field(None, description="a tool's arguments (any JSON)")
    output: Any = Field(None, description="a tool's result (any JSON)")
    input_messages: list[Message] = Field(default_factory=list, max_length=1000)
    output_messages: list[Message] = Field(default_factory=list, max_length=1000)
    input_tokens: Tokens = 0
    output_tokens: Tokens = 0
    cache_read_tokens: Tokens = 0
    cost_usd: float | None = Field(None, ge=0, le=10**9, description="default: from the price table")


class _UsageFields(_Event):
    model: Short | None = None
    input_tokens: Tokens = 0
    output_tokens: Tokens = 0
    cache_read_tokens: Tokens = 0
    cost_usd: float | None = Field(None, ge=0, le=10**9, description="default: from the price table")


class InvocationFinishedEvent(_UsageFields):
    """Ends a call; tokens and cost given here are recorded as its usage first."""

    event: Literal["invocation.completed", "invocation.failed"]
    id: ClientInvocationId
    response: Text | None = None
    error: Text | None = None


class UsageEvent(_UsageFields):
    event: Literal["usage"]
    invocation_id: ClientInvocationId | None = None


class ResultEvent(_Event):
    event: Literal["result"]
    result: Any


Event = Annotated[
    TaskEvent
    | TransitionEvent
    | ProgressEvent
    | ActivityEvent
    | InvocationStartedEvent
    | InvocationFinishedEvent
    | CallEvent
    | UsageEvent
    | ResultEvent,
    Field(discriminator="event"),
]


class EventBatch(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    events: list[Event] = Field(
        min_length=1,
        description=f"at most {MAX_EVENTS:,} events and {MAX_BATCH_BYTES:,} bytes (413 past either)",
        json_schema_extra={"maxItems": MAX_EVENTS},
    )


class TaskState(BaseModel):
    task_id: int
    external_id: str | None
    status: TaskStatus
    attempt: int
    cancel_requested: bool = Field(description="someone asked to cancel it: stop and report cancelled")
    created: bool


class BatchResult(BaseModel):
    batch_id: str = Field(description="the event log's correlation_id of everything this batch wrote")
    recorded: int = Field(description="events recorded now")
    duplicates: int = Field(description="events an earlier batch had recorded, skipped")
    events_written: int = Field(description="rows appended to the event log")
    tasks: list[TaskState]


# The `event` values: pydantic puts the one it tried in an error's location; error messages leave it out.
TAGS = frozenset(
    tag
    for member in typing.get_args(typing.get_args(Event)[0])
    for tag in typing.get_args(member.model_fields["event"].annotation)
)


class ItemError(ValueError):
    def __init__(self, index: int, field_name: str, message: str) -> None:
        super().__init__(message)
        self.index, self.field, self.message = index, field_name, message


def to_items(
    batch: EventBatch, prices: dict[str, Price], now: datetime, window: SkewWindow | None = None
) -> list[IngestItem]:
    """The write path's view of the batch. Raises ItemError for what only the task rules catch, and for an
    `at` outside the skew window around `now` (naive UTC)."""
    window = window or SkewWindow()
    models: dict[tuple[Any, Any], str] = {}  # (task, call) -> model of calls started in this batch
    items = []
    refs: dict[Any, TaskRef] = {}
    for index, ev in enumerate(batch.events):
        task = ev.task_id if ev.task_id is not None else ev.external_id
        ref = refs.get(task)
        if ref is None:
            ref = refs[task] = TaskRef(ev.task_id, ev.external_id)
        spec = None
        if isinstance(ev, TaskEvent):
            try:
                spec = TaskSpec(
                    title=ev.title,
                    kind=TaskKind.EXTERNAL,
                    payload=ev.payload,
                    priority=ev.priority,
                    tags=tuple(ev.tags),
                    created_by=ev.created_by,
                    max_attempts=ev.max_attempts,
                    max_iterations=ev.max_iterations,
                    timeout_seconds=ev.timeout_seconds,
                    external_id=ev.external_id,
                )
            except SpecError as exc:
                raise ItemError(index, exc.field, exc.message) from None
        started = None
        if isinstance(ev, InvocationStartedEvent):
            models[(task, ev.id)] = ev.model
        elif isinstance(ev, InvocationFinishedEvent):
            started = models.get((task, ev.id))
        elif isinstance(ev, UsageEvent):
            started = models.get((task, ev.invocation_id))
        at = _checked(index, "at", ev.at, window, now)
        if isinstance(ev, CallEvent):
            ops: tuple[Op, ...] = (_call(ev, prices, window, now, index),)
        else:
            ops = _ops(ev, prices, started)
        items.append(IngestItem(index, ev.event_id, ref, spec, ops, at))
    return items


def _ops(ev: Any, prices: dict[str, Price], started_model: str | None) -> tuple[Op, ...]:
    match ev:
        case TransitionEvent():
            return (_transition(ev),)
        case ProgressEvent():
            return (Progress(ev.iteration, ev.max_iterations, ev.percent, ev.message),)
        case ActivityEvent():
            return (ActivityLine(ev.message, ev.type, ev.invocation_id, ev.stream),)
        case InvocationStartedEvent():
            provider = ev.provider or (prices[ev.model].provider if ev.model in prices else "")
            return (
                InvocationStarted(
                    ev.id,
                    ev.role,
                    provider,
                    ev.model,
                    ev.prompt,
                    ev.iteration,
                    ev.kind,
                    ev.parent_id,
                    ev.name,
                ),
            )
        case InvocationFinishedEvent():
            ok = ev.event == "invocation.completed"
            finish = InvocationFinished(ev.id, ok, ev.response, ev.error)
            if _has_usage(ev):
                return (_usage(ev, ev.id, prices, started_model), finish)
            return (finish,)
        case UsageEvent():
            return (_usage(ev, ev.invocation_id, prices, started_model),)
        case ResultEvent():
            return (SetResult(ev.result),)
    return ()


def _checked(
    index: int, name: str, at: datetime | None, window: SkewWindow, now: datetime
) -> datetime | None:
    if at is None:
        return None
    try:
        return window.check(at, now)
    except OutOfWindow as exc:
        raise ItemError(index, name, str(exc)) from None


def _call(
    ev: CallEvent, prices: dict[str, Price], window: SkewWindow, now: datetime, index: int
) -> CallReported:
    started = cast(datetime, _checked(index, "started_at", ev.started_at, window, now))
    ended = _checked(index, "ended_at", ev.ended_at, window, now)
    if ended is not None and ended < started:
        raise ItemError(index, "ended_at", "is before started_at")
    cost = ev.cost_usd
    if cost is None:
        cost = cost_of(ev.model, ev.input_tokens, ev.output_tokens, ev.cache_read_tokens, prices)
    provider = ev.provider or (prices[ev.model].provider if ev.model in prices else "")
    messages = {
        "input": [m.model_dump() for m in ev.input_messages],
        "output": [m.model_dump() for m in ev.output_messages],
    }
    if ev.input is not None:
        messages["arguments"] = ev.input
    if ev.output is not None:
        messages["result"] = ev.output
    return CallReported(
        ev.id,
        ev.kind,
        started,
        ended,
        ok=ev.ok,
        name=ev.name,
        parent_id=ev.parent_id,
        role=ev.role,
        provider=provider,
        model=ev.model,
        input_tokens=ev.input_tokens,
        output_tokens=ev.output_tokens,
        cache_read_tokens=ev.cache_read_tokens,
        cost_usd=cost,
        error=ev.error,
        messages=pack(messages),  # stored once: no prompt/response copy beside it
        search_text=index_text(messages),
    )


def _transition(ev: TransitionEvent) -> Transition:
    to = ev.to
    if to is TaskStatus.QUEUED:
        return Transition(to, reason=ev.reason or "retry", next_attempt=True)
    if to is TaskStatus.RUNNING:
        return Transition(to, worker_id=ev.worker)
    default_reason = {
        TaskStatus.FAILED: "error",
        TaskStatus.TIMED_OUT: "timeout",
        TaskStatus.CANCELLED: "cancelled",
    }.get(to)
    has_result = to is TaskStatus.COMPLETED and "result" in ev.model_fields_set
    return Transition(
        to, reason=ev.reason or default_reason, error=ev.error, result=ev.result, has_result=has_result
    )


def _has_usage(ev: _UsageFields) -> bool:
    return bool(ev.input_tokens or ev.output_tokens or ev.cache_read_tokens or ev.cost_usd)


def _usage(
    ev: _UsageFields, invocation_id: str | None, prices: dict[str, Price], started: str | None
) -> Usage:
    model = ev.model or started or ""
    cost = ev.cost_usd
    if cost is None and not model and invocation_id is not None:
        # A call started in an earlier batch: db/write/ingest prices it from the model stored with the call.
        return Usage("", ev.input_tokens, ev.output_tokens, ev.cache_read_tokens, 0.0, invocation_id, True)
    if cost is None:
        cost = cost_of(model, ev.input_tokens, ev.output_tokens, ev.cache_read_tokens, prices)
    return Usage(model, ev.input_tokens, ev.output_tokens, ev.cache_read_tokens, cost, invocation_id)
