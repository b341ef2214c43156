"""Dashboard layer: Flower's controls over a Celery broker (TASKLENS_CELERY_BROKER) — revoke or terminate a
task, set a task type's rate limit, grow or shrink a worker's pool (celery's `app.control` broadcasts), and
the broker's queue lengths (Redis: LLEN of the queue's lists; RabbitMQ: a passive declare). The API and the
Agents page call these; role checks and audit stay with them."""

from __future__ import annotations

import contextlib
import re
import threading
from dataclasses import dataclass
from typing import Any

# Celery's priority steps on Redis: a queue `q` is the lists q, q\x06\x163, q\x06\x166, q\x06\x169.
_REDIS_PRIORITY_SEP = "\x06\x16"
_REDIS_STEPS = (0, 3, 6, 9)
RATE = re.compile(r"^(0|\d+(\.\d+)?(/[smh])?)$")
SIGNALS = ("SIGTERM", "SIGKILL", "SIGINT", "SIGQUIT", "SIGUSR1")


class NoBroker(RuntimeError):
    """No Celery broker is configured (TASKLENS_CELERY_BROKER)."""


@dataclass(frozen=True)
class QueueDepth:
    name: str
    messages: int | None  # None: the broker does not know the queue


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


def queue_depths(broker: str | None, names: list[str]) -> list[QueueDepth]:
    """Messages waiting in each named queue, read from the broker."""
    app = app_for(broker)
    out: list[QueueDepth] = []
    with app.connection_for_read() as conn:
        conn.ensure_connection(max_retries=1)
        if conn.transport.driver_type == "redis":
            client = conn.default_channel.client
            for name in names:
                keys = [name if step == 0 else f"{name}{_REDIS_PRIORITY_SEP}{step}" for step in _REDIS_STEPS]
                pipe = client.pipeline()
                for key in keys:
                    pipe.llen(key)
                out.append(QueueDepth(name, int(sum(pipe.execute()))))
        else:
            for name in names:
                channel = conn.channel()
                try:
                    _, messages, _ = channel.queue_declare(queue=name, passive=True)
                    out.append(QueueDepth(name, int(messages)))
                except conn.channel_errors:
                    out.append(QueueDepth(name, None))  # the broker closes the channel: a fresh one next
                finally:
                    with contextlib.suppress(Exception):  # a channel the broker already closed
                        channel.close()
    return out


def _answered(replies: Any) -> list[str]:
    hosts: list[str] = []
    for reply in replies or []:
        if isinstance(reply, dict):
            hosts += [
                str(h) for h, answer in reply.items() if not (isinstance(answer, dict) and "error" in answer)
            ]
    return sorted(hosts)
