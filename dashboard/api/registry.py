"""API layer: every endpoint of /api/v1 in one table — its method, path, handler and the role it needs — so
that access control is one decorator here (`guard`) and the OpenAPI document can be checked against it."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from flask import g
from flask.typing import ResponseReturnValue
from werkzeug.routing import BaseConverter

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
    """The one place a request meets the endpoint's role. There is no authentication yet, so every caller is
    let through; the role is kept on `g` for the request's log line and for the check that will go here."""

    @functools.wraps(call)
    def guarded(*args: Any, **kwargs: Any) -> ResponseReturnValue:
        g.api_role = ep.role
        return call(*args, **kwargs)

    return guarded


def actor() -> str:
    """Who the event log says did it; the authenticated principal once there is one."""
    return "api"
