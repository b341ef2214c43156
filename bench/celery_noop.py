"""Bench: the Celery app of bench_celery_source.py — one task that does nothing, on the broker in
TASKLENS_BENCH_CELERY_BROKER (a private Redis database or RabbitMQ vhost)."""

from __future__ import annotations

import os

from celery import Celery

app = Celery(
    "celery_noop", broker=os.environ.get("TASKLENS_BENCH_CELERY_BROKER", "redis://127.0.0.1:6379/15")
)
app.conf.update(
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    worker_prefetch_multiplier=16,
    task_send_sent_event=True,  # four events a task, as the issue counts them
)


@app.task(name="noop")  # type: ignore[untyped-decorator]  # celery is untyped
def noop() -> None:
    """Nothing: the bench measures the events, not the work."""
