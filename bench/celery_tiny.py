"""Bench: the Celery side of bench_worker_throughput.py — one tiny task on the local Redis (a private db
number), counting its completions in Redis so the bench reads Celery's rate as it reads TaskLens's."""

from __future__ import annotations

import os
from typing import Any

from celery import Celery

BROKER = os.environ.get("TASKLENS_BENCH_REDIS", "redis://127.0.0.1:6379/11")
DONE_KEY = "tasklens-bench:done"

app = Celery("celery_tiny", broker=BROKER)
app.conf.update(task_ignore_result=True, broker_connection_retry_on_startup=True)

_client: Any = None


@app.task(name="tiny")  # type: ignore[untyped-decorator]  # celery is untyped
def tiny() -> None:
    """The same nothing as worker.examples.noop; the INCR is how the bench counts it (one round trip per task,
    as TaskLens records each task's end)."""
    global _client
    if _client is None:
        import redis

        _client = redis.Redis.from_url(BROKER)
    _client.incr(DONE_KEY)
