"""Dashboard layer: Flower's controls over a Celery broker (TASKLENS_CELERY_BROKER) — revoke or terminate a
task, set a task type's rate limit, grow or shrink a worker's pool (celery's `app.control` broadcasts). The
API calls these; role checks and audit stay with it. (Queue lengths are measured by the Celery source and read
from the database: db/broker_queues.py.)"""

from __future__ import annotations

import re
import threading
from typing import Any

RATE = re.compile(r"^(0|\d+(\.\d+)?(/[smh])?)$")
SIGNALS = ("SIGTERM", "SIGKILL", "SIGINT", "SIGQUIT", "SIGUSR1")


class NoBroker(RuntimeError):
    """No Celery broker is configured (TASKLENS_CELERY_BROKER)."""


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


def revoke(broker: str | None, celery_id: str, *, terminate: bool = False, signal: str = "SIGTERM") -> None:
    """Revoke a task on every worker (it will not run; with `terminate` a running one is killed)."""
    app_for(broker).control.revoke(celery_id, terminate=terminate, signal=signal)


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


def _answered(replies: Any) -> list[str]:
    hosts: list[str] = []
    for reply in replies or []:
        if isinstance(reply, dict):
            hosts += [
                str(h) for h, answer in reply.items() if not (isinstance(answer, dict) and "error" in answer)
            ]
    return sorted(hosts)
