"""API layer: every endpoint of /api/v1 in one table — its method, path, handler and the role it needs — so
that access control is one decorator here (`guard`) and the OpenAPI document can be checked against it."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from flask import current_app, g, request
from flask.typing import ResponseReturnValue
from werkzeug.routing import BaseConverter

from dashboard import access
from dashboard.api.errors import ApiError
from dashboard.throttle import Throttled
from db.audit import record
from db.timeutil import utcnow
from db.tokens import role_allows

PREFIX = "/api/v1"
# A task id in a path: 1 to 18 digits, so within BIGINT; anything else matches no rule (404 from the
# catch-all) rather than reaching the database (blueprint.py registers the converter).
TASK = "/tasks/<task_id:task_id>"


class AnyPathConverter(BaseConverter):
    """The catch-all's rest of the path — any characters, newlines included (Werkzeug's `path` stops at one,
    and the request would fall through to an HTML 404)."""

    regex = r"[\s\S]+"
    part_isolating = False
    weight = 200


class TaskIdConverter(BaseConverter):
    regex = r"[1-9][0-9]{0,17}"
    weight = 50

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: Any) -> str:
        return str(int(value))


class Role(StrEnum):
    """Who may call an endpoint, each role including the ones before it."""

    VIEWER = "viewer"  # reads: lists, details, stats, metrics, exports
    OPERATOR = "operator"  # acts on tasks: create, cancel, retry, report events
    ADMIN = "admin"  # destroys: delete


Handler = Callable[..., ResponseReturnValue]


@dataclass(frozen=True)
class Endpoint:
    method: str
    rule: str  # Flask rule under PREFIX, e.g. /tasks/<int:task_id>
    role: Role
    operation_id: str
    handler: Handler


ENDPOINTS: list[Endpoint] = []


def endpoint(method: str, rule: str, role: Role) -> Callable[[Handler], Handler]:
    """Declares a handler; blueprint.mount registers every declared one through `guard`."""

    def declare(handler: Handler) -> Handler:
        ENDPOINTS.append(Endpoint(method, rule, role, handler.__name__, handler))
        return handler

    return declare


def guard(ep: Endpoint, call: Handler) -> Handler:
    """The one place a request meets the endpoint's role: the caller's rate limit (429), then, with auth on,
    who it is (401 without a valid bearer token) and whether its role may (403); successful writes are
    written to the audit log."""

    @functools.wraps(call)
    def guarded(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        g.api_role = ep.role
        acc = access.current()
        # A session cookie counts for reads only: a write needs the bearer header, which no other site can send.
        try:
            who = acc.caller(allow_session=request.method in ("GET", "HEAD"))
        except Throttled as exc:
            raise ApiError(
                429,
                "too_many_failures",
                str(exc.description),
                headers={"Retry-After": str(exc.seconds)},
                retry_after=exc.seconds,
            ) from None
        g.principal = who
        if acc.limiter is not None:
            wait = acc.limiter.take(f"token:{who.token_id}" if who else f"ip:{request.remote_addr}")
            if wait > 0:
                seconds = max(1, math.ceil(wait))
                raise ApiError(
                    429,
                    "rate_limited",
                    f"too many requests; try again in {seconds} s",
                    headers={"Retry-After": str(seconds)},
                    retry_after=seconds,
                )
        if acc.enabled:
            if who is None:
                sent = bool(request.headers.get("Authorization"))
                raise ApiError(
                    401,
                    "unauthorized",
                    "that token is not valid or has been revoked"
                    if sent
                    else "send Authorization: Bearer <token> (python app.py token create)",
                    headers={"WWW-Authenticate": 'Bearer realm="tasklens"'},
                )
            if not role_allows(who.role, ep.role):
                raise ApiError(
                    403,
                    "forbidden",
                    f"{ep.method} {PREFIX}{ep.rule} needs the {ep.role} role; token {who.name!r} is {who.role}",
                    needed=str(ep.role),
                    role=who.role,
                )
        response = current_app.make_response(call(*args, **kwargs))
        if ep.method != "GET" and response.status_code < 400:
            _audit(ep, kwargs, response)
        return response

    return guarded


AUDITED = {
    "create_task": "task.create",
    "cancel_task": "task.cancel",
    "retry_task": "task.retry",
    "delete": "task.delete",
}

SCHEDULE_AUDITED = {
    "create_schedule": "schedule.create",
    "update_schedule": "schedule.edit",
    "pause_schedule": "schedule.pause",
    "resume_schedule": "schedule.resume",
    "delete_schedule": "schedule.remove",
}

FLEET_AUDITED = {
    "drain_worker": ("worker.drain", "worker"),
    "resume_worker": ("worker.resume", "worker"),
    "stop_worker": ("worker.stop", "worker"),
    "forget_worker": ("worker.forget", "worker"),
    "set_limit": ("limit.set", "limit"),
    "remove_limit": ("limit.remove", "limit"),
}


def _audit(ep: Endpoint, kwargs: dict[str, Any], response: Any) -> None:
    """Audit rows of a successful write: the task acted on (event batches record theirs themselves)."""
    rows: list[tuple[str, str, dict[str, Any]]] = []
    if ep.operation_id == "ingest":
        return  # dashboard/api/events.py records the tasks a batch created in the batch's own transaction
    if ep.operation_id == "create_tasks_batch":
        body = response.get_json(silent=True) or {}
        rows += [("task.create", f"task:{task_id}", {"batch": True}) for task_id in body.get("ids", [])]
    elif ep.operation_id in FLEET_AUDITED:
        action, target = FLEET_AUDITED[ep.operation_id]
        name = kwargs.get("worker_id") if target == "worker" else kwargs.get("key")
        rows.append((action, f"{target}:{name}", {}))
    elif ep.operation_id in SCHEDULE_AUDITED:
        schedule_id = kwargs.get("schedule_id")
        if schedule_id is None:
            schedule_id = (response.get_json(silent=True) or {}).get("id")
        rows.append((SCHEDULE_AUDITED[ep.operation_id], f"schedule:{schedule_id}", {}))
    elif ep.operation_id in AUDITED:
        task_id = kwargs.get("task_id")
        if task_id is None:
            body = response.get_json(silent=True) or {}
            task_id = body.get("id")
        rows.append((AUDITED[ep.operation_id], f"task:{task_id}", {}))
    else:
        rows.append((f"api.{ep.operation_id}", request.path, {}))
    if not rows:
        return
    now = utcnow()
    with access.current().svc.db.writing() as session:
        for action, target, details in rows:
            record(session, actor(), action, target, {"method": ep.method, **details}, now=now)


def actor() -> str:
    """Who the event log and the audit log say did it: the calling token, else "api" (auth off)."""
    who = g.get("principal")
    return who.actor if who is not None else "api"
