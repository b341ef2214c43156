"""Domain layer: the changes the recorder can apply to a task, as frozen dataclasses (the write path's vocabulary)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from db.domain.states import ActivityType, CallKind, TaskKind, TaskStatus

MAX_TITLE = 500
MAX_TAGS = 20
MAX_TAG_LEN = 100
MAX_MESSAGE = 20_000
# Activity text copied into the event payload for live views; the full line stays in `activity`.
EVENT_MESSAGE_PREVIEW = 500


NUL_IN_ID = "must not contain NUL (U+0000) characters"


class SpecError(ValueError):
    """A task description that cannot be stored; `field` names the offending field."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


@dataclass(frozen=True)
class TaskSpec:
    title: str
    kind: TaskKind
    payload: dict[str, Any] = field(default_factory=dict)
    priority: int = 0
    tags: tuple[str, ...] = ()
    created_by: str = ""
    max_attempts: int = 1
    max_iterations: int | None = None
    timeout_seconds: float | None = None
    external_id: str | None = None
    # A stand-in for a task referred to before it was described; its description comes later (Describe).
    placeholder: bool = False

    def __post_init__(self) -> None:
        title = self.title.strip() if isinstance(self.title, str) else ""
        if not title:
            raise SpecError("title", "must not be empty")
        if len(title) > MAX_TITLE:
            raise SpecError("title", f"must be at most {MAX_TITLE} characters")
        object.__setattr__(self, "title", title)
        try:
            object.__setattr__(self, "kind", TaskKind(self.kind))
        except ValueError:
            kinds = ", ".join(k.value for k in TaskKind)
            raise SpecError("kind", f"must be one of {kinds}, got {self.kind!r}") from None
        if not isinstance(self.payload, dict):
            raise SpecError("payload", "must be a JSON object")
        if not -1000 <= self.priority <= 1000:
            raise SpecError("priority", "must be between -1000 and 1000")
        if self.external_id is not None and "\x00" in self.external_id:
            # Keys are matched as stored, and PostgreSQL cannot store NUL (db/core/engine replaces it in text).
            raise SpecError("external_id", NUL_IN_ID)
        tags = tuple(dict.fromkeys(t.strip() for t in self.tags if t.strip()))
        if len(tags) > MAX_TAGS:
            raise SpecError("tags", f"at most {MAX_TAGS} tags")
        if any(len(t) > MAX_TAG_LEN for t in tags):
            raise SpecError("tags", f"a tag has at most {MAX_TAG_LEN} characters")
        object.__setattr__(self, "tags", tags)
        if not 1 <= self.max_attempts <= 100:
            raise SpecError("max_attempts", "must be between 1 and 100")
        if self.max_iterations is not None and self.max_iterations < 1:
            raise SpecError("max_iterations", "must be at least 1")
        if self.timeout_seconds is not None and self.timeout_seconds <= 0:
            raise SpecError("timeout_seconds", "must be positive")
        if self.kind is TaskKind.COMMAND:
            command = self.payload.get("command")
            ok = (isinstance(command, str) and command.strip()) or (
                isinstance(command, list) and command and all(isinstance(c, str) for c in command)
            )
            if not ok:
                raise SpecError("payload.command", "a command task needs a command (string or list)")
        if self.kind is TaskKind.PYTHON:
            target = self.payload.get("callable")
            if not isinstance(target, str) or ("." not in target and ":" not in target):
                raise SpecError("payload.callable", "a python task needs a dotted path like pkg.module:func")


@dataclass(frozen=True)
class Transition:
    to: TaskStatus
    reason: str | None = None
    error: str | None = None
    result: Any = None
    has_result: bool = False
    worker_id: str | None = None
    lease_until: datetime | None = None
    # For re-queues: a retry counts a new attempt and may wait before it can be claimed again.
    next_attempt: bool = False
    available_at: datetime | None = None


@dataclass(frozen=True)
class Progress:
    iteration: int | None = None
    max_iterations: int | None = None
    percent: float | None = None
    message: str | None = None


@dataclass(frozen=True)
class ActivityLine:
    message: str
    type: ActivityType = ActivityType.OUTPUT
    invocation_id: str | None = None
    stream: str | None = None


@dataclass(frozen=True)
class InvocationStarted:
    invocation_id: str
    role: str = ""
    provider: str = ""
    model: str = ""
    prompt: str | None = None
    iteration: int | None = None
    kind: CallKind = CallKind.LLM
    parent_id: str | None = None  # the stored id of the call it was made in (it may be reported later)
    name: str = ""
    # The call exists as a stand-in (its end or usage came first): fill it in instead of inserting it.
    fill_in: bool = False


@dataclass(frozen=True)
class CallReported:
    """A whole call reported at once with its own times (an OTLP span, a `call` event): inserted complete,
    its tokens and cost added to the task. Its id must be new (sources skip ids already stored)."""

    invocation_id: str
    kind: CallKind
    started_at: datetime
    completed_at: datetime | None
    ok: bool = True
    name: str = ""
    parent_id: str | None = None
    role: str = ""
    provider: str = ""
    model: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cost_usd: float = 0.0
    prompt: str | None = None
    response: str | None = None
    error: str | None = None
    messages: bytes | None = None  # db/write/messages.pack
    search_text: str | None = None  # what full-text search finds it by (db/read/search.index_text)


@dataclass(frozen=True)
class InvocationFinished:
    invocation_id: str
    ok: bool = True
    response: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class Usage:
    model: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cost_usd: float = 0.0
    invocation_id: str | None = None
    # Set by ingestion when neither the cost nor the model came with the usage: the cost is then priced from
    # the model of the call as stored (it was started in an earlier batch).
    price_from_call: bool = False


@dataclass(frozen=True)
class SetResult:
    result: Any


@dataclass(frozen=True)
class CancelRequest:
    pass


@dataclass(frozen=True)
class Describe:
    """What a source learnt late about a task it had to create from a part (an OTLP trace's root span
    arrives after its children): its title, and when it really began (the root's start, which is earlier
    than any child's: it becomes the task's creation and start time). Written with the ops around it; it
    appends no event of its own."""

    title: str
    began_at: datetime | None = None
    created_at: datetime | None = None  # the description's own time (a late `task` event's `at`)
    spec: TaskSpec | None = None  # the rest of a description that came late: payload, tags, limits …


@dataclass(frozen=True)
class ClientTime:
    """When the ops that follow happened by the producer's clock (naive UTC), or None for the server's own now.
    Sources that keep the producer's clock (POST /events with `at`, OTLP spans) put one before each item; it
    stamps the task's and calls' times and activity lines, never the event log, whose `at` stays the time it
    was recorded (the change feed, the write-rate views and the rollups' change tracking go by that)."""

    at: datetime | None


Op = (
    Transition
    | Progress
    | ActivityLine
    | InvocationStarted
    | InvocationFinished
    | CallReported
    | Usage
    | SetResult
    | CancelRequest
    | ClientTime
    | Describe
)
