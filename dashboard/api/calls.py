"""API layer: the calls list (/calls: filters, sorts, cursor pages, as the /calls page and its CSV), a task's
call tree (/tasks/<id>/calls), one call with its messages (/calls/<id>), full-text search over messages
(/search) and call latency percentiles by model, role or tool (/latency). Reads go through db/read/calls/,
db/read/search.py and db/read/tasks/."""

from __future__ import annotations

from typing import Any

from flask.typing import ResponseReturnValue

from dashboard.api import cursor
from dashboard.api.call_schemas import (
    CallDetail,
    CallFilterQuery,
    CallListQuery,
    CallPage,
    CallTree,
    Latency,
    LatencyQuery,
    SearchQuery,
    SearchResult,
)
from dashboard.api.context import ctx, respond
from dashboard.api.errors import bad_parameter, not_found
from dashboard.api.params import scope_of, time_range
from dashboard.api.registry import TASK, Role, endpoint
from db.read import search
from db.read.call_view import CALLS
from db.read.calls import listing, tree
from db.read.calls.filters import CallFilter
from db.read.tasks import detail, history


def call_filter(q: CallFilterQuery) -> CallFilter:
    """The one CallFilter of the list's parameters (the API's and the CSV download's); a time range that does
    not resolve is a 400 naming range, from or to."""
    when = time_range(q.range, q.from_, q.to)
    return CallFilter(
        task_id=q.task,
        kinds=tuple(k.value for k in q.kind),
        statuses=tuple(s.value for s in q.status),
        model=q.model or None,
        name=(q.name or "").strip() or None,
        min_cost=q.min_cost,
        started_from=when.start,
        started_to=when.end,
    )


@endpoint(
    "GET",
    "/calls",
    Role.VIEWER,
    summary="List calls (model and tool invocations) across tasks: filters, a sort and cursor pages",
    responses={200: ("a page of calls", CallPage)},
    query=CallListQuery,
    description=(
        "Pages follow (sort key, id): a call inserted while you page never shifts the rows you have not seen."
        " The same filters as the /calls page and /export/calls.csv."
    ),
)
def list_calls(q: CallListQuery) -> ResponseReturnValue:
    flt = call_filter(q)
    return respond(
        CallPage, cursor.page(CALLS, q, lambda session, *at: listing.list_calls(session, flt, *at))
    )


@endpoint(
    "GET",
    TASK + "/calls",
    Role.VIEWER,
    summary="The task's calls as a tree (llm, tool, agent, retriever, other) with durations, tokens and cost",
    responses={200: ("the calls, nested under their parents", CallTree)},
    errors=(400, 404),
)
def call_tree(task_id: int) -> ResponseReturnValue:
    with ctx().svc.db.reading() as session:
        if not detail.task_exists(session, task_id):
            raise not_found(f"task {task_id}", task_id=task_id)
        rows = tree.task_calls(session, task_id)
    return respond(CallTree, {"task_id": task_id, "calls": tree.nest(rows), "count": len(rows)})


@endpoint(
    "GET",
    "/calls/<call_id>",
    Role.VIEWER,
    summary="One call with its duration and messages (a tool's arguments and result)",
    responses={200: ("the call", CallDetail)},
    errors=(400, 404),
)
def get_call(call_id: str) -> ResponseReturnValue:
    with ctx().svc.db.reading() as session:
        found: dict[str, Any] | None = history.invocation(session, call_id)
    if found is None:
        raise not_found(f"call {call_id!r}", call_id=call_id)
    end, start = found["completed_at"], found["started_at"]
    found["duration_s"] = None if end is None else round((end - start).total_seconds(), 6)
    return respond(CallDetail, found)


@endpoint(
    "GET",
    "/search",
    Role.VIEWER,
    summary="Full-text search over calls' messages across tasks",
    responses={200: ("matching tasks with their matching calls", SearchResult)},
    query=SearchQuery,
    description=(
        "Every word must appear (any case; SQLite FTS5 terms, PostgreSQL `simple` full text). Indexed: the "
        "user and assistant text of calls reported with messages (OTLP spans, `call` events)."
    ),
)
def search_calls(q: SearchQuery) -> ResponseReturnValue:
    """Full-text search over calls' messages across tasks (SQLite FTS5, PostgreSQL full text)."""
    try:
        with ctx().svc.db.reading() as session:
            items = search.search(session, q.q, q.limit)
    except search.SearchError as exc:
        raise bad_parameter("q", str(exc)) from None
    return respond(SearchResult, {"items": items})


@endpoint(
    "GET",
    "/latency",
    Role.VIEWER,
    summary="Call latency percentiles (p50/p95/p99) by model, role or tool over a range",
    responses={200: ("a row per model, role or tool, busiest first", Latency)},
    query=LatencyQuery,
    description=(
        "Durations are the producer's own (client `at`, span start and end), exact: one sort per group in the"
        " database."
    ),
)
def latency(q: LatencyQuery) -> ResponseReturnValue:
    scope = scope_of(q)
    with ctx().svc.db.reading() as session:
        rows = tree.latency(session, scope, q.by)
    return respond(Latency, {"start": scope.start, "end": scope.end, "by": q.by, "rows": rows})
