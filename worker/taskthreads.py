"""Worker layer: the threads that run tasks, kept alive between tasks. Starting a thread per task made the
dispatcher wait for each new thread to get the GIL (a sixth of its time draining tiny tasks)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

IDLE_SECONDS = 30.0


class TaskThreads:
    """Runs each job on an idle thread, or on a new one when none is idle, so a task whose thread was
    abandoned (it ignored a stop) never holds up the next. Idle threads end after `idle_seconds`."""

    def __init__(self, idle_seconds: float = IDLE_SECONDS) -> None:
        self._jobs: queue.SimpleQueue[tuple[str, Callable[[], None]]] = queue.SimpleQueue()
        self._idle = 0
        self._lock = threading.Lock()
        self._idle_seconds = idle_seconds
        self._mine = threading.local()

    def run(self, name: str, job: Callable[[], None]) -> None:
        with self._lock:
            if self._idle > 0:  # taken under the lock, so an idle thread about to end cannot miss it
                self._idle -= 1
                self._jobs.put((name, job))
                return
        threading.Thread(target=self._loop, args=(name, job), name=name, daemon=True).start()

    def finishing(self) -> None:
        """Called by a job about to end: its thread counts as idle from now on, so work handed over in the
        job's last steps (which wakes the dispatcher at once) goes to this thread instead of a new one."""
        if getattr(self._mine, "running", False):
            self._mine.running = False
            with self._lock:
                self._idle += 1

    def _loop(self, name: str, job: Callable[[], None]) -> None:
        me = threading.current_thread()
        while True:
            me.name = name
            self._mine.running = True
            job()
            me.name = "task-idle"
            self.finishing()
            try:
                name, job = self._jobs.get(timeout=self._idle_seconds)
            except queue.Empty:
                with self._lock:
                    try:  # a job handed over between the timeout and the lock is still ours
                        name, job = self._jobs.get_nowait()
                    except queue.Empty:
                        self._idle -= 1
                        return
