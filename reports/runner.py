"""Reports layer: executes one claimed report run — builds the report, writes each format into the run's own
folder while recording progress, records the files and their sizes, then delivers a scheduled run by e-mail
and webhook. Any error fails the run with its message; a run taken away meanwhile is left alone."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.exc import OperationalError

from config import Settings
from db.core.timeutil import utcnow
from db.reporting import schedules as report_schedules
from db.reporting import store
from db.reporting.store import Run, RunStatus
from db.write.recorder import Recorder
from reports.deliver import (
    DeliveryError,
    SmtpConfig,
    email_message,
    post_webhook,
    run_period,
    send_email,
    webhook_payload,
)
from reports.model import Filters

log = logging.getLogger(__name__)

# Building is most of the work; writing the formats shares the rest.
BUILT_AT = 0.5
# How long the end of a run is retried through a database outage before the worker gives up on recording it
# (the run then stays running under a live worker until that worker stops and hands it back).
RECORD_TRIES = 20

T = TypeVar("T")


class RunLost(Exception):
    """The run is no longer this worker's (swept after a stall, or handed back at shutdown)."""


@dataclass(frozen=True)
class RunnerConfig:
    reports_dir: Path
    stuck_after: timedelta
    base_url: str
    smtp: SmtpConfig | None
    attach_max_bytes: int

    @classmethod
    def from_settings(cls, settings: Settings) -> RunnerConfig:
        return cls(
            reports_dir=settings.reports_path,
            stuck_after=timedelta(seconds=settings.stuck_after_seconds),
            base_url=settings.base_url,
            smtp=SmtpConfig.from_settings(settings),
            attach_max_bytes=int(settings.report_attach_max_mb * 1024 * 1024),
        )


def run_dir(reports_dir: Path, run_id: int) -> Path:
    return reports_dir / str(run_id)


class _Progress:
    def __init__(
        self, recorder: Recorder, run_id: int, worker_id: str, clock: Callable[[], datetime]
    ) -> None:
        self.recorder, self.run_id, self.worker_id, self.clock = recorder, run_id, worker_id, clock

    def __call__(self, progress: float, stage: str) -> None:
        try:
            with self.recorder.transaction() as session:
                held = store.update_progress(
                    session, self.run_id, self.worker_id, progress, stage, self.clock()
                )
        except OperationalError:
            log.warning("report run %s: progress not recorded (database busy); going on", self.run_id)
            return
        if not held:
            raise RunLost(self.run_id)


def _recording(what: str, write: Callable[[], T]) -> T:
    """A run's final state matters: retry a write through a passing database outage."""
    for attempt in range(RECORD_TRIES):
        try:
            return write()
        except OperationalError:
            if attempt == RECORD_TRIES - 1:
                raise
            log.warning("recording %s failed (try %d); retrying", what, attempt + 1)
            time.sleep(min(0.1 * 2**attempt, 2.0))
    raise AssertionError("unreachable")


def execute(
    recorder: Recorder,
    run: Run,
    worker_id: str,
    config: RunnerConfig,
    *,
    clock: Callable[[], datetime] = utcnow,
) -> str | None:
    """Build and write a claimed run, then deliver it. Returns the final status, or None when the run was
    taken away from this worker meanwhile (its new owner finishes it)."""
    progress = _Progress(recorder, run.id, worker_id, clock)
    folder = run_dir(config.reports_dir, run.id)
    try:
        files = _build_and_write(recorder, run, folder, config, progress, clock)

        def complete() -> bool:
            with recorder.transaction() as session:
                return store.complete_run(session, run.id, worker_id, files, clock())

        if not _recording(f"the end of report run {run.id}", complete):
            raise RunLost(run.id)
        status = RunStatus.COMPLETED.value
    except RunLost:
        log.warning("report run %s was taken from worker %s; leaving it", run.id, worker_id)
        return None
    except Exception as exc:
        log.exception("report run %s failed", run.id)
        error = _describe(exc)

        def fail() -> bool:
            with recorder.transaction() as session:
                return store.fail_run(session, run.id, worker_id, error, clock())

        if not _recording(f"the failure of report run {run.id}", fail):
            return None
        shutil.rmtree(folder, ignore_errors=True)  # half-written files are never offered
        status = RunStatus.FAILED.value
    deliver(recorder, run.id, config, clock=clock)
    return status


def _build_and_write(
    recorder: Recorder,
    run: Run,
    folder: Path,
    config: RunnerConfig,
    progress: _Progress,
    clock: Callable[[], datetime],
) -> list[dict[str, Any]]:
    # Imported when a report is built, not with the module: every worker process imports this one, and the
    # renderers (plotly, reportlab) would add their import time to each worker's start-up.
    from reports.build import build_report
    from reports.write import write_report

    period = run_period(run)
    filters = Filters(kind=run.kinds, tag=run.tags)
    progress(0.05, f"building the report of {period.label}")
    with recorder.db.reading() as session:
        report = build_report(session, period, filters, now=clock(), stuck_after=config.stuck_after)
    files: list[dict[str, Any]] = []
    for i, fmt in enumerate(run.formats):
        progress(BUILT_AT + (1 - BUILT_AT) * i / max(1, len(run.formats)), f"writing {fmt.upper()}")
        for path in write_report(report, (fmt,), folder, db=recorder.db):
            files.append({"format": fmt, "name": path.name, "size": path.stat().st_size})
    return files


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def deliver(
    recorder: Recorder, run_id: int, config: RunnerConfig, *, clock: Callable[[], datetime] = utcnow
) -> None:
    """Send a finished scheduled run to its schedule's recipients and webhook; each channel's outcome is
    recorded on the run. Manual runs and schedules without recipients or webhook send nothing."""
    with recorder.db.reading() as session:
        run = store.get_run(session, run_id)
        schedule = (
            None
            if run is None or run.schedule_id is None
            else report_schedules.get_schedule(session, run.schedule_id)
        )
    if run is None or schedule is None or run.trigger != store.RunTrigger.SCHEDULE.value:
        return
    outcomes: dict[str, dict[str, Any]] = {}
    if schedule.recipients:
        outcomes["email"] = _email(run, schedule.recipients, config)
    if schedule.webhook_url:
        outcomes["webhook"] = _webhook(run, schedule.webhook_url, config)
    for channel, outcome in outcomes.items():
        with recorder.transaction() as session:
            store.set_delivery(session, run.id, channel, outcome, clock())


def _email(run: Run, recipients: tuple[str, ...], config: RunnerConfig) -> dict[str, Any]:
    if config.smtp is None:
        return {"status": "failed", "error": "e-mail is not configured (set TASKLENS_SMTP_HOST)"}
    try:
        message = email_message(
            run,
            run_dir(config.reports_dir, run.id),
            recipients,
            config.smtp.sender,
            config.base_url,
            config.attach_max_bytes,
        )
        send_email(config.smtp, message)
    except (DeliveryError, OSError, ValueError) as exc:
        log.warning("report run %s: e-mail failed: %s", run.id, exc)
        return {"status": "failed", "error": str(exc), "to": list(recipients)}
    attached = sum(1 for part in message.iter_attachments())
    return {"status": "sent", "to": list(recipients), "attached": attached}


def _webhook(run: Run, url: str, config: RunnerConfig) -> dict[str, Any]:
    try:
        code = post_webhook(url, webhook_payload(run, config.base_url))
    except DeliveryError as exc:
        log.warning("report run %s: webhook failed: %s", run.id, exc)
        return {"status": "failed", "error": str(exc)}
    return {"status": "sent", "http_status": code}
