"""API layer: fleet control and concurrency limits — drain, resume or stop workers, forget offline ones, and
the per-kind / per-tag limits (db/fleet.py, db/limits.py). Changes are operator's (forgetting a worker is
admin's, as deleting a task) and audited by the registry's guard."""

from __future__ import annotations

from flask.typing import ResponseReturnValue
from pydantic import Field

from dashboard.api.context import ctx, respond
from dashboard.api.errors import ApiError, not_found
from dashboard.api.params import json_body, parse_json, parse_query
from dashboard.api.registry import Role, endpoint
from dashboard.api.schemas import Body, Model, NoQuery, UtcDateTime
from db import fleet, limits
from db.timeutil import utcnow

WORKER = "/workers/<worker_id>"
LIMIT = "/limits/<key>"


class WorkerControl(Model):
    workers: list[str] = Field(description="the worker ids acted on (a name names every process of it)")
    control: str | None = Field(description="drain, stop, or null (claiming as usual)")


class LimitSet(Body):
    max_running: int = Field(ge=1, le=100_000)


class Limit(Model):
    scope: str = Field(description="kind or tag")
    value: str
    max_running: int
    running: int = Field(description="tasks it covers running now")
    updated_at: UtcDateTime


class LimitList(Model):
    items: list[Limit]


def _control(worker_id: str, action: str) -> ResponseReturnValue:
    parse_query(NoQuery)
    try:
        with ctx().svc.db.writing() as session:
            ids = fleet.control(session, worker_id, action)
    except fleet.WorkerNotFound:
        raise not_found(f"running worker {worker_id}", worker_id=worker_id) from None
    return respond(WorkerControl, {"workers": ids, "control": fleet.CONTROLS[action]})


@endpoint("POST", WORKER + "/drain", Role.OPERATOR)
def drain_worker(worker_id: str) -> ResponseReturnValue:
    """It finishes what it runs and claims nothing new (from this request's commit on)."""
    return _control(worker_id, "drain")


@endpoint("POST", WORKER + "/resume", Role.OPERATOR)
def resume_worker(worker_id: str) -> ResponseReturnValue:
    return _control(worker_id, "resume")


@endpoint("POST", WORKER + "/stop", Role.OPERATOR)
def stop_worker(worker_id: str) -> ResponseReturnValue:
    """Drained, then its process ends once nothing runs."""
    return _control(worker_id, "stop")


@endpoint("DELETE", WORKER, Role.ADMIN)
def forget_worker(worker_id: str) -> ResponseReturnValue:
    parse_query(NoQuery)
    try:
        with ctx().svc.db.writing() as session:
            fleet.forget(session, worker_id)
    except fleet.WorkerNotFound:
        raise not_found(f"worker {worker_id}", worker_id=worker_id) from None
    except fleet.WorkerStillOnline as exc:
        raise ApiError(409, "worker_online", str(exc), worker_id=worker_id) from None
    return "", 204


@endpoint("GET", "/limits", Role.VIEWER)
def list_limits() -> ResponseReturnValue:
    parse_query(NoQuery)
    with ctx().svc.db.reading() as session:
        rows = limits.list_limits(session)
    return respond(LimitList, {"items": rows})


def _key(text: str) -> limits.Key:
    try:
        return limits.parse_key(text)
    except limits.LimitError as exc:
        raise ApiError(404, "not_found", f"no limit {text!r}: {exc.message}", key=text) from None


@endpoint("PUT", LIMIT, Role.OPERATOR)
def set_limit(key: str) -> ResponseReturnValue:
    parse_query(NoQuery)
    scope_value = _key(key)
    body: LimitSet = parse_json(LimitSet, json_body())
    with ctx().svc.db.writing() as session:
        limits.set_limit(session, scope_value, body.max_running, utcnow())
    with ctx().svc.db.reading() as session:
        rows = limits.list_limits(session)
    (row,) = [r for r in rows if (r["scope"], r["value"]) == scope_value]
    return respond(Limit, row)


@endpoint("DELETE", LIMIT, Role.OPERATOR)
def remove_limit(key: str) -> ResponseReturnValue:
    parse_query(NoQuery)
    scope_value = _key(key)
    with ctx().svc.db.writing() as session:
        removed = limits.remove_limit(session, scope_value)
    if not removed:
        raise not_found(f"limit {key}", key=key)
    return "", 204
