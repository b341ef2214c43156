"""Tests: a small real Celery app for the Celery source's tests (tests/test_celery_source.py): tasks that
succeed, fail, retry, sleep (to be revoked) and overrun their time limit. Its broker is TASKLENS_TEST_CELERY_BROKER
(tests/celery_support.py passes the xdist worker's own Redis database; tests/parallel.py)."""

from __future__ import annotations

import os
import time
from typing import Any

from celery import Celery

from tests.parallel import DEFAULT_REDIS

BROKER = os.environ.get("TASKLENS_TEST_CELERY_BROKER", DEFAULT_REDIS)

app = Celery("tasklens_test", broker=BROKER)
app.conf.update(
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    worker_prefetch_multiplier=1,
    task_send_sent_event=True,  # queue and routing key reach TaskLens with task-sent
    # Off unless asked for: the API's pool restart is refused by a worker without it (409) and confirmed by one with.
    worker_pool_restarts=os.environ.get("TASKLENS_TEST_CELERY_POOL_RESTARTS") == "1",
)


@app.task(name="tests.add")  # type: ignore[untyped-decorator]  # celery is untyped
def add(x: int, y: int, **_: Any) -> int:
    return x + y


@app.task(name="tests.boom")  # type: ignore[untyped-decorator]
def boom(message: str) -> None:
    raise ValueError(message)


@app.task(name="tests.flaky", bind=True, max_retries=3)  # type: ignore[untyped-decorator]
def flaky(self: Any, fail_times: int) -> str:
    if self.request.retries < fail_times:
        raise self.retry(exc=RuntimeError(f"try {self.request.retries + 1} failed"), countdown=0.2)
    return f"ok after {self.request.retries} retries"


@app.task(name="tests.sleepy")  # type: ignore[untyped-decorator]
def sleepy(seconds: float) -> str:
    time.sleep(seconds)
    return "slept"


@app.task(name="tests.overrun", time_limit=1)  # type: ignore[untyped-decorator]
def overrun(seconds: float) -> None:
    time.sleep(seconds)
