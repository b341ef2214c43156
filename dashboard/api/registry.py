"""API layer: every endpoint of /api/v1 declared once (`@endpoint`: method, path, role, models, answers, audit
action, summary) into one table, from which blueprint.py routes, `guard` checks access, validates the request
and audits, and openapi.py writes the document."""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from flask import current_app, g, request
from flask.typing import ResponseReturnValue
from pydantic import BaseModel
from werkzeug.routing import BaseConverter

from dashboard import access
from dashboard.api.errors import ApiError
from dashboard.api.params import BODY_LIMIT, json_body, parse_json, parse_query
from dashboard.api.schemas import NoQuery
from dashboard.throttle import Throttled
from db.access.audit import record
from db.access.tokens import role_allows
from db.core.timeutil import utcnow

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
# What an operation answers on success: status -> (description, response model, or a raw OpenAPI content map
# for non-JSON answers, or None for an empty body).
Responses = dict[int, tuple[str, type[BaseModel] | dict[str, Any] | None]]


@dataclass(frozen=True)
class Audit:
    """The audit row a successful write leaves: `action` on `<target>:<id>`, the id being the path parameter
    `param`, else the answer's "id"; with `many`, one row per id in the answer's "ids"."""

    action: str
    target: str
    param: str | None = None
    many: bool = False


# The handler writes its audit rows itself, in its own transaction (POST /events: kept exactly when the batch is).
OWN_AUDIT = Audit("", "")


@dataclass(frozen=True)
class Endpoint:
    """One operation of /api/v1, declared once (`endpoint`): the Flask rule, the guard (role, audit), the
    request's validation and the OpenAPI operation are all read from here."""

    method: str
    rule: str  # Flask rule under PREFIX, e.g. /tasks/<task_id:task_id>
    role: Role
    operation_id: str
    handler: Handler
    summary: str
    responses: Responses
    errors: tuple[int, ...]  # error statuses besides the guard's (401, 403, 429)
    description: str
    query: type[BaseModel] | None  # passed as `q`; None: the endpoint takes no query parameters
    body: type[BaseModel] | None  # the JSON body, passed as `body`
    body_limit: int
    body_tags: frozenset[str]  # discriminator tags kept out of a 422's field (params.parse_json)
    own_query: bool  # the handler reads the query string itself (CSV exports: the page's parameters)
    audit: Audit | None  # None: a write is logged as api.<operation_id> on its path
    path_notes: dict[str, str]  # descriptions of path parameters


ENDPOINTS: list[Endpoint] = []


def endpoint(
    method: str,
    rule: str,
    role: Role,
    *,
    summary: str,
    responses: Responses,
    errors: tuple[int, ...] = (400,),
    description: str = "",
    query: type[BaseModel] | None = None,
    body: type[BaseModel] | None = None,
    body_limit: int = BODY_LIMIT,
    body_tags: frozenset[str] = frozenset(),
    own_query: bool = False,
    audit: Audit | None = None,
    path_notes: dict[str, str] | None = None,
) -> Callable[[Handler], Handler]:
    """Declares a handler: blueprint.mount registers every declared one through `guard`, and openapi.py
    describes it."""

    def declare(handler: Handler) -> Handler:
        # The guard passes the parsed query as `q` and the body as `body`: a handler whose signature disagrees
        # with its declaration fails here, at import, not on its first request.
        passed = {name for name, model in (("q", query), ("body", body)) if model is not None}
        taken = set(inspect.signature(handler).parameters) & {"q", "body"}
        if passed != taken:
            raise TypeError(
                f"{handler.__name__} takes {sorted(taken)}, its declaration passes {sorted(passed)}"
            )
        ENDPOINTS.append(
            Endpoint(
                method,
                rule,
                role,
                handler.__name__,
                handler,
                summary,
                responses,
                errors,
                description,
                query,
                body,
                body_limit,
                body_tags,
                own_query,
                audit,
                path_notes or {},
            )
        )
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
        response = current_app.make_response(call(*args, **kwargs, **_validated(ep)))
        if ep.method != "GET" and response.status_code < 400:
            _audit(ep, kwargs, response)
        return response

    return guarded


def _validated(ep: Endpoint) -> dict[str, Any]:
    """The request checked as declared, in the order the answers are documented: the query string (400), then
    the body's type, size and fields (415, 413, 400, 422)."""
    given: dict[str, Any] = {}
    if ep.query is not None:
        given["q"] = parse_query(ep.query)
    elif not ep.own_query:
        parse_query(NoQuery)
    if ep.body is not None:
        given["body"] = parse_json(ep.body, json_body(ep.body_limit), ep.body_tags)
    return given


def _audit(ep: Endpoint, kwargs: dict[str, Any], response: Any) -> None:
    """Audit rows of a successful write, as its declaration says."""
    audit = ep.audit
    if audit is OWN_AUDIT:
        return
    rows: list[tuple[str, str, dict[str, Any]]] = []
    if audit is None:
        rows.append((f"api.{ep.operation_id}", request.path, {}))
    elif audit.many:
        body = response.get_json(silent=True) or {}
        rows += [(audit.action, f"{audit.target}:{i}", {"batch": True}) for i in body.get("ids", [])]
    else:
        key = kwargs.get(audit.param) if audit.param else None
        if key is None:
            key = (response.get_json(silent=True) or {}).get("id")
        rows.append((audit.action, f"{audit.target}:{key}", {}))
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
