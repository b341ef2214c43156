"""Tests: real brokers and a real Celery worker for the Celery source's tests — the local Redis (the xdist
worker's own database number, flushed before and after) and RabbitMQ (a private vhost made and deleted with
rabbitmqctl), never skipped in CI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import REPO_ROOT, clean_env, stop_process, wait_until
from tests.parallel import redis_url, worker_id

RABBIT_HOST = "127.0.0.1:5672"
# The bound of every wait in the Celery tests: a safety net only, as each wait ends on its condition (a worker
# answering, a task recorded). Generous — twice the 60 s that ran out at load 14 on 2 cores, where a Celery worker
# and the source take many times their usual second or two — yet under pytest's 300 s per test, so a stalled wait
# fails with what it waited for and how far it got, not a bare timeout.
SAFETY = 120.0


def _unavailable(what: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{what} is required in CI but is unreachable")
    pytest.skip(f"{what} not reachable (runs in CI)")


@contextmanager
def redis_broker() -> Iterator[str]:
    """This xdist worker's Redis database (tests/parallel.py), empty, flushed again afterwards: only that one,
    as the other workers' tests use theirs meanwhile."""
    import redis

    url = redis_url()
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError:
        _unavailable(f"Redis at {url}")
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@contextmanager
def rabbit_broker() -> Iterator[str]:
    """A vhost of its own on the local RabbitMQ (guest/guest), deleted afterwards."""
    ctl = shutil.which("rabbitmqctl") or (
        "/usr/sbin/rabbitmqctl" if Path("/usr/sbin/rabbitmqctl").exists() else None
    )
    vhost = f"tasklens-test-{worker_id()}-{uuid.uuid4().hex[:8]}"
    if ctl is None or subprocess.run([ctl, "add_vhost", vhost], capture_output=True, timeout=60).returncode:
        _unavailable("RabbitMQ (rabbitmqctl)")
    assert ctl is not None
    try:
        subprocess.run(
            [ctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"], check=True, capture_output=True
        )
        yield f"amqp://guest:guest@{RABBIT_HOST}/{vhost}"
    finally:
        subprocess.run([ctl, "delete_vhost", vhost], capture_output=True, timeout=60)


@contextmanager
def celery_worker(broker: str, name: str, *, pool_restarts: bool = False) -> Iterator[Any]:
    """A real Celery worker process (prefork, 2 processes, task events on) of tests/celery_app.py; yields the
    app, bound to `broker`, once the worker answers a ping. `pool_restarts`: it accepts pool_restart."""
    env = clean_env(
        TASKLENS_TEST_CELERY_BROKER=broker, TASKLENS_TEST_CELERY_POOL_RESTARTS="1" if pool_restarts else "0"
    )
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"celery-{name}-{os.getpid()}.log", "w+")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "tests.celery_app",
            "worker",
            "-c",
            "2",
            "-E",
            "-l",
            "info",
            "-n",
            f"{name}@%h",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=REPO_ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    from celery import Celery

    app = Celery("tasklens_test", broker=broker, set_as_current=False)
    app.conf.update(task_send_sent_event=True, task_ignore_result=True)

    def pinged() -> bool:
        if proc.poll() is not None:
            log.seek(0)
            raise AssertionError(f"the Celery worker exited: {log.read()[-3000:]}")
        return bool(app.control.ping(destination=[f"{name}@{os.uname().nodename}"], timeout=0.5))

    try:
        wait_until(pinged, timeout=SAFETY, what="the Celery worker to answer a ping")
        yield app
    finally:
        stop_process(proc, timeout=20)
        app.close()
        log.close()
        os.unlink(log.name)


@contextmanager
def celery_events(app: Any) -> Iterator[list[dict[str, Any]]]:
    """Celery's own event receiver on `app`'s broker (a queue of its own), in a thread: yields the list of every
    event it has received so far, once it hears one (a worker heartbeat, every 2 s) — so it is listening."""
    events: list[dict[str, Any]] = []
    with app.connection_for_read() as connection:
        receiver = app.events.Receiver(
            connection, handlers={"*": events.append}, node_id=f"tasklens-test-{uuid.uuid4().hex[:8]}"
        )
        thread = threading.Thread(
            target=receiver.capture, kwargs={"limit": None, "timeout": None}, daemon=True
        )
        thread.start()
        try:
            wait_until(lambda: events, timeout=SAFETY, what="Celery's event receiver to hear a worker")
            yield events
        finally:
            receiver.should_stop = True
            thread.join(timeout=SAFETY)
