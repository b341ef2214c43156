"""API layer: response and query models of the calls list (derived from the declared view, db/read/call_view.py),
the call tree, a call with its messages, and call latency."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import ConfigDict, Field

from dashboard.api.schemas import MAX_LIMIT, InvocationDetail, Model, RangeKey, TaskId, UtcDateTime
from dashboard.api.view_models import view_model
from db.domain.states import CallKind, InvocationStatus
from db.read.call_view import CALLS

# ---- the calls list ----------------------------------------------------------------------------------
# A call as the list shows it: the view's API fields (the messages only in the one-call answer).
if TYPE_CHECKING:
    CallSortName = str

    class Call(Model): ...

else:
    # The view's cursor keys, ascending or (with a leading -) descending.
    CallSortName = Literal[tuple(f"{sign}{name}" for name in CALLS.cursors for sign in ("", "-"))]
    Call = view_model(CALLS, "Call", base=Model, utc=UtcDateTime)


class CallFilterQuery(Model):
    """The calls list's filters: one set for the API, the /calls page's address and its CSV download."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    task: TaskId | None = Field(None, description="the calls of one task")
    kind: list[CallKind] = Field(default_factory=list, description="repeat or comma-separate")
    status: list[InvocationStatus] = Field(default_factory=list, description="repeat or comma-separate")
    model: str | None = Field(None, max_length=200, description="exactly this model")
    name: str | None = Field(None, max_length=200, description="text in the call's name or model (any case)")
    min_cost: float | None = Field(None, ge=0, allow_inf_nan=False, description="cost_usd at least this")
    range: RangeKey | None = Field(
        None, description="started in the last 1h … 90d; ignored when from or to is given"
    )
    from_: UtcDateTime | None = Field(None, alias="from", description="started at or after this time")
    to: UtcDateTime | None = Field(None, description="started before this time")


class CallListQuery(CallFilterQuery):
    sort: CallSortName = Field("-started_at", description="a field, descending with a leading -")
    limit: int = Field(50, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(None, max_length=500, description="next_cursor of the previous page")


class CallExportQuery(CallFilterQuery):
    """The CSV download's: the page's filters and the grid's sort (field:asc or field:desc, repeatable)."""

    sort: list[str] = Field(default_factory=list)


class CallPage(Model):
    items: list[Call]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null on the last one")
    limit: int


class CallNode(Model):
    id: str
    parent_id: str | None = Field(
        description="the call it was made in; a call whose parent is not reported "
        "yet stands at the top and keeps it"
    )
    kind: str = Field(description="llm, tool, agent, retriever or other")
    name: str
    iteration: int | None
    role: str
    provider: str
    model: str
    status: str
    started_at: UtcDateTime
    completed_at: UtcDateTime | None
    last_activity_at: UtcDateTime | None
    duration_s: float | None = Field(description="completed_at - started_at; null while running")
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cost_usd: float
    prompt: str | None = Field(description="a preview; GET /calls/{call_id} gives the messages")
    response: str | None
    error: str | None
    placeholder: bool = Field(description="a stand-in: its end or usage was reported, its start not yet")
    children: list[CallNode]


class CallTree(Model):
    task_id: int
    calls: list[CallNode] = Field(description="the top calls, each with its children, in start order")
    count: int = Field(description="calls in the tree")


class CallDetail(InvocationDetail):
    duration_s: float | None


class LatencyQuery(Model):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    by: Literal["model", "role", "tool"] = Field("model", description="tool: calls of kind tool, by name")
    range: RangeKey = Field("7d", description="ignored when from is given")
    from_: UtcDateTime | None = Field(None, alias="from", description="custom range start (UTC)")
    to: UtcDateTime | None = Field(None, description="custom range end (UTC), default now")
    kind: list[str] = Field(default_factory=list, description="task kinds")
    tag: list[str] = Field(default_factory=list)
    role: list[str] = Field(default_factory=list)
    model: list[str] = Field(default_factory=list)
    worker: list[str] = Field(default_factory=list, description="the task's worker or agent (service.name)")


class SearchQuery(Model):
    model_config = ConfigDict(extra="forbid")

    q: str = Field(min_length=1, max_length=500, description="words that must all appear (any case)")
    limit: int = Field(50, ge=1, le=500, description="tasks at most")


class SearchHit(Model):
    task_id: int
    title: str
    status: str
    calls: list[str] = Field(description="the task's calls whose messages hold the words (GET /calls/{id})")


class SearchResult(Model):
    items: list[SearchHit] = Field(description="tasks, the most recent match first")


class LatencyRow(Model):
    key: str = Field(description="the model, role or tool name")
    calls: int
    mean_s: float
    p50_s: float = Field(description="nearest rank at or below, as every percentile of TaskLens")
    p95_s: float
    p99_s: float
    max_s: float


class Latency(Model):
    start: UtcDateTime
    end: UtcDateTime
    by: str
    rows: list[LatencyRow]
