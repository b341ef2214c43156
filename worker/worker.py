"""Worker layer: the worker process — registers itself, claims tasks when woken, runs up to N at once, and
drives its periodic jobs (heartbeat and leases, sweeps, stats) with an in-memory APScheduler."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy.exc import IntegrityError, OperationalError

import jsonlog
from config import Settings
from db.core.engine import Database
from db.core.unavailable import backoff
from db.domain.ops import Op
from db.domain.states import EXECUTABLE_KINDS, IllegalTransition, TaskKind
from db.live.changefeed import TOPIC_QUEUE, Hub
from db.write.claims import ClaimedTask, cancel_requested, has_claimable
from db.write.recorder import Recorder
from db.write.workers import WorkerIdentity
from db.write.writes import InvocationNotFound, LeaseLost, TaskNotFound
from worker.alerting import AlertLoops
from worker.context import OpSink, RunHandle
from worker.jobs import JOBS
from worker.reporting import ReportRunner
from worker.runner import final_ops, run_handler
from worker.schedlog import scheduler_logger
from worker.taskthreads import TaskThreads

log = logging.getLogger(__name__)

SUPERVISE_SECONDS = 0.05
# A run's last lines and its end wait this long for a database that is away; after that the lease sweep
# takes the task over (re-queued while attempts remain) and our late writes are refused as LeaseLost.
FINISH_PATIENCE_SECONDS = 120.0


class Worker:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        recorder: Recorder,
        hub: Hub,
        *,
        kinds: frozenset[TaskKind] = EXECUTABLE_KINDS,
        on_fleet_stop: Callable[[], None] | None = None,
    ) -> None:
        self.settings: Settings = settings
        self.db: Database = db
        self.recorder: Recorder = recorder
        self.hub: Hub = hub
        wanted = settings.claim_kinds()
        self.kinds = kinds if wanted is None else frozenset(k for k in kinds if k.value in wanted)
        self.only_tags: tuple[str, ...] = settings.claim_tags() or ()
        # Fleet control as the heartbeat last read it: "drain" or "stop" claims nothing (the claim checks the
        # row too, so this only saves the attempt); "stop" ends the worker once nothing runs.
        self.control: str | None = None
        self._on_fleet_stop = on_fleet_stop
        pid = os.getpid()
        self.identity = WorkerIdentity(
            id=f"{settings.worker_name}-{pid}-{uuid.uuid4().hex[:4]}",
            name=settings.worker_name,
            host=socket.gethostname(),
            pid=pid,
            concurrency=settings.worker_concurrency,
            claim_kinds=None if wanted is None else tuple(sorted(k.value for k in self.kinds)),
            claim_tags=self.only_tags or None,
        )
        self.prices = settings.prices()  # read once: a bad price file fails the start, not a task
        self._handles: dict[int, RunHandle] = {}
        self._finalized: set[int] = set()
        # Runs that ended, with their final ops, waiting for the dispatcher's next transaction.
        self._done: list[tuple[RunHandle, list[Op]]] = []
        self._batching = True
        self._task_threads = TaskThreads()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._unsubscribe = hub.subscribe(self._on_change)
        self.reports = ReportRunner(settings, recorder, hub, self.identity.id)
        self.alerts = AlertLoops(settings, recorder, hub, self.identity.id)
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(4)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
            timezone="UTC",
            logger=scheduler_logger(self.identity.id, db.health),
        )

    # lifecycle ---------------------------------------------------------------------------------------
    def start(self) -> None:
        jsonlog.PROCESS_FIELDS["worker_id"] = self.identity.id  # every JSON log line of this process says so
        self.recorder.register_worker(self.identity)
        now = datetime.now().astimezone()
        for job in JOBS:
            seconds = job.every(self)
            self.scheduler.add_job(
                self._guarded(job.id, job.func),
                "interval",
                seconds=seconds,
                id=job.id,
                name=job.id,
                next_run_time=now + timedelta(seconds=min(seconds, 1.0)),
            )
        self.scheduler.start()
        self.reports.start()
        self.alerts.start()
        for target, name in ((self._dispatch_loop, "dispatcher"), (self._supervise_loop, "supervisor")):
            t = threading.Thread(target=target, name=f"worker-{name}", daemon=True)
            t.start()
            self._threads.append(t)
        self.wake()
        log.info("worker %s started (concurrency %d)", self.identity.id, self.settings.worker_concurrency)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming; running tasks are stopped and re-queued for another worker; go offline."""
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._wake.set()
        self._unsubscribe()
        with self._lock:
            handles = list(self._handles.values())
        for h in handles:
            h.request_stop("shutdown")
        deadline = time.monotonic() + timeout
        while self.running_ids() and time.monotonic() < deadline:
            time.sleep(0.05)
        # Let a job already running finish before the offline mark: a heartbeat committed after it would
        # mark the stopped worker online again. Bounded, so a long job cannot hold the process up.
        closing = threading.Thread(target=self.scheduler.shutdown, kwargs={"wait": True}, daemon=True)
        closing.start()
        closing.join(timeout=5.0)
        self.reports.stop()
        self.alerts.stop()
        for t in self._threads:
            t.join(timeout=2.0)
        try:
            self.recorder.worker_stopped(self.identity.id)
        except OperationalError:
            log.warning("could not mark worker offline", exc_info=True)
        log.info("worker %s stopped", self.identity.id)

    def wake(self) -> None:
        self._wake.set()

    def apply_control(self, control: str | None) -> None:
        """What fleet control asks, as the heartbeat read it: drain, stop (drain, then exit) or resume."""
        if control != self.control:
            log.info("worker %s: fleet control %s", self.identity.id, control or "resume")
            self.control = control
            self.wake()
        if control == "stop" and not self.running_ids() and not self._stopping.is_set():
            threading.Thread(target=self._fleet_stop, name="worker-fleet-stop", daemon=True).start()

    def _fleet_stop(self) -> None:
        self.stop()
        if self._on_fleet_stop is not None:
            self._on_fleet_stop()

    def running_ids(self) -> list[int]:
        with self._lock:
            return list(self._handles)

    def stop_task(self, task_id: int, reason: str) -> None:
        with self._lock:
            handle = self._handles.get(task_id)
        if handle is not None:
            handle.request_stop(reason)

    # internals ---------------------------------------------------------------------------------------
    def _on_change(self, topics: frozenset[str]) -> None:
        if TOPIC_QUEUE in topics:
            self._wake.set()

    def _guarded(self, job_id: str, func: object) -> object:
        def run() -> None:
            try:
                func(self)  # type: ignore[operator]
            except Exception as exc:
                outage = self.db.health.failed(exc)
                if outage is None:
                    log.exception("periodic job %s failed; it runs again at its next interval", job_id)
                elif self.db.health.outage is None:  # out of disk for a file: not the database's outage
                    log.warning("periodic job %s failed: %s (%s)", job_id, outage.reason, outage.detail)
                # else the database is away: its health logged that once; the job runs again at its interval

        return run

    def _free_slots(self) -> int:
        with self._lock:
            return self.settings.worker_concurrency - len(self._handles)

    def _dispatch_loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(timeout=self.settings.poll_seconds)
            self._wake.clear()
            try:
                self._cycle()
            except OperationalError as exc:
                if self.db.health.failed(exc) is None:  # an outage is logged once, by the database's health
                    log.warning("claim failed; retrying shortly", exc_info=True)
                self._stopping.wait(max(0.5, self.db.health.wait_seconds()))
        # From here on a run records its own end (see _finish); the ends already handed over are written now.
        with self._lock:
            self._batching = False
            done, self._done = self._done, []
        for handle, ops in done:
            self._record_final(handle, ops)
            self._release(handle)

    def _cycle(self) -> None:
        """Until nothing ended and nothing can be claimed: record the runs that ended and claim as many new
        tasks as that frees slots, in one transaction."""
        while not self._stopping.is_set():
            with self._lock:
                done, self._done = self._done, []
                free = self.settings.worker_concurrency - len(self._handles) + len(done)
                if self.control is not None:
                    free = 0  # drained: its runs' ends are still written
            if not done:
                if free <= 0:
                    return
                with self.db.reading() as session:
                    if not has_claimable(session, self.kinds):
                        return
            try:
                claimed = self._finish_and_claim(done, free)
            except BaseException:
                with self._lock:  # not written: try these ends again on the next cycle
                    self._done[:0] = done
                raise
            for task in claimed:
                self._launch(task)
            if not done and not claimed:
                return

    def _finish_and_claim(self, done: list[tuple[RunHandle, list[Op]]], free: int) -> list[ClaimedTask]:
        ends = [(handle.task.id, ops) for handle, ops in done]
        try:
            claimed = self.recorder.finish_and_claim(
                ends, self.identity.id, self.kinds, self.settings.lease_seconds, free, self.only_tags
            )
        except (LeaseLost, TaskNotFound, IllegalTransition, IntegrityError, InvocationNotFound):
            # One end that cannot be written as it is (a lease swept away, a bad op) rolled the batch back:
            # each end on its own then, as a run without neighbours records it.
            for handle, ops in done:
                self._record_final(handle, ops)
            claimed = self.recorder.finish_and_claim(
                [], self.identity.id, self.kinds, self.settings.lease_seconds, free, self.only_tags
            )
        for handle, _ in done:
            self._release(handle)
        return claimed

    def _launch(self, task: ClaimedTask) -> None:
        handle = RunHandle(task, OpSink(self.recorder, task.id, self.identity.id), prices=self.prices)
        timeout = task.timeout_seconds or self.settings.default_timeout_seconds
        if timeout:
            handle.deadline = handle.started + timeout
        with self._lock:
            self._handles[task.id] = handle
        self._task_threads.run(f"task-{task.id}", lambda: self._run(handle))

    def _run(self, handle: RunHandle) -> None:
        outcome, value = run_handler(handle)
        self._finish(handle, outcome, value)

    def _finish(self, handle: RunHandle, outcome: str, value: object) -> None:
        task_id = handle.task.id
        with self._lock:
            if task_id in self._finalized or self._handles.get(task_id) is not handle:
                return
            self._finalized.add(task_id)
        handed_over = False
        try:
            handle.sink.drain(FINISH_PATIENCE_SECONDS)  # its last lines first, even across an outage
            ops = final_ops(handle, outcome, value, self.settings.retry_backoff_seconds)
            if ops and not handle.sink.lost:
                self._task_threads.finishing()  # the claims this end makes room for may come to this thread
                with self._lock:
                    # The dispatcher writes this end with its neighbours' and its next claims; once it has
                    # stopped, the run writes its own.
                    handed_over = self._batching
                    if handed_over:
                        self._done.append((handle, ops))
                if not handed_over:
                    self._record_final(handle, ops)
        finally:
            if not handed_over:
                self._release(handle)
            self._wake.set()

    def _release(self, handle: RunHandle) -> None:
        # A silenced sink drops whatever an abandoned thread still tries to write.
        handle.sink.lost = True
        with self._lock:
            self._handles.pop(handle.task.id, None)
            self._finalized.discard(handle.task.id)

    def _record_final(self, handle: RunHandle, ops: list[Op]) -> None:
        # Keep trying for a while: losing a final state would leave the task to the lease sweep.
        deadline, failures = time.monotonic() + FINISH_PATIENCE_SECONDS, 0
        while True:
            try:
                self.recorder.record(
                    handle.task.id, *ops, actor=f"worker:{self.identity.id}", owner=self.identity.id
                )
                return
            except (LeaseLost, TaskNotFound):
                return
            except OperationalError as exc:
                failures += 1
                if self.db.health.failed(exc) is None and failures == 1:
                    log.warning(
                        "recording the end of task %s failed; retrying", handle.task.id, exc_info=True
                    )
                if time.monotonic() >= deadline:
                    log.warning("gave up recording the end of task %s; the lease sweep will", handle.task.id)
                    return
                time.sleep(max(backoff(failures), self.db.health.wait_seconds()))

    def _supervise_loop(self) -> None:
        next_cancel_check = 0.0
        while not self._stopping.wait(SUPERVISE_SECONDS) or self.running_ids():
            now = time.monotonic()
            with self._lock:
                handles = list(self._handles.values())
                # An end already being written (by its run or the dispatcher) has nothing left to supervise.
                active = [h for h in handles if h.task.id not in self._finalized]
            for h in active:
                h.sink.flush()
                if h.sink.lost:
                    h.request_stop("lease_lost")
                if h.deadline is not None and now >= h.deadline:
                    h.request_stop("timeout")
                stopped_at = h.stop_requested_at
                if stopped_at is not None and now - stopped_at > self.settings.stop_grace_seconds:
                    # The task ignores the stop (a callable that never checks): give up on its thread.
                    log.warning("task %s did not stop in time; abandoning its thread", h.task.id)
                    self._finish(h, "stopped", h.stop_reason)
            if handles and now >= next_cancel_check:
                next_cancel_check = now + self.settings.cancel_check_seconds
                self._check_cancels()
            if self._stopping.is_set() and not handles:
                break

    def _check_cancels(self) -> None:
        try:
            with self.db.reading() as session:
                ids = cancel_requested(session, self.identity.id)
        except OperationalError:
            return
        for task_id in ids:
            self.stop_task(task_id, "cancelled")
