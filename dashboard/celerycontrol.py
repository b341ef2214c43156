"""Dashboard layer: Flower's controls over a Celery broker (TASKLENS_CELERY_BROKER) — revoke or terminate a
task, set a task type's rate or time limits, grow, shrink or restart a worker's pool, add or cancel a queue it
consumes, shut it down, and ask it what it runs with (celery's `app.control` broadcasts and `inspect`). The API
and the dashboard's Celery cards (dashboard/celery_panel.py) call these; role checks and audit stay with them.
(Queue lengths are measured by the Celery source and read from the database: db/read/broker_queues.py.)"""

from __future__ import annotations

import re
import threading
from typing import Any

RATE = re.compile(r"^(0|\d+(\.\d+)?(/[smh])?)$")
SIGNALS = ("SIGTERM", "SIGKILL", "SIGINT", "SIGQUIT", "SIGUSR1")
QUEUE_NAME = re.compile(r"^[^\s]{1,200}$")  # a queue to add or cancel: no spaces, as AMQP and Redis names go


class NoBroker(RuntimeError):
    """No Celery broker is configured (TASKLENS_CELERY_BROKER)."""


class Refused(RuntimeError):
    """A worker answered a command with an error of its own."""


_apps: dict[str, Any] = {}
_lock = threading.Lock()


def app_for(broker: str | None) -> Any:
    """One Celery app per broker and process, made on first use (nothing connects at import)."""
    if not broker:
        raise NoBroker("no Celery broker is configured: set TASKLENS_CELERY_BROKER")
    with _lock:
        app = _apps.get(broker)
        if app is None:
            from celery import Celery

            app = Celery("tasklens-control", broker=broker, set_as_current=False)
            app.conf.update(broker_connection_timeout=5, broker_connection_retry=False)
            _apps[broker] = app
        return app


def revoke(
    broker: str | None,
    celery_id: str,
    *,
    terminate: bool = False,
    signal: str = "SIGTERM",
    reply: bool = False,
    timeout: float = 1.0,
) -> list[str]:
    """Revoke a task on every worker (it will not run; with `terminate` a running one is killed); with `reply`,
    the workers that confirmed within `timeout` (none: no worker is listening)."""
    replies = app_for(broker).control.revoke(
        celery_id, terminate=terminate, signal=signal, reply=reply, timeout=timeout
    )
    return _answered(replies) if reply else []


def time_limit(
    broker: str | None, task_name: str, soft: float | None, hard: float | None, *, timeout: float = 1.0
) -> list[str]:
    """Set a task type's soft and hard time limits (seconds; None: no limit) on every worker; who confirmed."""
    replies = app_for(broker).control.time_limit(task_name, soft=soft, hard=hard, reply=True, timeout=timeout)
    return _answered(replies)


def rate_limit(broker: str | None, task_name: str, rate: str, *, timeout: float = 1.0) -> list[str]:
    """Set a task type's rate limit on every worker ("10/m"; "0" removes it); the workers that confirmed."""
    replies = app_for(broker).control.rate_limit(task_name, rate, reply=True, timeout=timeout)
    return _answered(replies)


def resize_pool(broker: str | None, hostname: str, change: int, *, timeout: float = 1.0) -> list[str]:
    """Grow (change > 0) or shrink one worker's pool by `change` processes; the workers that confirmed."""
    control = app_for(broker).control
    method = control.pool_grow if change > 0 else control.pool_shrink
    replies = method(abs(change), destination=[hostname], reply=True, timeout=timeout)
    return _answered(replies)


def restart_pool(broker: str | None, hostname: str, *, timeout: float = 1.0) -> list[str]:
    """Restart one worker's pool processes (the worker must run with worker_pool_restarts on)."""
    replies = app_for(broker).control.pool_restart(destination=[hostname], reply=True, timeout=timeout)
    return _confirmed(replies, hostname)


def add_consumer(broker: str | None, hostname: str, queue: str, *, timeout: float = 1.0) -> list[str]:
    """Make one worker consume from `queue` too."""
    replies = app_for(broker).control.add_consumer(queue, destination=[hostname], reply=True, timeout=timeout)
    return _confirmed(replies, hostname)


def cancel_consumer(broker: str | None, hostname: str, queue: str, *, timeout: float = 1.0) -> list[str]:
    """Make one worker stop consuming from `queue`."""
    replies = app_for(broker).control.cancel_consumer(
        queue, destination=[hostname], reply=True, timeout=timeout
    )
    return _confirmed(replies, hostname)


def shutdown(broker: str | None, hostname: str) -> None:
    """Ask one worker to shut down warm (it finishes its running tasks). A worker never answers this command:
    it ends instead, and its worker-offline event shows it."""
    app_for(broker).control.shutdown(destination=[hostname])


def worker_info(broker: str | None, hostname: str, *, timeout: float = 1.0) -> dict[str, Any] | None:
    """What one worker runs with, asked over the broker: its pool's processes, the queues it consumes and its
    task types with their rate and time limits; None when it does not answer within `timeout`."""
    inspect = app_for(broker).control.inspect(destination=[hostname], timeout=timeout)
    stats = (inspect.stats() or {}).get(hostname)
    if stats is None:
        return None  # gone: the other questions would wait out their timeouts too
    pool = stats.get("pool") or {}
    queues = (inspect.active_queues() or {}).get(hostname) or []
    registered = (inspect.registered("rate_limit", "time_limit", "soft_time_limit") or {}).get(hostname) or []
    return {
        "processes": len(pool.get("processes") or []),
        "max_concurrency": pool.get("max-concurrency"),
        "queues": sorted(str(q.get("name")) for q in queues if isinstance(q, dict)),
        "tasks": sorted(str(t) for t in registered),
    }


def _confirmed(replies: Any, hostname: str) -> list[str]:
    """The workers that confirmed; a worker's own error answer (e.g. pool restarts not enabled) raises."""
    for reply in replies or []:
        if isinstance(reply, dict) and isinstance(answer := reply.get(hostname), dict) and "error" in answer:
            raise Refused(str(answer["error"]))
    return _answered(replies)


def _answered(replies: Any) -> list[str]:
    hosts: list[str] = []
    for reply in replies or []:
        if isinstance(reply, dict):
            hosts += [
                str(h) for h, answer in reply.items() if not (isinstance(answer, dict) and "error" in answer)
            ]
    return sorted(hosts)
