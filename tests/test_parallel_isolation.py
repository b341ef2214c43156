"""Tests: what keeps two pytest-xdist workers apart (tests/parallel.py) — each its own Redis database, its own
PostgreSQL database names, its own port range, and a port reservation no other process can take."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from itertools import combinations
from pathlib import Path

import pytest

from tests import parallel
from tests.helpers import REPO_ROOT, free_port
from tests.parallel import (
    PortInUse,
    PortReservation,
    claim_redis,
    database_name,
    port_range,
    redis_url_for,
    reserve_port,
    worker_id,
    worker_index,
)

WORKERS = ["gw0", "gw1", "gw2", "gw3"]


def test_worker_ids_and_their_indexes() -> None:
    assert [worker_index(w) for w in ["master", *WORKERS, "gw12"]] == [0, 0, 1, 2, 3, 12]
    with pytest.raises(ValueError, match="not an xdist worker id"):
        worker_index("gwx")


def test_each_worker_has_its_own_redis_database() -> None:
    urls = [redis_url_for(w) for w in WORKERS]
    assert urls[:2] == ["redis://127.0.0.1:6379/14", "redis://127.0.0.1:6379/13"]
    assert len(set(urls)) == len(WORKERS)
    assert redis_url_for("master") == redis_url_for("gw0")  # a serial run uses the default database
    # A developer's own number is the base: gw1 gets the one below it.
    assert redis_url_for("gw1", "redis://127.0.0.1:6379/9") == "redis://127.0.0.1:6379/8"
    with pytest.raises(ValueError, match="no Redis database for worker gw3"):
        redis_url_for("gw3", "redis://127.0.0.1:6379/2")


def test_claiming_redis_sets_both_variables_once() -> None:
    env = {"PYTEST_XDIST_WORKER": "gw1", "TASKLENS_TEST_CELERY_REDIS": "redis://127.0.0.1:6379/9"}
    assert claim_redis(env) == "redis://127.0.0.1:6379/8"
    assert (
        env["TASKLENS_TEST_CELERY_BROKER"] == env["TASKLENS_TEST_CELERY_REDIS"] == "redis://127.0.0.1:6379/8"
    )
    assert claim_redis(env) == "redis://127.0.0.1:6379/8"  # not lowered again
    # A worker inherits the controller's environment (its claim, as "master", left the base unchanged).
    controller = {"TASKLENS_TEST_CELERY_REDIS": "redis://127.0.0.1:6379/9"}
    claim_redis(controller)
    assert claim_redis({**controller, "PYTEST_XDIST_WORKER": "gw1"}) == "redis://127.0.0.1:6379/8"


def test_this_process_uses_its_workers_redis_database() -> None:
    """What a Celery worker subprocess inherits is this worker's database."""
    assert worker_id() == os.environ.get("PYTEST_XDIST_WORKER", "master")
    assert os.environ["TASKLENS_TEST_CELERY_REDIS"] == os.environ["TASKLENS_TEST_CELERY_BROKER"]
    assert parallel.redis_url() == os.environ["TASKLENS_TEST_CELERY_REDIS"]
    assert parallel.redis_url() == parallel.redis_url()


def test_database_names_differ_by_worker_and_call() -> None:
    names = [database_name("tasklens_test", w) for w in WORKERS for _ in range(3)]
    assert len(set(names)) == len(names)
    assert all(f"_{w}_{os.getpid()}_" in database_name("x", w) for w in WORKERS)
    assert all(len(n) < 64 for n in names)  # PostgreSQL cuts identifiers at 63 bytes


def test_the_session_database_is_this_workers(pg_session_url: str) -> None:
    name = pg_session_url.rsplit("/", 1)[1]
    assert name.startswith(f"tasklens_test_{worker_id()}_{os.getpid()}_")


def test_port_ranges_are_disjoint_and_below_the_ephemeral_range() -> None:
    ranges = [port_range(w) for w in WORKERS]
    for a, b in combinations(ranges, 2):
        assert not set(a) & set(b)
    low, _high = (int(x) for x in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    assert all(r.start >= 1024 and r.stop <= low for r in ranges)
    assert port_range("master") == port_range("gw0")
    with pytest.raises(ValueError, match="no port range"):
        port_range(f"gw{parallel.MAX_WORKERS}")


def test_a_reserved_port_is_in_the_workers_range_and_bindable() -> None:
    with reserve_port() as held:
        assert held.port in port_range(worker_id())
        with socket.create_server(("127.0.0.1", held.port)):
            pass
    assert not held.held


def test_a_reservation_refuses_a_port_another_holder_has() -> None:
    held = reserve_port()
    try:
        with pytest.raises(PortInUse, match="reserved by another holder"):
            PortReservation(held.port)
        # Another process (another worker, another pytest run) is refused too, while this one holds it.
        probe = (
            "import sys\nfrom tests.parallel import PortInUse, PortReservation\n"
            "try:\n    PortReservation(int(sys.argv[1]))\nexcept PortInUse:\n    sys.exit(3)\n"
        )
        taken = subprocess.run([sys.executable, "-c", probe, str(held.port)], cwd=REPO_ROOT, check=False)
        assert taken.returncode == 3
    finally:
        held.release()
    freed = subprocess.run([sys.executable, "-c", probe, str(held.port)], cwd=REPO_ROOT, check=False)
    assert freed.returncode == 0


def test_a_reservation_refuses_a_port_something_listens_on() -> None:
    with reserve_port() as held:
        port = held.port
    with socket.create_server(("127.0.0.1", port)), pytest.raises(PortInUse, match="in use"):
        PortReservation(port)
    with PortReservation(port) as again:  # the listener gone, the port is free again
        assert again.held


def test_free_port_hands_out_distinct_held_ports() -> None:
    ports = [free_port() for _ in range(5)]
    assert len(set(ports)) == 5
    for port in ports:
        with pytest.raises(PortInUse):
            PortReservation(port)
