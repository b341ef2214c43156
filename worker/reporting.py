"""Worker layer: the report runner — one thread per worker that claims queued report runs one at a time and
executes them (reports/runner.py). A report can take tens of seconds, so it runs apart from the periodic
jobs (a heartbeat must never wait behind it) in a daemon thread (a stopping process must never wait for it
either: a clean stop hands the run back to the queue instead)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from sqlalchemy.exc import OperationalError

from config import Settings
from db.core.timeutil import utcnow
from db.live.changefeed import TOPIC_QUEUE, Hub
from db.reporting import store
from db.write.recorder import Recorder
from reports.runner import RunnerConfig, execute

log = logging.getLogger(__name__)

# Every commit of any process wakes the runner; it looks at the queue at most this often.
MIN_CHECK_SECONDS = 0.5


class ReportRunner:
    def __init__(self, settings: Settings, recorder: Recorder, hub: Hub, worker_id: str) -> None:
        self.settings = settings
        self.recorder = recorder
        self.worker_id = worker_id
        self.config = RunnerConfig.from_settings(settings)
        self._hub = hub
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] = lambda: None
        self.busy_with: int | None = None

    def start(self) -> None:
        self._unsubscribe = self._hub.subscribe(self._on_change)
        self._thread = threading.Thread(target=self._loop, name="report-runner", daemon=True)
        self._thread.start()
        self.wake()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 1.0) -> list[int]:
        """Stop claiming; a run still being built goes back to the queue for another worker. Returns its id."""
        self._stop.set()
        self._wake.set()
        self._unsubscribe()
        if self._thread is not None:
            self._thread.join(timeout)
        try:
            with self.recorder.transaction() as session:
                return store.release_runs(session, self.worker_id, utcnow())
        except OperationalError:
            log.warning("could not hand report runs back; the sweep will", exc_info=True)
            return []

    def _on_change(self, topics: frozenset[str]) -> None:
        if TOPIC_QUEUE in topics:
            self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(timeout=self.settings.poll_seconds)
            self._wake.clear()
            try:
                while not self._stop.is_set() and self.run_next():
                    pass
            except Exception as exc:  # keep the thread alive: the next wake-up tries again
                if self.recorder.db.health.failed(exc) is None:  # an outage is logged once, by the health
                    log.exception("report runner failed; retrying shortly")
            self._stop.wait(MIN_CHECK_SECONDS)

    def run_next(self) -> bool:
        """Claim the oldest queued run and execute it; False when there was none."""
        with self.recorder.db.reading() as session:
            if not store.has_queued(session):
                return False
        with self.recorder.transaction() as session:
            run = store.claim_run(session, self.worker_id, utcnow())
        if run is None:
            return False
        self.busy_with = run.id
        try:
            status = execute(self.recorder, run, self.worker_id, self.config)
        finally:
            self.busy_with = None
        log.info("report run %s: %s", run.id, status or "taken over by another worker")
        return True
