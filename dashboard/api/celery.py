"""API layer: Flower's controls through the Celery broker (dashboard/celerycontrol.py) — revoke or terminate
a task, set a task type's rate or time limits, grow, shrink or restart a worker's pool, add or cancel a queue
it consumes, shut it down — operator's, audited; and the broker's queue lengths and what a worker runs with,
viewer's. Without TASKLENS_CELERY_BROKER each answers 409, with the broker unreachable 503."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from flask.typing import ResponseReturnValue
from kombu.exceptions import OperationalError
from pydantic import Field, model_validator

from dashboard import access, celerycontrol
from dashboard.api.context import ctx, respond
from dashboard.api.errors import ApiError
from dashboard.api.registry import OWN_AUDIT, Responses, Role, actor, endpoint
from dashboard.api.schemas import Body, Model, UtcDateTime
from db.read import broker_queues


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


class TimeLimitBody(Body):
    soft: float | None = Field(
        None,
        gt=0,
        le=86_400 * 7,
        description="seconds before SoftTimeLimitExceeded is raised in the task; null: none",
    )
    hard: float | None = Field(
        None, gt=0, le=86_400 * 7, description="seconds before the task is killed; null: none"
    )

    @model_validator(mode="after")
    def _soft_within_hard(self) -> TimeLimitBody:
        if self.soft is not None and self.hard is not None and self.soft > self.hard:
            raise ValueError("the soft limit must not exceed the hard limit")
        return self


class ConsumerBody(Body):
    queue: str = Field(pattern=celerycontrol.QUEUE_NAME.pattern, description="the queue's name (no spaces)")


class ControlSent(Model):
    sent: bool = Field(description="the command went out on the broker")
    workers: list[str] = Field(default_factory=list, description="workers that confirmed within a second")


class WorkerInfo(Model):
    hostname: str
    processes: int = Field(description="the pool's processes now")
    max_concurrency: int | None = Field(description="the pool's configured concurrency")
    queues: list[str] = Field(description="the queues it consumes")
    tasks: list[str] = Field(
        description='its task types with their limits, e.g. "tests.add [rate_limit=10/m]"'
    )


class Queue(Model):
    broker: str = Field(description="the broker's URL without its password")
    name: str
    messages: int | None = Field(description="waiting in the broker; null when the broker does not know it")
    measured_at: UtcDateTime = Field(description="when the Celery source measured it (every 10 s)")


class QueueList(Model):
    items: list[Queue]


# What a command answers, and the worker or task type in its path: the same on every endpoint that has them.
CONFIRMED: Responses = {200: ("the command was sent; the workers that confirmed", ControlSent)}
HOST_NOTE = {"hostname": "a Celery worker's hostname, e.g. celery@web-1"}
TASK_NOTE = {"task_name": "a Celery task name, e.g. proj.tasks.add"}


def _broker() -> str | None:
    return ctx().svc.settings.celery_broker


def _call(action: Callable[[], Any]) -> Any:
    try:
        return action()
    except celerycontrol.NoBroker as exc:
        raise ApiError(409, "no_celery_broker", str(exc)) from None
    except celerycontrol.Refused as exc:
        raise ApiError(409, "worker_refused", f"the worker refused: {exc}") from None
    # kombu reports a refused or lost broker connection as its own OperationalError, not an OSError.
    except (OSError, ConnectionError, OperationalError) as exc:
        raise ApiError(503, "broker_unavailable", f"the Celery broker cannot be reached: {exc}") from None


def _control(
    what: str, target: str, action: Callable[[], list[str] | None], **details: Any
) -> ResponseReturnValue:
    """Send a command and audit it as the dashboard's Celery cards do (`celery.<what>` on the same target, the
    workers that confirmed in its details), as the calling token; the answer names those workers."""
    confirmed = _call(action)
    access.audit(ctx().svc, actor(), f"celery.{what}", target, {**details, "confirmed": confirmed})
    return respond(ControlSent, {"sent": True, "workers": confirmed or []})


@endpoint(
    "POST",
    "/celery/tasks/<celery_id>/revoke",
    Role.OPERATOR,
    summary="Revoke a Celery task by its id on every worker (terminate: also kill it if it runs)",
    responses={200: ("the command was sent", ControlSent)},
    errors=(400, 409, 415, 422, 503),
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
    responses=CONFIRMED,
    errors=(400, 409, 415, 422, 503),
    body=RateLimitBody,
    path_notes=TASK_NOTE,
)
def set_celery_rate_limit(task_name: str, body: RateLimitBody) -> ResponseReturnValue:
    workers = _call(lambda: celerycontrol.rate_limit(_broker(), task_name, body.rate))
    return respond(ControlSent, {"sent": True, "workers": workers})


@endpoint(
    "POST",
    "/celery/workers/<hostname>/pool",
    Role.OPERATOR,
    summary="Grow or shrink a Celery worker's pool by a number of processes",
    responses=CONFIRMED,
    errors=(400, 409, 415, 422, 503),
    body=PoolBody,
    path_notes=HOST_NOTE,
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


@endpoint(
    "PUT",
    "/celery/time-limits/<task_name>",
    Role.OPERATOR,
    summary="Set a Celery task type's soft and hard time limits on every worker (null: no limit)",
    responses=CONFIRMED,
    errors=(400, 409, 415, 422, 503),
    body=TimeLimitBody,
    path_notes=TASK_NOTE,
    audit=OWN_AUDIT,
)
def set_celery_time_limit(task_name: str, body: TimeLimitBody) -> ResponseReturnValue:
    broker, soft, hard = _broker(), body.soft, body.hard
    return _control(
        "time_limit",
        f"celery-task-type:{task_name}",
        lambda: celerycontrol.time_limit(broker, task_name, soft, hard),
        soft=soft,
        hard=hard,
    )


@endpoint(
    "POST",
    "/celery/workers/<hostname>/pool/restart",
    Role.OPERATOR,
    summary="Restart a Celery worker's pool processes (the worker needs worker_pool_restarts; 409 otherwise)",
    responses=CONFIRMED,
    errors=(400, 409, 503),
    path_notes=HOST_NOTE,
    audit=OWN_AUDIT,
)
def restart_celery_pool(hostname: str) -> ResponseReturnValue:
    broker = _broker()
    return _control(
        "pool_restart", f"celery-worker:{hostname}", lambda: celerycontrol.restart_pool(broker, hostname)
    )


@endpoint(
    "POST",
    "/celery/workers/<hostname>/consumers",
    Role.OPERATOR,
    summary="Make a Celery worker consume from a queue too",
    responses=CONFIRMED,
    errors=(400, 409, 415, 422, 503),
    body=ConsumerBody,
    path_notes=HOST_NOTE,
    audit=OWN_AUDIT,
)
def add_celery_consumer(hostname: str, body: ConsumerBody) -> ResponseReturnValue:
    return _consume(celerycontrol.add_consumer, hostname, body.queue)


@endpoint(
    "DELETE",
    "/celery/workers/<hostname>/consumers/<queue>",
    Role.OPERATOR,
    summary="Make a Celery worker stop consuming from a queue",
    responses=CONFIRMED,
    errors=(400, 409, 503),
    path_notes={**HOST_NOTE, "queue": "the queue's name"},
    audit=OWN_AUDIT,
)
def cancel_celery_consumer(hostname: str, queue: str) -> ResponseReturnValue:
    if not celerycontrol.QUEUE_NAME.match(queue):
        raise ApiError(
            400, "bad_parameter", "a queue name has 1 to 200 characters, no spaces", parameter="queue"
        )
    return _consume(celerycontrol.cancel_consumer, hostname, queue)


def _consume(
    command: Callable[[str | None, str, str], list[str]], hostname: str, queue: str
) -> ResponseReturnValue:
    """Add or cancel (`command`) a queue one worker consumes; audited under the command's name."""
    broker = _broker()
    return _control(
        command.__name__, f"celery-worker:{hostname}", lambda: command(broker, hostname, queue), queue=queue
    )


@endpoint(
    "POST",
    "/celery/workers/<hostname>/shutdown",
    Role.OPERATOR,
    summary="Shut a Celery worker down warm (it finishes its running tasks); it never answers, so workers is []",
    responses={200: ("the command was sent", ControlSent)},
    errors=(400, 409, 503),
    path_notes=HOST_NOTE,
    audit=OWN_AUDIT,
)
def shutdown_celery_worker(hostname: str) -> ResponseReturnValue:
    broker = _broker()
    return _control("shutdown", f"celery-worker:{hostname}", lambda: celerycontrol.shutdown(broker, hostname))


@endpoint(
    "GET",
    "/celery/workers/<hostname>",
    Role.VIEWER,
    summary="What a Celery worker runs with, asked over the broker: pool, queues, task types and their limits",
    responses={200: ("the worker's answer", WorkerInfo)},
    errors=(400, 404, 409, 503),
    path_notes=HOST_NOTE,
)
def celery_worker_info(hostname: str) -> ResponseReturnValue:
    broker = _broker()
    info = _call(lambda: celerycontrol.worker_info(broker, hostname))
    if info is None:
        raise ApiError(
            404,
            "worker_not_answering",
            f"{hostname} did not answer within a second: it is not running or not on this broker",
            hostname=hostname,
        )
    return respond(WorkerInfo, {"hostname": hostname, **info})
