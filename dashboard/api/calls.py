"""API layer: a task's call tree (/tasks/<id>/calls), one call with its messages (/calls/<id>), full-text
search over messages (/search) and call latency percentiles by model, role or tool (/latency). Reads go
through db/calls.py, db/search.py and db/task_pages.py."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask.typing import ResponseReturnValue

from dashboard.api.call_schemas import CallDetail, CallTree, Latency, LatencyQuery, SearchQuery, SearchResult
from dashboard.api.context import ctx, respond
from dashboard.api.errors import bad_parameter, not_found
from dashboard.api.params import parse_query
from dashboard.api.registry import TASK, Role, endpoint
from dashboard.api.schemas import NoQuery
from db import calls, search, task_pages
from db.scope import ScopeError, parse_scope
from db.timeutil import utcnow


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
    params: list[tuple[str, str]] = []
    if q.from_ is not None:
        params.append(("from", q.from_.isoformat()))
        if q.to is not None:
            params.append(("to", q.to.isoformat()))
    elif q.to is not None:
        raise bad_parameter("to", "give from with to")
    else:
        params.append(("range", q.range))
    for dim in ("kind", "tag", "role", "model", "worker"):
        params += [(dim, v) for v in getattr(q, dim)]
    try:
        scope = parse_scope(urlencode(params), utcnow())
    except ScopeError as exc:
        raise bad_parameter("from", str(exc)) from None
    with ctx().svc.db.reading() as session:
        rows = calls.latency(session, scope, q.by)
    return respond(Latency, {"start": scope.start, "end": scope.end, "by": q.by, "rows": rows})
