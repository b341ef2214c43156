"""Worker layer: the `command` handler — a subprocess whose stdout/stderr stream line by line into activity,
with JSON lines parsed as structured events. The command runs under a guard (worker/procguard.py) that kills its
whole process group if the worker dies; a stop, and the command's own end, kill whatever is left of the group."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections import deque
from typing import IO, Any

from sqlalchemy.exc import OperationalError

from db.domain.states import FailureReason
from db.write.claims import earlier_runs
from worker.context import RunHandle, TaskStopped
from worker.procguard import guarded_argv
from worker.protocol import ProtocolState, parse_line
from worker.reaper import kill_run, run_marker, this_host

log = logging.getLogger(__name__)

KILL_GRACE_SECONDS = 3.0
POLL_SECONDS = 0.05
# Marker: the command already reported its result with a `result` event; the runner must not overwrite it.
KEEP_RESULT = object()
STDERR_TAIL = 5


class CommandFailed(Exception):
    reason = FailureReason.EXIT_CODE.value

    def __init__(self, exit_code: int, tail: list[str]) -> None:
        detail = ("; last stderr: " + " | ".join(tail)) if tail else ""
        super().__init__(f"exit code {exit_code}{detail}")
        self.exit_code = exit_code


def run_command(handle: RunHandle) -> Any:
    payload = handle.task.payload
    command = payload["command"]
    argv = ["/bin/sh", "-c", command] if isinstance(command, str) else [str(c) for c in command]
    env = dict(os.environ)
    env.update({str(k): str(v) for k, v in (payload.get("env") or {}).items()})
    # TASKLENS_WORKER_ID, _TASK_ID and _ATTEMPT name this run: the reaper finds its processes by them.
    env.update(run_marker(handle.sink.owner, handle.task.id, handle.task.attempt))
    env["PYTHONUNBUFFERED"] = "1"  # so Python agent scripts stream their lines as they print them
    if handle.task.attempt > 1:
        _end_earlier_attempts(handle)
    try:
        proc = subprocess.Popen(
            guarded_argv(argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            # The guard's lifeline: the worker holds the only write end; end of file means the worker died.
            stdin=subprocess.PIPE,
            cwd=payload.get("cwd") or None,
            env=env,
            start_new_session=True,  # the guard leads a new process group: its pid is the group id
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
        )
    except OSError as exc:
        raise RuntimeError(f"could not start command: {exc}") from exc
    try:
        return _supervise(handle, proc)
    finally:
        _kill_rest(proc)
        proc.wait()  # only now reap the guard: until then its pid keeps the group id from being reused
        assert proc.stdin is not None
        proc.stdin.close()


def _supervise(handle: RunHandle, proc: subprocess.Popen[str]) -> Any:
    _note_process(handle, proc.pid)

    state = ProtocolState(prefix=f"t{handle.task.id}a{handle.task.attempt}-", prices=handle.prices)
    lock = threading.Lock()  # the protocol state is shared by the two reader threads
    tail: deque[str] = deque(maxlen=STDERR_TAIL)

    def pump(pipe: IO[str], stream: str) -> None:
        for line in pipe:
            with lock:
                ops = parse_line(line, stream, state)
            if stream == "stderr" and line.strip():
                tail.append(line.strip()[:300])
            if ops:
                handle.sink.add(*ops)
        pipe.close()

    assert proc.stdout is not None and proc.stderr is not None
    readers = [
        threading.Thread(target=pump, args=(proc.stdout, "stdout"), daemon=True),
        threading.Thread(target=pump, args=(proc.stderr, "stderr"), daemon=True),
    ]
    for r in readers:
        r.start()
    while not _exited(proc):
        if handle.stop_event.wait(POLL_SECONDS):
            _stop_group(proc)
            break
    # Whatever the command left in its group (a background job) dies with it; the pipes then reach their end.
    _kill_rest(proc)
    code = proc.wait()
    for r in readers:
        r.join(timeout=2.0)
    if handle.stop_event.is_set():
        raise TaskStopped(handle.stop_reason or "stopped")
    if code != 0:
        raise CommandFailed(code, list(tail))
    if state.has_result:
        return KEEP_RESULT
    return {"exit_code": 0, "last_output": state.last_output}


def _end_earlier_attempts(handle: RunHandle) -> None:
    """An earlier attempt may still run on this host: its worker stalled past its lease (alive, so its guard
    stays) and a worker on another host, which cannot reach its processes, re-queued the task. End it before
    this attempt starts, found by its exact environment marker; on another host this finds nothing."""
    try:
        with handle.sink.recorder.db.reading() as session:
            runs = earlier_runs(session, handle.task.id, handle.task.attempt)
    except OperationalError:
        log.warning("task %s: could not look up its earlier attempts", handle.task.id, exc_info=True)
        return
    for worker_id, attempt in runs:
        if kill_run(run_marker(worker_id, handle.task.id, attempt), pgid=None):
            log.warning(
                "task %s: killed attempt %d, still running here, before attempt %d",
                handle.task.id,
                attempt,
                handle.task.attempt,
            )


def _note_process(handle: RunHandle, pgid: int) -> None:
    """Record the run's host and process group, for the reaper of the next worker on this host should this one
    die in a way the guard cannot see. Best effort: the guard is the first line."""
    try:
        handle.sink.recorder.note_process(handle.task.id, handle.sink.owner, this_host(), pgid)
    except OperationalError:
        log.warning("task %s: could not record its process group %d", handle.task.id, pgid, exc_info=True)


def _exited(proc: subprocess.Popen[str]) -> bool:
    """Has the guard ended? Asked without reaping it (WNOWAIT): an unreaped pid cannot be reused, so the group
    id stays safe to signal until proc.wait(). Without waitid (macOS before Python 3.13) poll() reaps it, and
    _kill_rest then leaves the group alone."""
    if not hasattr(os, "waitid"):
        return proc.poll() is not None
    return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def _stop_group(proc: subprocess.Popen[str]) -> None:
    """SIGTERM to the whole group (the guard ignores it and waits for the command), then SIGKILL after the
    grace period to whatever is left of it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + KILL_GRACE_SECONDS
    while not _exited(proc) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
    _kill_rest(proc)


def _kill_rest(proc: subprocess.Popen[str]) -> None:
    if proc.returncode is None:  # never after proc.wait(): the group id may belong to someone else by then
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
