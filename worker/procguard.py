"""Worker layer: the guard every `command` task runs under — a tiny supervisor process that leads the command's
process group and kills that whole group the moment the worker process that started it dies, kill -9 included.

Why a process, not a preexec_fn: a worker is multi-threaded, and Python code run between fork and exec in such a
process can deadlock on a lock another thread held at the fork (CPython documents preexec_fn as unsafe there);
and PR_SET_PDEATHSIG set on the command itself would reach only that one process, never its children. So the
worker starts `python -I -S procguard.py WORKER_PID -- ARGV…` as a new session (process group id = the guard's
pid), and the guard spawns ARGV in its group. The guard learns that its worker died in two independent ways:

- its stdin is a pipe whose only write end the worker holds: end of file means every thread of the worker is gone
  (the kernel closes a dead process's files). This is race-free — a worker that died before the guard even
  started gives end of file at once — and it is per process, not per thread;
- PR_SET_PDEATHSIG (Linux) sends it SIGHUP when the worker thread that spawned it ends; the command handler's
  thread waits for the guard until it is reaped, so that thread outlives the guard unless the worker is dying.

Either way the guard SIGKILLs its process group: itself, the command and every descendant that stayed in the
group. It stays alive as long as the command runs (it ignores the SIGTERM of a stop, which the command receives
too), so the group id cannot be reused while the worker may still signal it. It exits with the command's
status (re-raising the signal that killed it), so the worker sees what it would have seen without a guard.

This file is run by path with `-I -S`: it imports nothing outside the standard library."""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

PR_SET_PDEATHSIG = 1
# The guard's own exit code when it could not start the command: 127 as a shell says "command not found".
CANNOT_RUN = 127
# Ignored dispositions survive exec; Python ignores these at start-up, a command must get the defaults
# (subprocess's restore_signals resets the same ones).
RESTORED_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ") if hasattr(signal, name)
)
GUARD = Path(__file__).resolve()


def guarded_argv(argv: list[str]) -> list[str]:
    """How the worker starts `argv` under a guard (run it with start_new_session=True and stdin=PIPE)."""
    return [sys.executable, "-I", "-S", str(GUARD), str(os.getpid()), "--", *argv]


def _kill_group(*_: object) -> None:
    os.killpg(0, signal.SIGKILL)  # the guard included: nothing of the task may outlive its worker


def _watch_worker() -> None:
    """End of file on stdin: the worker is gone."""
    try:
        while os.read(0, 4096):
            pass
    except OSError:
        pass
    _kill_group()


def _set_parent_death_signal(worker_pid: int) -> None:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGHUP), 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the stdin pipe alone watches the worker
        return
    if os.getppid() != worker_pid:  # the worker died before prctl took effect: no signal would come
        _kill_group()


def _exit_like(status: int) -> None:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)  # a signal whose default is not to terminate
    os._exit(os.waitstatus_to_exitcode(status))


def main(args: list[str]) -> None:
    worker_pid, sep, *argv = args
    if sep != "--" or not argv:
        sys.stderr.write("usage: procguard.py WORKER_PID -- COMMAND [ARG…]\n")
        os._exit(2)
    if os.getpgrp() != os.getpid():  # started without start_new_session: never kill the caller's group
        os.setsid()
    signal.signal(signal.SIGHUP, _kill_group)
    # A stop signals the whole group; the guard outlives the command so that its exit status reaches the
    # worker and the group id stays ours until the worker reaps the guard.
    signal.signal(signal.SIGTERM, lambda *_: None)
    signal.signal(signal.SIGINT, lambda *_: None)
    _set_parent_death_signal(int(worker_pid))
    # The watcher thread must not take the guard's signals: blocked in os.read it would swallow them, and
    # Python runs handlers in the main thread only. A new thread inherits the mask, so block, start, unblock.
    watched = {signal.SIGHUP, signal.SIGTERM, signal.SIGINT, signal.SIGCHLD}
    signal.pthread_sigmask(signal.SIG_BLOCK, watched)
    threading.Thread(target=_watch_worker, daemon=True).start()
    signal.pthread_sigmask(signal.SIG_UNBLOCK, watched)
    try:
        pid = os.posix_spawnp(
            argv[0],
            argv,
            dict(os.environ),
            file_actions=[(os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0)],  # never the worker's pipe
            setsigdef=(*RESTORED_SIGNALS, signal.SIGHUP, signal.SIGTERM, signal.SIGINT),
        )
    except OSError as exc:
        sys.stderr.write(f"cannot run {argv[0]!r}: {exc.strerror or exc}\n")
        sys.stderr.flush()
        os._exit(CANNOT_RUN)
    _, status = os.waitpid(pid, 0)
    _exit_like(status)


if __name__ == "__main__":
    main(sys.argv[1:])
