"""API layer: fleet control and concurrency limits — drain, resume or stop workers, forget offline ones, and
the per-kind / per-tag limits (db/control/fleet.py, db/control/limits.py). Changes are operator's
(forgetting a worker is admin's, as deleting a task) and audited by the registry's guard."""

from __future__ import annotations

from flask.typing import ResponseReturnValue
from pydantic import Field

from dashboard.api.context import ctx, respond
from dashboard.api.errors import ApiError, not_found
from dashboard.api.registry import Audit, Role, endpoint
from dashboard.api.schemas import Body, Model, UtcDateTime
from db.control import fleet, limits
from db.core.timeutil import utcnow

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
    try:
        with ctx().svc.db.writing() as session:
            ids = fleet.control(session, worker_id, action)
    except fleet.WorkerNotFound:
        raise not_found(f"running worker {worker_id}", worker_id=worker_id) from None
    except fleet.CeleryWorkers as exc:
        raise ApiError(409, "celery_worker", str(exc), worker_id=worker_id, workers=exc.ids) from None
    return respond(WorkerControl, {"workers": ids, "control": fleet.CONTROLS[action]})


@endpoint(
    "POST",
    WORKER + "/drain",
    Role.OPERATOR,
    summary="Drain a worker (an id, or a name for every process of it): it finishes what it runs, claims nothing",
    responses={200: ("the workers acted on", WorkerControl)},
    errors=(400, 404, 409),
    audit=Audit("worker.drain", "worker", "worker_id"),
)
def drain_worker(worker_id: str) -> ResponseReturnValue:
    """It finishes what it runs and claims nothing new (from this request's commit on)."""
    return _control(worker_id, "drain")


@endpoint(
    "POST",
    WORKER + "/resume",
    Role.OPERATOR,
    summary="Let a drained worker claim again",
    responses={200: ("the workers acted on", WorkerControl)},
    errors=(400, 404, 409),
    audit=Audit("worker.resume", "worker", "worker_id"),
)
def resume_worker(worker_id: str) -> ResponseReturnValue:
    return _control(worker_id, "resume")


@endpoint(
    "POST",
    WORKER + "/stop",
    Role.OPERATOR,
    summary="Stop a worker gracefully: drained, its process ends once nothing runs",
    responses={200: ("the workers acted on", WorkerControl)},
    errors=(400, 404, 409),
    audit=Audit("worker.stop", "worker", "worker_id"),
)
def stop_worker(worker_id: str) -> ResponseReturnValue:
    """Drained, then its process ends once nothing runs."""
    return _control(worker_id, "stop")


@endpoint(
    "DELETE",
    WORKER,
    Role.ADMIN,
    summary="Forget an offline worker (its tasks keep its id)",
    responses={204: ("forgotten", None)},
    errors=(400, 404, 409),
    audit=Audit("worker.forget", "worker", "worker_id"),
)
def forget_worker(worker_id: str) -> ResponseReturnValue:
    try:
        with ctx().svc.db.writing() as session:
            fleet.forget(session, worker_id)
    except fleet.WorkerNotFound:
        raise not_found(f"worker {worker_id}", worker_id=worker_id) from None
    except fleet.WorkerStillOnline as exc:
        raise ApiError(409, "worker_online", str(exc), worker_id=worker_id) from None
    return "", 204


@endpoint(
    "GET",
    "/limits",
    Role.VIEWER,
    summary="Concurrency limits per kind or tag, with their use",
    responses={200: ("limits", LimitList)},
)
def list_limits() -> ResponseReturnValue:
    with ctx().svc.db.reading() as session:
        rows = limits.list_limits(session)
    return respond(LimitList, {"items": rows})


def _key(text: str) -> limits.Key:
    try:
        return limits.parse_key(text)
    except limits.LimitError as exc:
        raise ApiError(404, "not_found", f"no limit {text!r}: {exc.message}", key=text) from None


@endpoint(
    "PUT",
    LIMIT,
    Role.OPERATOR,
    summary="Set a fleet-wide limit of running tasks for kind:<kind> or tag:<tag>, enforced at claim time",
    responses={200: ("the limit", Limit)},
    errors=(400, 404, 413, 415, 422),
    body=LimitSet,
    audit=Audit("limit.set", "limit", "key"),
    path_notes={"key": "kind:<kind> or tag:<tag>"},
)
def set_limit(key: str, body: LimitSet) -> ResponseReturnValue:
    scope_value = _key(key)
    with ctx().svc.db.writing() as session:
        limits.set_limit(session, scope_value, body.max_running, utcnow())
    with ctx().svc.db.reading() as session:
        rows = limits.list_limits(session)
    (row,) = [r for r in rows if (r["scope"], r["value"]) == scope_value]
    return respond(Limit, row)


@endpoint(
    "DELETE",
    LIMIT,
    Role.OPERATOR,
    summary="Remove a limit",
    responses={204: ("removed", None)},
    errors=(400, 404),
    audit=Audit("limit.remove", "limit", "key"),
    path_notes={"key": "kind:<kind> or tag:<tag>"},
)
def remove_limit(key: str) -> ResponseReturnValue:
    scope_value = _key(key)
    with ctx().svc.db.writing() as session:
        removed = limits.remove_limit(session, scope_value)
    if not removed:
        raise not_found(f"limit {key}", key=key)
    return "", 204
