"""Worker layer: the second line of defence against a dead worker's commands. Before the lease sweep re-queues a
task whose lease expired, a worker on the host where its command ran kills what is left of it: the process group
recorded for the run and any process carrying the run's environment marker (one that left the group with
setsid) — each after checking /proc that it really is that run's, so a recycled pid is never killed.

Linux only (it reads /proc); elsewhere it finds nothing and the guard (worker/procguard.py) is the only line."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from db.write.claims import ExpiredRun

log = logging.getLogger(__name__)

PROC = Path("/proc")
# SIGKILL is not instant (a process in uninterruptible sleep dies when it leaves it); wait this long for the
# run's processes to be gone before the sweep re-queues the task anyway.
REAP_DEADLINE_SECONDS = 2.0


def this_host() -> str:
    """The host name runs are recorded under; a worker reaps only runs recorded under its own."""
    return socket.gethostname()


def run_marker(worker_id: str, task_id: int, attempt: int) -> dict[str, str]:
    """The environment every process of one run inherits; together the three values name that run alone."""
    return {
        "TASKLENS_WORKER_ID": worker_id,
        "TASKLENS_TASK_ID": str(task_id),
        "TASKLENS_ATTEMPT": str(attempt),
    }


@dataclass(frozen=True)
class _Process:
    pid: int
    pgid: int


def _processes_of(marker: dict[str, str]) -> Iterator[_Process]:
    """Live processes whose environment holds the marker. A process we may not read is not ours (another user);
    a zombie has an empty environment and is already dead."""
    wanted = {f"{k}={v}".encode() for k, v in marker.items()}
    try:
        entries = os.listdir(PROC)
    except OSError:  # no /proc: not Linux
        return
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            environ = (PROC / entry / "environ").read_bytes()
            stat = (PROC / entry / "stat").read_text()
        except OSError:  # gone meanwhile, or not ours
            continue
        if wanted <= set(environ.split(b"\0")):
            # After the command name (which may hold spaces and parentheses): state, ppid, pgrp, …
            fields = stat[stat.rindex(")") + 2 :].split()
            if fields[0] != "Z":
                yield _Process(int(entry), int(fields[2]))


def kill_run(marker: dict[str, str], pgid: int | None, deadline: float = REAP_DEADLINE_SECONDS) -> int:
    """SIGKILL every process of the run: its recorded process group when a process of the group carries the
    marker (a group id stays reserved while any member lives, so that member proves the group is the run's, even
    with its leader gone), and each marked process besides. Returns how many marked processes were found."""
    found = 0
    until = time.monotonic() + deadline
    while True:
        procs = list(_processes_of(marker))
        if not procs:
            return found
        found = max(found, len(procs))
        if time.monotonic() > until:
            log.warning("processes of run %s still alive after SIGKILL: %s", marker, [p.pid for p in procs])
            return found
        if pgid is not None and any(p.pgid == pgid for p in procs):
            _kill(os.killpg, pgid)  # members that dropped the marker (env -i) go too
        for p in procs:
            _kill(os.kill, p.pid)
        time.sleep(0.02)


def _kill(kill: Callable[[int, int], None], target: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        kill(target, signal.SIGKILL)


def reap_expired(runs: Iterable[ExpiredRun], host: str) -> dict[int, int]:
    """Kill what is left of the commands of these expired runs that ran on `host`; by task, how many processes
    were found (only tasks with any)."""
    killed: dict[int, int] = {}
    for run in runs:
        # No host recorded: the worker died before it could note one; the marker alone is safe to look for.
        if run.worker_id is None or run.run_host not in (None, host):
            continue
        found = kill_run(run_marker(run.worker_id, run.id, run.attempt), run.run_pgid)
        if found:
            killed[run.id] = found
    if killed:
        log.warning("killed the processes left by lost workers on this host (task: processes): %s", killed)
    return killed
