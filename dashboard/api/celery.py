"""API layer: Flower's controls through the Celery broker (dashboard/celerycontrol.py) — revoke or terminate
a task, rate-limit a task type, grow or shrink a worker's pool — operator's, audited by the registry's guard;
and the broker's queue lengths, viewer's. Without TASKLENS_CELERY_BROKER each answers 409."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from flask.typing import ResponseReturnValue
from pydantic import Field

from dashboard import celerycontrol
from dashboard.api.context import ctx, respond
from dashboard.api.errors import ApiError
from dashboard.api.registry import Role, endpoint
from dashboard.api.schemas import Body, Model, UtcDateTime
from db import broker_queues


class RevokeBody(Body):
    terminate: bool = Field(False, description="also kill it if it is running (prefork pools)")
    signal: Literal["SIGTERM", "SIGKILL", "SIGINT", "SIGQUIT", "SIGUSR1"] = "SIGTERM"


class RateLimitBody(Body):
    rate: str = Field(
        pattern=r"^(0|\d+(\.\d+)?(/[smh])?)$",
        description='tasks per second, minute or hour ("10/m"); "0" removes',
    )


class PoolBody(Body):
    change: int = Field(ge=-64, le=64, description="processes to add (positive) or remove (negative)")


class ControlSent(Model):
    sent: bool = Field(description="the command went out on the broker")
    workers: list[str] = Field(default_factory=list, description="workers that confirmed within a second")


class Queue(Model):
    broker: str = Field(description="the broker's URL without its password")
    name: str
    messages: int | None = Field(description="waiting in the broker; null when the broker does not know it")
    measured_at: UtcDateTime = Field(description="when the Celery source measured it (every 10 s)")


class QueueList(Model):
    items: list[Queue]


def _broker() -> str | None:
    return ctx().svc.settings.celery_broker


def _call(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except celerycontrol.NoBroker as exc:
        raise ApiError(409, "no_celery_broker", str(exc)) from None
    except (OSError, ConnectionError) as exc:
        raise ApiError(503, "broker_unavailable", f"the Celery broker cannot be reached: {exc}") from None


@endpoint(
    "POST",
    "/celery/tasks/<celery_id>/revoke",
    Role.OPERATOR,
    summary="Revoke a Celery task by its id on every worker (terminate: also kill it if it runs)",
    responses={200: ("the command was sent", ControlSent)},
    errors=(400, 409, 415, 422),
    body=RevokeBody,
    path_notes={"celery_id": "Celery's task id (the task's external_id)"},
)
def revoke_celery_task(celery_id: str, body: RevokeBody) -> ResponseReturnValue:
    _call(lambda: celerycontrol.revoke(_broker(), celery_id, terminate=body.terminate, signal=body.signal))
    return respond(ControlSent, {"sent": True, "workers": []})


@endpoint(
    "PUT",
    "/celery/rate-limits/<task_name>",
    Role.OPERATOR,
    summary='Set a Celery task type\'s rate limit on every worker ("0" removes it)',
    responses={200: ("the command was sent; the workers that confirmed", ControlSent)},
    errors=(400, 409, 415, 422),
    body=RateLimitBody,
    path_notes={"task_name": "a Celery task name, e.g. proj.tasks.add"},
)
def set_celery_rate_limit(task_name: str, body: RateLimitBody) -> ResponseReturnValue:
    workers = _call(lambda: celerycontrol.rate_limit(_broker(), task_name, body.rate))
    return respond(ControlSent, {"sent": True, "workers": workers})


@endpoint(
    "POST",
    "/celery/workers/<hostname>/pool",
    Role.OPERATOR,
    summary="Grow or shrink a Celery worker's pool by a number of processes",
    responses={200: ("the command was sent; the workers that confirmed", ControlSent)},
    errors=(400, 409, 415, 422),
    body=PoolBody,
    path_notes={"hostname": "a Celery worker's hostname, e.g. celery@web-1"},
)
def resize_celery_pool(hostname: str, body: PoolBody) -> ResponseReturnValue:
    if body.change == 0:
        raise ApiError(400, "invalid", "change must not be 0", field="change")
    workers = _call(lambda: celerycontrol.resize_pool(_broker(), hostname, body.change))
    return respond(ControlSent, {"sent": True, "workers": workers})


@endpoint(
    "GET",
    "/celery/queues",
    Role.VIEWER,
    summary="Messages waiting in the Celery broker's queues (those recorded tasks were sent to, and celery)",
    responses={200: ("the queues", QueueList)},
    errors=(400, 409),
)
def celery_queues() -> ResponseReturnValue:
    """The broker's queues as the Celery source last measured them: Celery's default `celery` and every queue
    recorded tasks were sent to (their `queue:` tags)."""
    with ctx().svc.db.reading() as session:
        rows = broker_queues.latest(session)
    return respond(QueueList, {"items": rows})
