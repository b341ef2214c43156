"""Tests: a `command` task's processes die with the worker that started them — a real `python app.py worker` is
killed with SIGKILL and /proc must show nothing of its commands within 2 s; a task re-run after the kill never
overlaps the killed attempt; what escaped the first line of defence is killed by the next worker on the host
before its lease sweep re-queues the task; a command's leftovers end with it; the reaper never trusts a pid alone."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import update

from db.core.engine import Database
from db.core.models import Task
from db.domain.ops import TaskSpec
from db.domain.states import TaskKind
from db.write.recorder import Recorder
from tests.helpers import WorkerProcess, load_task, wait_for_status, wait_until
from worker.reaper import kill_run, run_marker

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not sys.platform.startswith("linux"), reason="the guarantee is Linux's (prctl, /proc)"
    ),
]

KILL_DEADLINE = 2.0


@dataclass(frozen=True)
class Proc:
    pid: int
    pgid: int
    argv: list[str]


def marked(marker: str) -> list[Proc]:
    """Live (non-zombie) processes whose environment holds TEST_MARKER=marker: what our commands started."""
    needle = f"TEST_MARKER={marker}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
            stat = Path(f"/proc/{entry}/stat").read_text()
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if needle in environ.split(b"\0") and fields[0] != "Z":
            found.append(Proc(int(entry), int(fields[2]), [a for a in argv if a]))
    return found


def kill_marked(marker: str) -> None:
    """Clean-up after a failing run: nothing a test started may outlive it."""
    for p in marked(marker):
        with contextlib.suppress(ProcessLookupError):
            os.kill(p.pid, signal.SIGKILL)


def command_task(title: str, command: str | list[str], marker: str, **kw: object) -> TaskSpec:
    payload = {"command": command, "env": {"TEST_MARKER": marker}}
    return TaskSpec(title=title, kind=TaskKind.COMMAND, payload=payload, **kw)  # type: ignore[arg-type]


def running(marker: str, *argv0: str) -> list[Proc] | None:
    """The marked processes once one runs each of `argv0` (a program name, e.g. sleep, sh), else None."""
    procs = marked(marker)
    names = [os.path.basename(p.argv[0]) if p.argv else "" for p in procs]
    return procs if all(names.count(n) >= argv0.count(n) for n in argv0) else None


def gone_within(marker: str, seconds: float) -> float:
    """Seconds until no marked process remains (fails past `seconds`)."""
    start = time.monotonic()
    wait_until(
        lambda: not marked(marker),
        seconds,
        f"every process of the commands to die (marker {marker})",
        interval=0.02,
        describe=lambda: f"still alive: {marked(marker)}",
    )
    return time.monotonic() - start


# ---- 1. the first line: a command dies with its worker ------------------------------------------------------
def test_sigkilled_worker_takes_its_commands_and_their_children_with_it(
    db_url: str, db: Database, recorder: Recorder, tmp_path: Path
) -> None:
    marker = uuid.uuid4().hex
    worker = WorkerProcess(db_url, tmp_path, concurrency=3, lease_seconds=60)
    try:
        worker.wait_registered(db)
        ids = recorder.submit_many(
            [
                command_task("argv", ["sleep", "30"], marker),
                command_task("shell", "sleep 30", marker),
                # sh stays to run the echo, so sleep is a grandchild of the worker's direct child
                command_task("grandchild", "sleep 30; echo never", marker),
            ]
        )
        for task_id in ids:
            wait_for_status(db, task_id, ["running"], workers=[worker])
        wait_until(
            lambda: running(marker, "sleep", "sleep", "sleep", "sh"),
            30,
            "the three commands to run",
            workers=[worker],
            describe=lambda: f"running: {marked(marker)}",
        )

        worker.kill()
        latency = gone_within(marker, KILL_DEADLINE)
        print(f"commands gone {latency * 1000:.0f} ms after the worker's SIGKILL")
    finally:
        worker.close()
        kill_marked(marker)


# ---- 2. attempts never overlap --------------------------------------------------------------------------------
def test_attempt_after_a_kill_never_overlaps_the_killed_one(
    db_url: str, db: Database, recorder: Recorder, tmp_path: Path
) -> None:
    marker = uuid.uuid4().hex
    log = tmp_path / "attempts.log"
    q = shlex.quote(str(log))
    command = f'echo "start $TASKLENS_ATTEMPT" >> {q}; sleep 3; echo "end $TASKLENS_ATTEMPT" >> {q}'
    a = WorkerProcess(db_url, tmp_path, name="victim", lease_seconds=2)
    b: WorkerProcess | None = None
    try:
        a.wait_registered(db)
        task_id = recorder.submit(command_task("appends its attempts", command, marker, max_attempts=2))
        wait_until(
            lambda: log.exists() and "start 1" in log.read_text(), 30, "attempt 1 to start", workers=[a]
        )
        a.kill()
        b = WorkerProcess(db_url, tmp_path, name="rescuer", lease_seconds=2)
        b.wait_registered(db)
        task = wait_for_status(db, task_id, ["completed"], 60, workers=[b])
        assert task.attempt == 2
        # Attempt 1 would have written its end 3 s after it started, long before attempt 2 (which also sleeps 3 s
        # after a 2 s lease ran out) could end: had it survived, its `end 1` would be in the log by now.
        assert log.read_text().split("\n") == ["start 1", "start 2", "end 2", ""]
    finally:
        a.close()
        if b is not None:
            b.close()
        kill_marked(marker)


# ---- 3. the second line: the next worker on the host kills what escaped ------------------------------------
def test_next_worker_on_the_host_kills_what_survived_before_requeueing(
    db_url: str, db: Database, recorder: Recorder, tmp_path: Path
) -> None:
    """Two ways a command outlives the first line: it leaves its process group (setsid), or its guard is killed
    along with the worker (here: the worker is frozen, the guard killed, then the worker). The next worker on
    this host finds the expired leases, kills both by the process group and the environment it recorded, and
    only then fails the tasks (no attempts left)."""
    marker = uuid.uuid4().hex
    a = WorkerProcess(db_url, tmp_path, name="victim", concurrency=2, lease_seconds=2)
    b: WorkerProcess | None = None
    try:
        a.wait_registered(db)
        escaper, orphan = recorder.submit_many(
            [
                command_task("escapes its group", "setsid sleep 30 & wait", marker),
                command_task("loses its guard", ["sleep", "30"], marker),
            ]
        )
        for task_id in (escaper, orphan):
            wait_for_status(db, task_id, ["running"], workers=[a])
        procs = wait_until(
            lambda: running(marker, "sleep", "sleep", "sh"),
            30,
            "both commands to run",
            workers=[a],
            describe=lambda: f"running: {marked(marker)}",
        )
        recorded = load_task(db, orphan)
        assert recorded.run_host == os.uname().nodename
        assert recorded.run_pgid is not None
        guard = next(p for p in procs if p.pid == recorded.run_pgid)
        assert any(p.pgid == guard.pid and p.argv[:2] == ["sleep", "30"] for p in procs)

        a.proc.send_signal(signal.SIGSTOP)  # so it cannot notice its guard's end and clean up itself
        os.kill(guard.pid, signal.SIGKILL)
        a.kill()
        wait_until(
            lambda: len(marked(marker)) == 2,
            10,
            "the two escaped sleeps to be all that is left",
            describe=lambda: f"alive: {marked(marker)}",
        )

        b = WorkerProcess(db_url, tmp_path, name="rescuer", lease_seconds=2)
        b.wait_registered(db)
        for task_id in (escaper, orphan):
            task = wait_for_status(db, task_id, ["failed"], 30, workers=[b])
            assert task.failure_reason == "worker_lost"
        # The rescuer kills before it re-queues (or fails): nothing was left running when the task moved on.
        assert marked(marker) == []
    finally:
        a.close()
        if b is not None:
            b.close()
        kill_marked(marker)


def test_a_stalled_workers_attempt_ends_before_the_next_starts_on_its_host(
    db_url: str, db: Database, recorder: Recorder, tmp_path: Path
) -> None:
    """The worker is alive but frozen past its lease, and the task is re-queued by a sweep that could not reach
    its processes (as from another host: the run's host is rewritten so this host's sweep leaves it alone). The
    worker that claims the next attempt here ends the earlier one, still running, before it starts its own."""
    marker = uuid.uuid4().hex
    log = tmp_path / "attempts.log"
    q = shlex.quote(str(log))
    command = (
        f'echo "start $TASKLENS_ATTEMPT" >> {q}; '
        'if [ "$TASKLENS_ATTEMPT" = 1 ]; then sleep 30; else sleep 0.5; fi; '
        f'echo "end $TASKLENS_ATTEMPT" >> {q}'
    )
    a = WorkerProcess(db_url, tmp_path, name="frozen", lease_seconds=2)
    b: WorkerProcess | None = None
    try:
        a.wait_registered(db)
        task_id = recorder.submit(command_task("outlives its lease", command, marker, max_attempts=2))
        wait_until(
            lambda: log.exists() and "start 1" in log.read_text(), 30, "attempt 1 to start", workers=[a]
        )
        wait_until(lambda: load_task(db, task_id).run_pgid, 30, "attempt 1's process group to be recorded")
        a.proc.send_signal(signal.SIGSTOP)
        with db.writing() as session:
            session.execute(update(Task).where(Task.id == task_id).values(run_host="another-host"))
        first = marked(marker)
        assert first, "attempt 1 runs"

        b = WorkerProcess(db_url, tmp_path, name="next", lease_seconds=2)
        b.wait_registered(db)
        task = wait_for_status(db, task_id, ["completed"], 60, workers=[b])
        assert task.attempt == 2
        assert log.read_text().split("\n") == ["start 1", "start 2", "end 2", ""]
        assert not {p.pid for p in first} & {p.pid for p in marked(marker)}, "attempt 1 was ended"
    finally:
        if a.proc.poll() is None:
            a.kill()  # a SIGTERM would stay pending on the stopped process
        a.close()
        if b is not None:
            b.close()
        kill_marked(marker)


# ---- 4. what the pieces promise on their own ---------------------------------------------------------------
def test_a_commands_leftovers_end_with_it(
    db_url: str, db: Database, recorder: Recorder, tmp_path: Path
) -> None:
    """A background job the command did not wait for is killed when the command ends: an attempt that is over
    leaves nothing running."""
    marker = uuid.uuid4().hex
    worker = WorkerProcess(db_url, tmp_path, lease_seconds=60)
    try:
        worker.wait_registered(db)
        task_id = recorder.submit(command_task("leaves a job behind", "sleep 30 & echo left", marker))
        task = wait_for_status(db, task_id, ["completed"], workers=[worker])
        assert task.result == {"exit_code": 0, "last_output": "left"}
        gone_within(marker, KILL_DEADLINE)
    finally:
        worker.close()
        kill_marked(marker)


def test_reaper_kills_only_processes_that_carry_the_runs_marker(tmp_path: Path) -> None:
    """The recorded process group id alone is never trusted (the pid may have been reused): a group without the
    run's environment is left alone; the run's processes die, in the group or out of it."""
    marker = uuid.uuid4().hex
    run = run_marker("w-1", 7, 2)
    stranger = subprocess.Popen(
        ["sleep", "30"], env={**os.environ, "TEST_MARKER": marker}, start_new_session=True
    )
    ours = subprocess.Popen(
        ["sleep", "30"], env={**os.environ, "TEST_MARKER": marker, **run}, start_new_session=True
    )
    other_attempt = subprocess.Popen(
        ["sleep", "30"],
        env={**os.environ, "TEST_MARKER": marker, **run_marker("w-1", 7, 1)},
        start_new_session=True,
    )
    try:
        wait_until(lambda: len(marked(marker)) == 3, 10, "the three sleeps to start")
        assert kill_run(run, pgid=stranger.pid) == 1  # the stranger's group, as if its id had been recorded
        assert ours.wait(timeout=5) == -signal.SIGKILL
        assert stranger.poll() is None and other_attempt.poll() is None
    finally:
        for p in (stranger, ours, other_attempt):
            p.kill()
            p.wait()
