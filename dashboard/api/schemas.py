"""API layer: the pydantic models of /api/v1's requests, query strings and responses (the OpenAPI document's
schemas are generated from these, so the document and the validation are one thing)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
)

from dashboard.api.view_models import dataclass_model, view_model
from db.core.timeutil import iso, to_naive_utc
from db.domain.states import ActivityType, TaskKind, TaskStatus
from db.read.call_view import CALLS
from db.read.overview import Kpis
from db.read.task_view import TASKS
from db.read.timerange import RANGES

MAX_ID = 2**63 - 1
MAX_LIMIT = 500

# Times go out as ISO 8601 UTC with a Z (as on the websocket); times coming in may carry an offset and are
# stored as naive UTC.
UtcDateTime = Annotated[
    datetime,
    AfterValidator(to_naive_utc),
    PlainSerializer(iso, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]
TaskId = Annotated[int, Field(ge=1, le=MAX_ID)]
# Ids are matched as stored, and PostgreSQL cannot store NUL (U+0000): an id holding one is refused (422).
NO_NUL = r"^[^\x00]*$"


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Body(BaseModel):
    """A request body: unknown fields and wrong JSON types are errors (no "5" for 5)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class NoQuery(Model):
    """An endpoint without query parameters: any given is an error."""


# ---- errors ------------------------------------------------------------------------------------------
class ErrorDetail(Model):
    code: str = Field(description="stable, machine-readable: bad_parameter, validation_error, not_found, …")
    message: str
    details: dict[str, Any] = Field(description="what was wrong: field, parameter, index, errors")


class ErrorBody(Model):
    error: ErrorDetail


# ---- tasks -------------------------------------------------------------------------------------------
class TaskCreate(Body):
    """A task to queue; the same rules as `python app.py submit`."""

    title: str = Field(max_length=500)
    kind: TaskKind
    payload: dict[str, Any] = Field(default_factory=dict)
    priority: int = Field(0, ge=-1000, le=1000)
    tags: list[str] = Field(default_factory=list, max_length=20)
    created_by: str = Field("", max_length=200)
    max_attempts: int = Field(1, ge=1, le=100)
    max_iterations: int | None = Field(None, ge=1, le=2**31 - 1)
    timeout_seconds: float | None = Field(None, gt=0, le=10**9)
    external_id: str | None = Field(
        None, min_length=1, max_length=200, pattern=NO_NUL, description="your own unique key"
    )


MAX_TASK_BATCH = 1_000


class TaskBatchCreate(Body):
    """Tasks to queue together: all of them or, if any is refused, none."""

    tasks: list[TaskCreate] = Field(min_length=1, max_length=MAX_TASK_BATCH)


class TaskBatchCreated(Model):
    ids: list[int] = Field(description="the new tasks' ids, in the order they were given")
    count: int


# A task as the API shows it, and with the fields only the one-task answer carries: derived from the declared
# view (db/read/task_view.py), so a field added there is in the answers, their validation and the OpenAPI document.
if TYPE_CHECKING:

    class Task(Model): ...

    class TaskDetail(Task): ...

else:
    Task = view_model(TASKS, "Task", base=Model, utc=UtcDateTime)
    TaskDetail = view_model(
        TASKS,
        "TaskDetail",
        base=Task,
        utc=UtcDateTime,
        detail=True,
        extra={
            "event_count": (int, Field(description="rows of the task in the event log")),
            "updates_per_minute": (
                float | None,
                Field(description="update_count over the task's life so far"),
            ),
        },
    )


class TaskPage(Model):
    items: list[Task]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last one")
    limit: int


class TaskAction(Model):
    """What cancel and retry did: the task's status now."""

    id: int
    status: TaskStatus
    attempt: int
    cancel_requested: bool


# db/read/timerange.RANGES, the one vocabulary of `range` (the analytics' default 7d is one of them).
if TYPE_CHECKING:
    RangeKey = str
else:
    RangeKey = Literal[tuple(RANGES)]


# The view's cursor keys (db/read/tasks/listing.SORTS), ascending or (with a leading -) descending.
if TYPE_CHECKING:
    SortName = str
else:
    SortName = Literal[tuple(f"{sign}{name}" for name in TASKS.cursors for sign in ("", "-"))]


class TaskListQuery(Model):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    status: list[TaskStatus] = Field(default_factory=list, description="repeat or comma-separate")
    kind: list[TaskKind] = Field(default_factory=list, description="repeat or comma-separate")
    tag: str | None = Field(None, max_length=100)
    worker: str | None = Field(None, max_length=200)
    created_by: str | None = Field(None, max_length=200)
    text: str | None = Field(
        None, max_length=200, description="in the title or creator; a number matches the id"
    )
    messages: str | None = Field(
        None,
        max_length=200,
        description="words that must all appear (any case) in the user or assistant messages of one of "
        "the task's calls; punctuation and search operators are ignored",
    )
    range: RangeKey | None = Field(
        None, description="created in the last 1h … 90d; ignored when from or to is given"
    )
    from_: UtcDateTime | None = Field(None, alias="from", description="created at or after this time")
    to: UtcDateTime | None = Field(None, description="created before this time")
    created_from: UtcDateTime | None = Field(None, description="the older name of from")
    created_to: UtcDateTime | None = Field(None, description="the older name of to")
    sort: SortName = Field("-created_at", description="a field, descending with a leading -")
    limit: int = Field(50, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(None, max_length=500, description="next_cursor of the previous page")


# ---- a task's events, activity and calls -------------------------------------------------------------
class TimelineEvent(Model):
    """One row of the event log, as the websocket sends it."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, serialize_by_alias=True)

    seq: int
    type: str
    at: UtcDateTime
    task_id: int | None
    from_: TaskStatus | None = Field(None, alias="from")
    to: TaskStatus | None = None
    invocation_id: str | None = None
    worker_id: str | None = None
    data: dict[str, Any]


class TimelinePage(Model):
    items: list[TimelineEvent]
    next_after: int | None = Field(description="pass as ?after= for the next page; null on the last one")


class ActivityLineOut(Model):
    id: int
    task_id: int
    invocation_id: str | None
    type: ActivityType
    stream: str | None
    message: str
    at: UtcDateTime


class ActivityPage(Model):
    items: list[ActivityLineOut]
    next_after: int | None


class PageQuery(Model):
    after: int = Field(0, ge=0, le=MAX_ID, description="the last seq (or id) you have; 0 from the start")
    limit: int = Field(500, ge=1, le=5000)


# One call with its activity lines: the call's fields derived from the declared view (db/read/call_view.py).
if TYPE_CHECKING:

    class InvocationDetail(Model): ...

else:
    InvocationDetail = view_model(
        CALLS,
        "InvocationDetail",
        base=Model,
        utc=UtcDateTime,
        detail=True,
        extra={"activity": (list[ActivityLineOut], ...), "activity_truncated": (bool, ...)},
    )


# ---- fleet and figures -------------------------------------------------------------------------------
if TYPE_CHECKING:

    class Stats(Model): ...

else:
    # The fields of db/read/overview.Kpis, after the time of reading and the active sum.
    Stats = dataclass_model(
        Kpis,
        "Stats",
        base=Model,
        utc=UtcDateTime,
        doc="The overview's KPIs (today is the UTC day).",
        first={"as_of": (UtcDateTime, ...), "active": (int, Field(description="queued + running"))},
    )


class WorkerOut(Model):
    id: str
    name: str
    host: str
    pid: int
    status: str
    running_count: int
    concurrency: int
    current_task_id: int | None
    started_at: UtcDateTime
    last_seen_at: UtcDateTime
    tasks_completed: int = Field(description="since the worker registered: runs that completed")
    tasks_failed: int = Field(
        description="since the worker registered: runs that ended otherwise (failed, timed out or cancelled)"
    )
    completed_today: int = Field(description="tasks it ran that completed today (UTC)")
    failed_today: int = Field(
        description="tasks it ran that failed or timed out today (UTC), as /stats counts"
    )
    cancelled_today: int = Field(description="tasks it ran that were cancelled today (UTC)")


class WorkerList(Model):
    items: list[WorkerOut]


class WorkersQuery(Model):
    limit: int = Field(100, ge=1, le=MAX_LIMIT)


CostDimension = Literal["model", "role", "provider", "kind", "created_by", "tag"]


class CostsQuery(Model):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    period: Literal["day", "week", "month"] = Field("day", description="the series' time bucket")
    by: CostDimension = Field("model", description="the breakdown's and the series' dimension")
    range: RangeKey = Field("7d", description="ignored when from is given")
    from_: UtcDateTime | None = Field(None, alias="from", description="custom range start (UTC)")
    to: UtcDateTime | None = Field(None, description="custom range end (UTC), default now")
    kind: list[str] = Field(default_factory=list)
    tag: list[str] = Field(default_factory=list)
    role: list[str] = Field(default_factory=list)
    model: list[str] = Field(default_factory=list)
    worker: list[str] = Field(default_factory=list)


class CostRange(Model):
    start: UtcDateTime
    end: UtcDateTime
    key: str


class CostTotalsOut(Model):
    cost_usd: float
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    calls: int
    tasks: int
    completed_tasks: int
    cost_per_task: float | None
    cost_per_success: float | None


class CostRow(Model):
    key: str
    cost_usd: float
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    calls: int


class CostPoint(Model):
    bucket: UtcDateTime
    key: str
    cost_usd: float
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int


class Costs(Model):
    range: CostRange
    period: str
    by: str
    totals: CostTotalsOut
    breakdown: list[CostRow]
    series: list[CostPoint]


# ---- health ------------------------------------------------------------------------------------------
class Health(Model):
    status: Literal["ok"]


class Check(Model):
    ok: bool
    message: str
    code: str | None = Field(
        None,
        description="why it failed, when the database cannot be used: database_unavailable or storage_full",
    )


class Ready(Model):
    ready: bool
    checks: dict[str, Check]
    reasons: list[str]


# ---- the audit log -----------------------------------------------------------------------------------
class AuditQuery(Model):
    action: str | None = Field(
        None,
        max_length=50,
        description='one action (task.cancel), or all under a prefix ending in "." (task.)',
    )
    actor: str | None = Field(None, max_length=200, description="token:<name>, cli, dashboard or api")
    target: str | None = Field(None, max_length=200, description="what was acted on, e.g. task:42")
    before: int | None = Field(None, ge=1, le=MAX_ID, description="next_before of the previous page")
    limit: int = Field(100, ge=1, le=MAX_LIMIT)


class AuditEntry(Model):
    id: int
    at: UtcDateTime
    actor: str = Field(description="who: token:<name>, cli, dashboard, or api when access control is off")
    action: str
    target: str
    details: dict[str, Any]


class AuditPage(Model):
    items: list[AuditEntry] = Field(description="newest first")
    next_before: int | None = Field(description="pass as ?before= for the next page; null on the last one")
    limit: int
