"""Worker layer: the `command` handler — a subprocess whose stdout/stderr stream line by line into activity,
with JSON lines parsed as structured events. Stopping kills the whole process group."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections import deque
from typing import IO, Any

from db.states import FailureReason
from worker.context import RunHandle, TaskStopped
from worker.protocol import ProtocolState, parse_line

KILL_GRACE_SECONDS = 3.0
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
    env.update(
        TASKLENS_TASK_ID=str(handle.task.id),
        TASKLENS_ATTEMPT=str(handle.task.attempt),
        PYTHONUNBUFFERED="1",  # so Python agent scripts stream their lines as they print them
    )
    try:
        proc = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            cwd=payload.get("cwd") or None,
            env=env,
            start_new_session=True,  # its own process group, so a stop kills children too
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
        )
    except OSError as exc:
        raise RuntimeError(f"could not start command: {exc}") from exc

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
    while True:
        try:
            code = proc.wait(timeout=0.05)
            break
        except subprocess.TimeoutExpired:
            if handle.stop_event.is_set():
                _kill_group(proc)
                code = proc.wait()
                break
    for r in readers:
        r.join(timeout=2.0)
    if handle.stop_event.is_set():
        raise TaskStopped(handle.stop_reason or "stopped")
    if code != 0:
        raise CommandFailed(code, list(tail))
    if state.has_result:
        return KEEP_RESULT
    return {"exit_code": 0, "last_output": state.last_output}


def _kill_group(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=KILL_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
