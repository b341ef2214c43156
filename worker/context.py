"""Worker layer: what a running task writes through — a buffered op sink per run, and the TaskContext that
python callables and the demo agent use to report progress, activity, invocations and usage."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.exc import IntegrityError, OperationalError

from db.core.unavailable import backoff
from db.domain.ops import (
    ActivityLine,
    InvocationFinished,
    InvocationStarted,
    Op,
    Progress,
    SetResult,
    Usage,
)
from db.domain.pricing import DEFAULT_PRICES, Price, cost_of
from db.domain.states import ActivityType
from db.write.claims import ClaimedTask
from db.write.recorder import Recorder, new_id
from db.write.writes import InvocationNotFound, LeaseLost, TaskNotFound

log = logging.getLogger(__name__)

# A chatty task is written in batches: one transaction per flush, not per line.
MAX_BUFFERED = 2_000
# While the database is away a run keeps its ops, in order, up to this many; then the producing thread waits
# for the database (a command's pipe fills and the command itself waits), so an outage cannot eat the memory.
MAX_HELD = 100_000


class TaskStopped(Exception):
    """Raised inside a task when it must stop (cancelled, timed out, lease lost, worker shutting down)."""


class OpSink:
    """Collects a run's ops; the worker's supervisor flushes them every few tens of milliseconds. While the
    database is away a flush keeps the ops and the next one waits out a backoff (50 ms doubling to 5 s, shared
    by the process through the database's health, which logs the outage once); they are written, in order,
    when it is back."""

    def __init__(self, recorder: Recorder, task_id: int, owner: str) -> None:
        self.recorder = recorder
        self.health = recorder.db.health
        self.task_id = task_id
        self.owner = owner
        self._ops: list[Op] = []
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._failures = 0
        self._retry_at = 0.0
        self.lost = False

    def add(self, *ops: Op) -> None:
        with self._lock:
            self._ops.extend(ops)
            full = len(self._ops) >= MAX_BUFFERED
        if full:  # back-pressure: a flood of output is written by the producing thread itself
            self.flush()
            while self.pending() >= MAX_HELD and not self.lost:
                time.sleep(self.retry_in())
                self.flush()

    def pending(self) -> int:
        with self._lock:
            return len(self._ops)

    def retry_in(self) -> float:
        """Seconds until this sink may try the database again (a short nap at least, at most a second)."""
        wait = max(self._retry_at - time.monotonic(), self.health.wait_seconds())
        return min(max(wait, 0.01), 1.0)

    def drain(self, timeout: float) -> bool:
        """Flush until nothing is held, waiting out an outage for up to `timeout` seconds (a run's last lines
        before its end). True when all was written (or the run was lost, so nothing more can be)."""
        deadline = time.monotonic() + timeout
        while True:
            self.flush()
            if self.lost or not self.pending():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(self.retry_in())

    def flush(self) -> None:
        with self._flush_lock:
            if time.monotonic() < self._retry_at or not self.health.may_try():
                if self.health.outage is not None:  # the database is away: keep everything for a later try
                    self.health.holding(self, self.pending())
                return
            with self._lock:
                ops, self._ops = self._ops, []
            if not ops or self.lost:
                return
            try:
                self.recorder.record(self.task_id, *ops, actor=f"worker:{self.owner}", owner=self.owner)
            except (LeaseLost, TaskNotFound):
                self.lost = True
            except OperationalError as exc:
                # The database is busy or away: keep the ops, in order, for a try after the backoff.
                with self._lock:
                    self._ops[:0] = ops
                    held = len(self._ops)
                self._failures += 1
                self._retry_at = time.monotonic() + backoff(self._failures)
                self.health.holding(self, held)
                if self.health.failed(exc) is None and self._failures == 1:
                    # Not an outage the health knows (it logs those once per process): say it once per run.
                    log.warning("task %s: flush failed, will retry with backoff", self.task_id, exc_info=True)
                return
            except (IntegrityError, InvocationNotFound):
                self._one_by_one(ops)
            if self._failures:
                self._failures, self._retry_at = 0, 0.0
                self.health.holding(self, 0)

    def _one_by_one(self, ops: list[Op]) -> None:
        """A batch with one bad op: write the good ones and report the bad one as an error line."""
        for op in ops:
            try:
                self.recorder.record(self.task_id, op, actor=f"worker:{self.owner}", owner=self.owner)
            except (LeaseLost, TaskNotFound):
                self.lost = True
                return
            except (IntegrityError, InvocationNotFound) as exc:
                note = ActivityLine(f"could not record {type(op).__name__}: {exc}", ActivityType.ERROR)
                self.recorder.record(self.task_id, note, actor=f"worker:{self.owner}", owner=self.owner)


@dataclass
class RunHandle:
    """One running task as its worker sees it."""

    task: ClaimedTask
    sink: OpSink
    started: float = field(default_factory=time.monotonic)
    deadline: float | None = None
    stop_event: threading.Event = field(default_factory=threading.Event)
    stop_reason: str | None = None
    stop_requested_at: float | None = None
    prices: dict[str, Price] = field(default_factory=lambda: dict(DEFAULT_PRICES))

    def request_stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
            self.stop_requested_at = time.monotonic()
        self.stop_event.set()


class TaskContext:
    """Given to `python` callables (and used by the demo agent). Every call is recorded in order."""

    def __init__(self, handle: RunHandle) -> None:
        self._handle = handle
        self.task_id = handle.task.id
        self.title = handle.task.title
        self.attempt = handle.task.attempt
        self.payload: dict[str, Any] = dict(handle.task.payload)
        self.max_iterations = handle.task.max_iterations

    @property
    def stop_requested(self) -> bool:
        return self._handle.stop_event.is_set()

    def check(self) -> None:
        """Cooperative cancellation point: raises TaskStopped when the task must stop."""
        if self._handle.stop_event.is_set():
            raise TaskStopped(self._handle.stop_reason or "stopped")

    def sleep(self, seconds: float) -> None:
        """Sleep that ends early, raising TaskStopped, when the task must stop."""
        if self._handle.stop_event.wait(max(0.0, seconds)):
            raise TaskStopped(self._handle.stop_reason or "stopped")

    def progress(
        self,
        iteration: int | None = None,
        max_iterations: int | None = None,
        percent: float | None = None,
        message: str | None = None,
    ) -> None:
        self._handle.sink.add(Progress(iteration, max_iterations, percent, message))

    def activity(self, message: str, type: str = "output", invocation_id: str | None = None) -> None:
        self._handle.sink.add(ActivityLine(str(message), ActivityType(type), invocation_id))

    def usage(
        self,
        model: str,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_read_tokens: int = 0,
        cost_usd: float | None = None,
        invocation_id: str | None = None,
    ) -> None:
        if cost_usd is None:
            cost_usd = cost_of(model, input_tokens, output_tokens, cache_read_tokens, self._handle.prices)
        self._handle.sink.add(
            Usage(model, input_tokens, output_tokens, cache_read_tokens, cost_usd, invocation_id)
        )

    def set_result(self, result: Any) -> None:
        self._handle.sink.add(SetResult(result))

    @contextmanager
    def invocation(
        self,
        role: str,
        provider: str = "",
        model: str = "",
        prompt: str | None = None,
        iteration: int | None = None,
    ) -> Iterator[Invocation]:
        """Records invocation.started, then completed on normal exit or failed on an exception."""
        inv = Invocation(self, new_id(), model)
        self._handle.sink.add(InvocationStarted(inv.id, role, provider, model, prompt, iteration))
        try:
            yield inv
        except BaseException as exc:
            self._handle.sink.add(InvocationFinished(inv.id, ok=False, error=str(exc) or type(exc).__name__))
            raise
        self._handle.sink.add(InvocationFinished(inv.id, ok=True, response=inv.response))


class Invocation:
    def __init__(self, ctx: TaskContext, id_: str, model: str) -> None:
        self.ctx = ctx
        self.id = id_
        self.model = model
        self.response: str | None = None

    def usage(
        self,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cache_read_tokens: int = 0,
        cost_usd: float | None = None,
    ) -> None:
        self.ctx.usage(self.model, input_tokens, output_tokens, cache_read_tokens, cost_usd, self.id)

    def activity(self, message: str, type: str = "tool_exec") -> None:
        self.ctx.activity(message, type, self.id)
