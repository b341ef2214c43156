"""Tests: each pytest-xdist worker's own share of the machine's services — its Redis database number, its
PostgreSQL database names, and TCP ports reserved from a range of its own — so that two workers (or two
pytest runs side by side) never use the same one."""

from __future__ import annotations

import errno
import fcntl
import os
import random
import re
import socket
import tempfile
import uuid
from collections.abc import MutableMapping
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit, urlunsplit

# The Redis database of a serial run and of worker gw0; worker gwN takes the database N below it (13, 12, ...),
# or N below the one TASKLENS_TEST_CELERY_REDIS names (a developer's own number).
DEFAULT_REDIS = "redis://127.0.0.1:6379/14"
# Reserved ports come from below Linux's ephemeral range (32768-60999), which the kernel hands out for port 0
# and outgoing connections: a port picked there could be taken by anything between our check and the bind.
PORT_BASE = 20000
PORTS_PER_WORKER = 500
MAX_WORKERS = (32768 - PORT_BASE) // PORTS_PER_WORKER
# Shared by every test process on the machine (all pytest runs, all workers): one lock file per port.
PORT_LOCKS = Path(tempfile.gettempdir()) / "tasklens-test-ports"
# Set in a process whose environment has been given its worker's Redis database (the value: the worker id).
_DONE = "TASKLENS_TEST_WORKER_ENV"


def worker_id(environ: MutableMapping[str, str] | None = None) -> str:
    """This process's xdist worker id ("gw0", "gw1", ...), or "master" in a serial run (`-n 0`)."""
    return (os.environ if environ is None else environ).get("PYTEST_XDIST_WORKER", "master")


def worker_index(worker: str) -> int:
    """0 for "master" and "gw0", N for "gwN"."""
    if worker == "master":
        return 0
    found = re.fullmatch(r"gw(\d+)", worker)
    if found is None:
        raise ValueError(f"not an xdist worker id: {worker!r}")
    return int(found.group(1))


def redis_url_for(worker: str, base_url: str = DEFAULT_REDIS) -> str:
    """`base_url` with its database number lowered by the worker's index: each worker flushes only its own."""
    parts = urlsplit(base_url)
    base = int(parts.path.strip("/") or "0")
    number = base - worker_index(worker)
    if number < 0:
        raise ValueError(f"{base_url} leaves no Redis database for worker {worker}: use a higher base number")
    return urlunsplit(parts._replace(path=f"/{number}"))


def claim_redis(environ: MutableMapping[str, str]) -> str:
    """Point TASKLENS_TEST_CELERY_REDIS and TASKLENS_TEST_CELERY_BROKER (what the Celery worker subprocesses
    read) at this worker's Redis database; returns its URL. Once per process: a second call changes nothing."""
    worker = worker_id(environ)
    if environ.get(_DONE) != worker:
        url = redis_url_for(worker, environ.get("TASKLENS_TEST_CELERY_REDIS") or DEFAULT_REDIS)
        environ["TASKLENS_TEST_CELERY_REDIS"] = url
        environ["TASKLENS_TEST_CELERY_BROKER"] = url
        environ[_DONE] = worker
    return environ["TASKLENS_TEST_CELERY_REDIS"]


def redis_url() -> str:
    """This worker's Redis database (tests/conftest.py claims it at start-up)."""
    return claim_redis(os.environ)


def database_name(prefix: str, worker: str | None = None) -> str:
    """A PostgreSQL database name no other worker, run or call makes: the worker, the process and a random
    part (the process id alone repeats across machines' containers; the worker id says whose it was)."""
    return f"{prefix}_{worker or worker_id()}_{os.getpid()}_{uuid.uuid4().hex[:8]}".lower()


def port_range(worker: str) -> range:
    """The ports this worker reserves from: disjoint from every other worker's, below the ephemeral range."""
    index = worker_index(worker)
    if index >= MAX_WORKERS:
        raise ValueError(f"no port range for worker {worker}: at most {MAX_WORKERS} workers")
    start = PORT_BASE + index * PORTS_PER_WORKER
    return range(start, start + PORTS_PER_WORKER)


class PortInUse(Exception):
    """Another holder has the port reserved, or something is listening on it."""


class PortReservation:
    """A TCP port held for this process by an exclusive lock on its file in PORT_LOCKS (the kernel drops the
    lock when the process ends, however it ends), checked free to bind on every interface when taken."""

    def __init__(self, port: int) -> None:
        PORT_LOCKS.mkdir(mode=0o777, exist_ok=True)
        self.port = port
        self._file: IO[bytes] | None = open(PORT_LOCKS / f"{port}.lock", "ab")  # noqa: SIM115
        try:
            fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self.release()
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise PortInUse(f"port {port} is reserved by another holder") from exc
            raise
        if not _bindable(port):
            self.release()
            raise PortInUse(f"port {port} is in use")

    @property
    def held(self) -> bool:
        return self._file is not None

    def release(self) -> None:
        """Give the port back (the lock file stays: removing it would race with a holder opening it)."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> PortReservation:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.release()


def _bindable(port: int) -> bool:
    # 0.0.0.0 collides with a listener on any address; SO_REUSEADDR ignores a closed socket's TIME_WAIT, as the
    # server that will bind it does.
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def reserve_port(worker: str | None = None) -> PortReservation:
    """A free port from the worker's range, starting at a random place (two runs side by side rarely try the
    same one first), held until released."""
    ports = port_range(worker or worker_id())
    first = random.randrange(len(ports))
    for i in range(len(ports)):
        try:
            return PortReservation(ports[(first + i) % len(ports)])
        except PortInUse:
            continue
    raise PortInUse(f"every port in {ports} is reserved or in use")
