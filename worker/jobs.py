"""Worker layer: the periodic jobs, as a declarative table with stable ids. Each job is a plain function of a
Worker, idempotent and safe to run from N workers at once (sweeps act only on rows that still qualify)."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from db.analytics import rollups
from db.control import leases, schedule_fire
from db.core.timeutil import utcnow
from db.core.writestats import flush_write_stats
from db.lifecycle import backup, retention, walcheck
from db.reporting import store as report_store
from reports.runner import run_dir
from reports.schedule import enqueue_due
from worker.reaper import reap_expired

if TYPE_CHECKING:  # the worker imports this table; the type alone flows back
    from worker.worker import Worker

log = logging.getLogger(__name__)


def heartbeat(w: Worker) -> None:
    """Renew the leases of running tasks (a task we lost is stopped) and the worker row's last_seen."""
    running = w.running_ids()
    held = w.recorder.renew_leases(w.identity.id, running, w.settings.lease_seconds)
    for task_id in set(running) - held:
        w.stop_task(task_id, "lease_lost")
    w.apply_control(w.recorder.heartbeat(w.identity.id, sorted(held)))


def settling(w: Worker) -> bool:
    """While the database is away, and for one lease period after, no worker could renew its leases or beat
    its heart: judging anyone by them now would re-queue live tasks (their commands killed and run again)."""
    return w.db.health.settling(w.settings.lease_seconds)


def sweep_leases(w: Worker) -> None:
    if settling(w):
        return
    # Before a task of a dead worker is re-queued, its command must be dead: kill what is left of it here when
    # it ran on this host (another host's processes are out of reach: there, execution is at-least-once).
    recovered = w.recorder.sweep_expired_leases(
        actor=f"worker:{w.identity.id}", before=lambda runs: reap_expired(runs, w.identity.host)
    )
    if recovered:
        log.warning("recovered tasks from lost workers: %s", recovered)
        w.wake()


def time_out_external(w: Worker) -> None:
    ended = w.recorder.time_out_external(actor=f"worker:{w.identity.id}")
    if ended:
        log.warning("external tasks past their timeout_seconds, timed out: %s", sorted(ended))


def mark_silent_workers(w: Worker) -> None:
    if settling(w):
        return
    w.recorder.mark_silent_workers(timedelta(seconds=w.settings.lease_seconds * 2))


def poll_queue(w: Worker) -> None:
    """Fallback for a missed wake-up (e.g. a retry whose backoff just ended): look at the queue."""
    w.wake()


def flush_stats(w: Worker) -> None:
    with w.recorder.transaction() as session:
        flush_write_stats(session, w.db.stats)


def rollup_analytics(w: Worker) -> None:
    rollups.refresh_in_steps(w.recorder.transaction, utcnow())


def fold_minutes(w: Worker) -> None:
    """The hour in progress into the per-minute rollups, so a reader's raw tail is seconds of rows."""
    with w.recorder.transaction() as session:
        rollups.fold_minutes(session, utcnow())


def enqueue_reports(w: Worker, now: datetime | None = None) -> list[int]:
    """Enqueue the scheduled reports due at `now`; every worker runs this and the idempotency key keeps each
    fire time to one run. Returns the runs this worker created."""
    with w.recorder.transaction() as session:
        created = enqueue_due(session, now or utcnow(), actor=f"worker:{w.identity.id}")
    if created:
        log.info("scheduled reports enqueued: %s", created)
        w.reports.wake()
    return created


def enqueue_schedules(w: Worker, now: datetime | None = None) -> list[int]:
    """Make the tasks that task schedules owe at `now`; every worker runs this each second and each fire time
    makes one task (db/control/schedule_fire.py). A read first, so a fleet with nothing due writes nothing."""
    now = now or utcnow()
    with w.db.reading() as session:
        due = schedule_fire.due_ids(session, now)
    if not due:
        return []
    with w.recorder.transaction() as session:
        made = schedule_fire.enqueue_due(session, now, due)
    if made:
        log.info("scheduled tasks queued: %s", made)
    return made


def sweep_report_runs(w: Worker) -> None:
    """Report runs whose worker went offline: queued again once, then failed with the reason."""
    with w.recorder.transaction() as session:
        outcome = report_store.sweep_orphaned_runs(session, utcnow())
    if outcome:
        log.warning("report runs of lost workers: %s", outcome)
        w.reports.wake()


def prune_report_files(w: Worker) -> list[int]:
    """Deletes the files of report runs that ended more than TASKLENS_REPORTS_KEEP_DAYS ago (0: never); the runs
    stay listed with their files marked deleted. Returns the runs pruned."""
    keep = w.settings.reports_keep_days
    if not keep:
        return []
    now = utcnow()
    with w.recorder.transaction() as session:
        marked = report_store.expire_files(session, now - timedelta(days=keep), now)
    reports_dir = w.settings.reports_path
    for run_id in marked:
        shutil.rmtree(run_dir(reports_dir, run_id), ignore_errors=True)  # already gone is as good
    if marked:
        log.info("report files older than %g days deleted: runs %s", keep, marked)
    return marked


RETENTION_LEASE = "retention"
BACKUP_LEASE = "backup"
# Held past each run (not released), so one worker of the fleet prunes per period and the others find the lease
# taken; a worker gone for this long hands the job to another.
SINGLETON_SECONDS = 1800.0


def _singleton(w: Worker, name: str) -> bool:
    with w.recorder.transaction() as session:
        return leases.acquire(session, name, w.identity.id, utcnow(), SINGLETON_SECONDS)


def apply_retention(w: Worker) -> retention.PruneResult | None:
    """TASKLENS_RETAIN_DAYS and friends, by one worker of the fleet at a time (a database lease); each batch is
    its own short transaction, so claims and flushes interleave with it."""
    policy = w.settings.retention()
    if not policy.active or not _singleton(w, RETENTION_LEASE):
        return None
    result = retention.prune(
        w.recorder.transaction, w.db.reading, utcnow(), policy, f"worker:{w.identity.id}"
    )
    for run_id in result.report_runs:
        shutil.rmtree(run_dir(w.settings.reports_path, run_id), ignore_errors=True)
    if result.rows:
        walcheck.vacuum_free_pages(w.db)  # SQLite: the file shrinks by what was pruned
    return result


def checkpoint_wal(w: Worker) -> None:
    """SQLite: empty the WAL when readers leave a gap (writers' PASSIVE checkpoints never restart it)."""
    walcheck.truncate_wal(w.db)


def scheduled_backup(w: Worker) -> Path | None:
    """One backup per TASKLENS_BACKUP_EVERY_HOURS into TASKLENS_BACKUP_DIR across the fleet (the period's key is
    marked once), keeping the newest TASKLENS_BACKUP_KEEP."""
    if not w.settings.backup_dir:
        return None
    now = utcnow()
    key = backup.period_key(now, timedelta(hours=w.settings.backup_every_hours))
    with w.recorder.transaction() as session:
        if not leases.mark_once(session, BACKUP_LEASE, key, now):
            return None
    folder = Path(w.settings.backup_dir).expanduser().resolve()
    path = folder / backup.file_name(w.db, now)
    try:
        manifest = backup.audited(w.db, path, f"worker:{w.identity.id}", now)
    except Exception:
        # Un-mark the period, so the next run (any worker's) tries again instead of skipping to the next one.
        with w.recorder.transaction() as session:
            leases.unmark(session, BACKUP_LEASE, key)
        raise
    gone = backup.rotate(folder, w.settings.backup_keep, path.suffix)
    log.info("backup %s (event seq up to %d); removed %d older", path.name, manifest.max_seq, len(gone))
    return path


@dataclass(frozen=True)
class PeriodicJob:
    id: str
    func: Callable[[Worker], object]
    every: Callable[[Worker], float]


JOBS: tuple[PeriodicJob, ...] = (
    PeriodicJob("heartbeat", heartbeat, lambda w: w.settings.heartbeat_seconds),
    PeriodicJob("sweep-leases", sweep_leases, lambda w: w.settings.sweep_seconds),
    PeriodicJob("time-out-external", time_out_external, lambda w: w.settings.sweep_seconds),
    PeriodicJob("mark-silent-workers", mark_silent_workers, lambda w: w.settings.sweep_seconds * 2),
    PeriodicJob("poll-queue", poll_queue, lambda w: w.settings.poll_seconds),
    PeriodicJob("flush-write-stats", flush_stats, lambda w: 60.0),
    PeriodicJob("rollup-analytics", rollup_analytics, lambda w: 60.0),
    PeriodicJob("fold-minute-rollups", fold_minutes, lambda w: 10.0),
    PeriodicJob("enqueue-reports", enqueue_reports, lambda w: 30.0),
    PeriodicJob("enqueue-schedules", enqueue_schedules, lambda w: 1.0),
    PeriodicJob("sweep-report-runs", sweep_report_runs, lambda w: w.settings.sweep_seconds * 2),
    PeriodicJob("prune-report-files", prune_report_files, lambda w: 3600.0),
    PeriodicJob("apply-retention", apply_retention, lambda w: 600.0),
    PeriodicJob("checkpoint-wal", checkpoint_wal, lambda w: walcheck.EVERY_SECONDS),
    PeriodicJob("scheduled-backup", scheduled_backup, lambda w: 300.0),
)
