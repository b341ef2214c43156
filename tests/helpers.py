"""Tests: helpers for real subprocesses of `python app.py` — running CLI commands, starting, stopping and
killing worker processes, and waiting on database state with a deadline instead of fixed sleeps."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import OperationalError, ProgrammingError

from db.core.engine import Database
from db.core.models import Task, TaskEvent
from db.core.models import Worker as WorkerRow
from db.domain.states import EventType, TaskStatus
from db.read.tasks import history
from db.read.tasks.detail import task_record
from tests.parallel import PortReservation, reserve_port

REPO_ROOT = Path(__file__).resolve().parent.parent
APP = str(REPO_ROOT / "app.py")
DEADLINE = 30.0

T = TypeVar("T")


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment without any TASKLENS_* setting that could leak in, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKLENS_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def fast_worker_env(**extra: str) -> dict[str, str]:
    """Short heartbeat, sweep and poll intervals so that recoveries happen within a few seconds."""
    return clean_env(
        TASKLENS_HEARTBEAT_SECONDS="0.5",
        TASKLENS_SWEEP_SECONDS="0.5",
        TASKLENS_POLL_SECONDS="0.5",
        TASKLENS_LOG_LEVEL="INFO",
        **extra,
    )


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run `python app.py ARGS…` to completion from the repository root and capture its output."""
    return subprocess.run(
        [sys.executable, APP, *args],
        cwd=REPO_ROOT,
        env=clean_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class WorkerProcess:
    """`python app.py worker` as a real subprocess whose output goes to a log file (never a pipe that could
    fill up). Use as a context manager, or call close() in a finally: it never outlives the test."""

    def __init__(
        self,
        db_url: str,
        log_dir: Path,
        *,
        name: str | None = None,
        concurrency: int = 1,
        lease_seconds: float | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.db_url = db_url
        self.name = name or f"tw-{uuid.uuid4().hex[:8]}"
        self.log_path = log_dir / f"worker-{self.name}.log"
        args = ["worker", "--db", db_url, "--name", self.name, "--concurrency", str(concurrency)]
        if lease_seconds is not None:
            args += ["--lease-seconds", str(lease_seconds)]
        self._log: IO[bytes] = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, APP, *args],
            cwd=REPO_ROOT,
            env=fast_worker_env() if env is None else env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        self.id: str | None = None

    def __enter__(self) -> WorkerProcess:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_text(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def assert_alive(self) -> None:
        code = self.proc.poll()
        if code is not None:
            raise AssertionError(f"worker {self.name} exited with {code}:\n{self.log_text()[-4000:]}")

    def wait_registered(self, db: Database, timeout: float = 4 * DEADLINE) -> str:
        """Wait until the worker's row exists; returns its id. A new process imports the whole worker before it
        registers: at load 12 on two cores that took over 30 s (a full-suite run beside five other jobs)."""

        def registered() -> str | None:
            self.assert_alive()
            try:
                with db.reading() as session:
                    return session.scalars(select(WorkerRow.id).where(WorkerRow.name == self.name)).first()
            except (OperationalError, ProgrammingError):  # a fresh database the worker is still migrating
                return None

        self.id = wait_until(registered, timeout, f"worker {self.name} to register", workers=[self])
        return self.id

    def terminate(self, timeout: float = DEADLINE) -> int:
        """SIGTERM (a graceful stop) and wait for the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> int:
        """SIGKILL: the worker gets no chance to clean up, as on a crash or OOM kill."""
        self.proc.send_signal(signal.SIGKILL)
        return self.proc.wait(timeout=DEADLINE)

    def close(self) -> None:
        try:
            stop_process(self.proc, timeout=20)
        finally:
            self._log.close()


# Every port free_port() handed out stays reserved until this process ends: the server that binds it (often a
# subprocess) may start, stop and bind it again later in the test.
_RESERVED: list[PortReservation] = []


def free_port() -> int:
    """A port for a server to bind, reserved for this xdist worker (tests/parallel.py): binding port 0 and
    releasing it let another worker's server, or an outgoing connection, take it before ours bound it."""
    reservation = reserve_port()
    _RESERVED.append(reservation)
    return reservation.port


def stop_process(proc: subprocess.Popen[Any], timeout: float = 15) -> None:
    """SIGTERM (a clean stop), then SIGKILL if it is still there after `timeout` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def wait_until(
    predicate: Callable[[], T | None],
    timeout: float = DEADLINE,
    what: str = "a condition",
    *,
    interval: float = 0.1,
    workers: Iterable[WorkerProcess] = (),
    describe: Callable[[], str] | None = None,
) -> T:
    """Poll `predicate` until it returns something truthy (returned) or the deadline passes (AssertionError
    with the workers' logs, so a failure on a loaded machine says why)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            detail = describe() if describe else ""
            logs = "\n".join(f"--- log of worker {w.name} ---\n{w.log_text()[-3000:]}" for w in workers)
            raise AssertionError(f"timed out after {timeout:g}s waiting for {what}. {detail}\n{logs}")
        time.sleep(interval)


def load_task(db: Database, task_id: int) -> Task:
    with db.reading() as session:
        task = task_record(session, task_id)
    assert task is not None, f"task {task_id} does not exist"
    return task


def load_events(db: Database, task_id: int) -> list[TaskEvent]:
    with db.reading() as session:
        return history.events(session, task_id)


def wait_for_status(
    db: Database,
    task_id: int,
    statuses: Iterable[str],
    timeout: float = DEADLINE,
    *,
    workers: Iterable[WorkerProcess] = (),
) -> Task:
    wanted = {str(s) for s in statuses}
    workers = list(workers)

    def reached() -> Task | None:
        task = load_task(db, task_id)
        return task if task.status in wanted else None

    def describe() -> str:
        task = load_task(db, task_id)
        return f"task {task_id} is {task.status} (attempt {task.attempt}, worker {task.worker_id})"

    return wait_until(
        reached, timeout, f"task {task_id} to be {sorted(wanted)}", workers=workers, describe=describe
    )


def wait_for_activity(
    db: Database, task_id: int, text: str, timeout: float = DEADLINE, *, workers: Iterable[WorkerProcess] = ()
) -> TaskEvent:
    """Wait until an activity event of the task carries `text` in its message."""

    def found() -> TaskEvent | None:
        for ev in load_events(db, task_id):
            if ev.type == EventType.ACTIVITY.value and text in (ev.payload or {}).get("message", ""):
                return ev
        return None

    return wait_until(found, timeout, f"activity {text!r} of task {task_id}", workers=list(workers))


def transitions(events: Iterable[TaskEvent]) -> list[tuple[str | None, str | None, dict[str, Any]]]:
    """The task.transition events as (from, to, payload), in seq order."""
    return [
        (e.from_status, e.to_status, dict(e.payload or {}))
        for e in events
        if e.type == EventType.TRANSITION.value
    ]


def count_terminal(db: Database, task_ids: Iterable[int]) -> int:
    ids = list(task_ids)
    terminal = [s.value for s in TaskStatus if s.is_terminal]
    with db.reading() as session:
        return len(session.scalars(select(Task.id).where(Task.id.in_(ids), Task.status.in_(terminal))).all())
