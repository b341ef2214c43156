"""API layer: a task's call tree (/tasks/<id>/calls), one call with its messages (/calls/<id>), full-text
search over messages (/search) and call latency percentiles by model, role or tool (/latency). Reads go
through db/calls.py, db/search.py and db/task_pages.py."""

from __future__ import annotations

from typing import Any

from flask.typing import ResponseReturnValue

from dashboard.api.call_schemas import CallDetail, CallTree, Latency, LatencyQuery, SearchQuery, SearchResult
from dashboard.api.context import ctx, respond
from dashboard.api.errors import bad_parameter, not_found
from dashboard.api.params import parse_query, scope_of
from dashboard.api.registry import TASK, Role, endpoint
from dashboard.api.schemas import NoQuery
from db import calls, search, task_pages


@endpoint("GET", TASK + "/calls", Role.VIEWER)
def call_tree(task_id: int) -> ResponseReturnValue:
    parse_query(NoQuery)
    with ctx().svc.db.reading() as session:
        if not task_pages.task_exists(session, task_id):
            raise not_found(f"task {task_id}", task_id=task_id)
        rows = calls.task_calls(session, task_id)
    return respond(CallTree, {"task_id": task_id, "calls": calls.nest(rows), "count": len(rows)})


@endpoint("GET", "/calls/<call_id>", Role.VIEWER)
def get_call(call_id: str) -> ResponseReturnValue:
    parse_query(NoQuery)
    with ctx().svc.db.reading() as session:
        found: dict[str, Any] | None = task_pages.invocation(session, call_id)
    if found is None:
        raise not_found(f"call {call_id!r}", call_id=call_id)
    end, start = found["completed_at"], found["started_at"]
    found["duration_s"] = None if end is None else round((end - start).total_seconds(), 6)
    return respond(CallDetail, found)


@endpoint("GET", "/search", Role.VIEWER)
def search_calls() -> ResponseReturnValue:
    """Full-text search over calls' messages across tasks (SQLite FTS5, PostgreSQL full text)."""
    q = parse_query(SearchQuery)
    try:
        with ctx().svc.db.reading() as session:
            items = search.search(session, q.q, q.limit)
    except search.SearchError as exc:
        raise bad_parameter("q", str(exc)) from None
    return respond(SearchResult, {"items": items})


@endpoint("GET", "/latency", Role.VIEWER)
def latency() -> ResponseReturnValue:
    q = parse_query(LatencyQuery)
    scope = scope_of(q)
    with ctx().svc.db.reading() as session:
        rows = calls.latency(session, scope, q.by)
    return respond(Latency, {"start": scope.start, "end": scope.end, "by": q.by, "rows": rows})
