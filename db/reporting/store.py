"""Data layer: report runs — a run enqueued once per idempotency key, the oldest queued run claimed by one
worker, progress, completion, failure, delivery outcomes, and the sweep of runs whose worker went away. Every
change of a run also appends a `report.run` event to the log, so open dashboards hear it over the websocket
like any task event."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Table, exists, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db.core.models import ReportRun
from db.core.models import Worker as WorkerRow
from db.core.timeutil import iso
from db.domain.states import EventType, WorkerStatus
from db.reporting.schedules import RS, filters_json
from db.write.writes import E, note_events

RR = cast(Table, ReportRun.__table__)
WK = cast(Table, WorkerRow.__table__)

MAX_ERROR_CHARS = 4000
# A run whose worker went away is tried once more, then failed: a report that kills its worker must not loop.
MAX_RUN_ATTEMPTS = 2


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


ACTIVE = (RunStatus.QUEUED.value, RunStatus.RUNNING.value)


class RunTrigger(StrEnum):
    SCHEDULE = "schedule"
    MANUAL = "manual"


# ---- runs -----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunRequest:
    trigger: RunTrigger
    period_kind: str
    period_start: datetime
    period_end: datetime
    formats: tuple[str, ...]
    kinds: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    requested_by: str = ""
    schedule_id: int | None = None
    scheduled_for: datetime | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class Run:
    id: int
    schedule_id: int | None
    schedule_name: str | None
    trigger: str
    period_kind: str
    period_start: datetime
    period_end: datetime
    kinds: tuple[str, ...]
    tags: tuple[str, ...]
    formats: tuple[str, ...]
    status: str
    progress: float
    stage: str | None
    error: str | None
    files: tuple[dict[str, Any], ...]
    requested_by: str
    scheduled_for: datetime | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    worker_id: str | None
    attempt: int
    delivery: dict[str, Any]

    @property
    def kept_files(self) -> tuple[dict[str, Any], ...]:
        """The files still on disk (older ones are deleted after TASKLENS_REPORTS_KEEP_DAYS, and marked so)."""
        return tuple(f for f in self.files if not f.get("deleted_at"))

    @property
    def size(self) -> int:
        return sum(int(f.get("size") or 0) for f in self.kept_files)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def file_names(self) -> tuple[str, ...]:
        return tuple(str(f.get("name")) for f in self.kept_files)


_RUN_COLUMNS = (*RR.c, RS.c.name.label("schedule_name"))


def _run(row: Any) -> Run:
    filters = row.filters or {}
    return Run(
        id=row.id,
        schedule_id=row.schedule_id,
        schedule_name=row.schedule_name,
        trigger=row.trigger,
        period_kind=row.period_kind,
        period_start=row.period_start,
        period_end=row.period_end,
        kinds=tuple(filters.get("kind") or ()),
        tags=tuple(filters.get("tag") or ()),
        formats=tuple(row.formats or ()),
        status=row.status,
        progress=float(row.progress or 0.0),
        stage=row.stage,
        error=row.error,
        files=tuple(row.files or ()),
        requested_by=row.requested_by,
        scheduled_for=row.scheduled_for,
        created_at=row.created_at,
        started_at=row.started_at,
        completed_at=row.completed_at,
        worker_id=row.worker_id,
        attempt=row.attempt,
        delivery=dict(row.delivery or {}),
    )


def _select_runs() -> Any:
    return select(*_RUN_COLUMNS).select_from(RR.outerjoin(RS, RS.c.id == RR.c.schedule_id))


def get_run(session: Session, run_id: int) -> Run | None:
    row = session.execute(_select_runs().where(RR.c.id == run_id)).one_or_none()
    return None if row is None else _run(row)


def list_runs(session: Session, limit: int = 50) -> list[Run]:
    """Newest first."""
    return [_run(r) for r in session.execute(_select_runs().order_by(RR.c.id.desc()).limit(limit))]


def has_queued(session: Session) -> bool:
    """A cheap read before taking the write lock (an idle worker is woken by every commit)."""
    return (
        session.execute(select(RR.c.id).where(RR.c.status == RunStatus.QUEUED.value).limit(1)).first()
        is not None
    )


def _event(session: Session, run_id: int, status: str, now: datetime, actor: str, **data: Any) -> None:
    payload = {"run_id": run_id, "status": status, **data}
    session.execute(
        insert(E).values(task_id=None, type=EventType.REPORT_RUN.value, actor=actor, payload=payload, at=now)
    )
    note_events(session, 1, queued=status == RunStatus.QUEUED.value)


def enqueue_run(session: Session, request: RunRequest, now: datetime, *, actor: str = "system") -> int | None:
    """Queue a run; None when a run with the same idempotency key exists already (it is not touched).
    INSERT … ON CONFLICT DO NOTHING: of N workers enqueueing one fire time at once, exactly one row results."""
    values = {
        "schedule_id": request.schedule_id,
        "trigger": request.trigger.value,
        "period_kind": request.period_kind,
        "period_start": request.period_start,
        "period_end": request.period_end,
        "filters": filters_json(request.kinds, request.tags),
        "formats": list(request.formats),
        "status": RunStatus.QUEUED.value,
        "progress": 0.0,
        "stage": "waiting for a worker",
        "files": [],
        "requested_by": request.requested_by,
        "scheduled_for": request.scheduled_for,
        "created_at": now,
        "attempt": 1,
        "idempotency_key": request.idempotency_key,
        "delivery": {},
    }
    dialect = session.get_bind().dialect.name
    stmt: Any
    if dialect == "postgresql":
        stmt = (
            postgresql.insert(RR).values(**values).on_conflict_do_nothing(index_elements=["idempotency_key"])
        )
    else:
        stmt = sqlite.insert(RR).values(**values).on_conflict_do_nothing(index_elements=["idempotency_key"])
    run_id = session.execute(stmt.returning(RR.c.id)).scalar_one_or_none()
    if run_id is not None:
        _event(session, run_id, RunStatus.QUEUED.value, now, actor, trigger=request.trigger.value)
    return run_id


def claim_run(session: Session, worker_id: str, now: datetime) -> Run | None:
    """Move the oldest queued run to running for this worker. PostgreSQL: FOR UPDATE SKIP LOCKED lets workers
    claim side by side; SQLite: the caller's BEGIN IMMEDIATE serialises claimers (db/write/claims.py does the same)."""
    pick = (
        select(RR.c.id)
        .where(RR.c.status == RunStatus.QUEUED.value)
        .order_by(RR.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    run_id = session.execute(
        update(RR)
        .where(RR.c.id == pick, RR.c.status == RunStatus.QUEUED.value)
        .values(
            status=RunStatus.RUNNING.value,
            worker_id=worker_id,
            started_at=now,
            progress=0.0,
            stage="starting",
            error=None,
        )
        .returning(RR.c.id)
    ).scalar_one_or_none()
    if run_id is None:
        return None
    _event(
        session, run_id, RunStatus.RUNNING.value, now, f"worker:{worker_id}", progress=0.0, stage="starting"
    )
    return get_run(session, run_id)


def _owned(run_id: int, worker_id: str) -> Any:
    return (RR.c.id == run_id) & (RR.c.worker_id == worker_id) & (RR.c.status == RunStatus.RUNNING.value)


def update_progress(
    session: Session, run_id: int, worker_id: str, progress: float, stage: str, now: datetime
) -> bool:
    """False when the run is no longer this worker's (swept, or handed back at shutdown): stop working on it."""
    progress = min(1.0, max(0.0, progress))
    done = session.execute(
        update(RR)
        .where(_owned(run_id, worker_id))
        .values(progress=progress, stage=stage[:200])
        .returning(RR.c.id)
    ).first()
    if done is None:
        return False
    _event(
        session, run_id, RunStatus.RUNNING.value, now, f"worker:{worker_id}", progress=progress, stage=stage
    )
    return True


def complete_run(
    session: Session, run_id: int, worker_id: str, files: Iterable[dict[str, Any]], now: datetime
) -> bool:
    done = session.execute(
        update(RR)
        .where(_owned(run_id, worker_id))
        .values(
            status=RunStatus.COMPLETED.value,
            progress=1.0,
            stage="done",
            files=list(files),
            completed_at=now,
        )
        .returning(RR.c.id)
    ).first()
    if done is None:
        return False
    _event(session, run_id, RunStatus.COMPLETED.value, now, f"worker:{worker_id}", progress=1.0)
    return True


def fail_run(session: Session, run_id: int, worker_id: str | None, error: str, now: datetime) -> bool:
    """Record a failure with its message. With a worker id only while that worker still holds the run."""
    where = _owned(run_id, worker_id) if worker_id else (RR.c.id == run_id) & RR.c.status.in_(ACTIVE)
    done = session.execute(
        update(RR)
        .where(where)
        .values(status=RunStatus.FAILED.value, error=error[:MAX_ERROR_CHARS], completed_at=now)
        .returning(RR.c.id)
    ).first()
    if done is None:
        return False
    actor = f"worker:{worker_id}" if worker_id else "system"
    _event(session, run_id, RunStatus.FAILED.value, now, actor, error=error[:500])
    return True


def set_delivery(session: Session, run_id: int, channel: str, outcome: dict[str, Any], now: datetime) -> None:
    """Record how one delivery channel went ({"status": "sent" | "failed", "error": …}); never fails the run."""
    row = session.execute(
        select(RR.c.delivery, RR.c.status).where(RR.c.id == run_id).with_for_update()
    ).one_or_none()
    if row is None:
        return
    delivery = dict(row.delivery or {})
    delivery[channel] = {**outcome, "at": iso(now)}
    session.execute(update(RR).where(RR.c.id == run_id).values(delivery=delivery))
    _event(session, run_id, row.status, now, "system", delivery=channel, outcome=outcome.get("status"))


def release_runs(session: Session, worker_id: str, now: datetime) -> list[int]:
    """On a clean worker stop: its running reports go back to the queue for another worker, at once."""
    ids = list(
        session.execute(
            update(RR)
            .where(RR.c.worker_id == worker_id, RR.c.status == RunStatus.RUNNING.value)
            .values(
                status=RunStatus.QUEUED.value,
                worker_id=None,
                started_at=None,
                progress=0.0,
                stage="waiting for a worker (its worker stopped)",
            )
            .returning(RR.c.id)
        ).scalars()
    )
    for run_id in ids:
        _event(session, run_id, RunStatus.QUEUED.value, now, f"worker:{worker_id}", reason="worker_shutdown")
    return ids


def expire_files(session: Session, ended_before: datetime, now: datetime, limit: int = 100) -> list[int]:
    """Marks the files of runs that ended before `ended_before` as deleted (the runs stay listed, their file
    names kept); returns the runs marked, whose folders the caller deletes."""
    rows = session.execute(
        select(RR.c.id, RR.c.files)
        .where(
            RR.c.status.in_([RunStatus.COMPLETED.value, RunStatus.FAILED.value]),
            RR.c.completed_at < ended_before,
        )
        .order_by(RR.c.id)
    )
    marked: list[int] = []
    for run_id, files in rows:
        if len(marked) >= limit:
            break
        if any(not f.get("deleted_at") for f in files or ()):
            kept = [{**f, "deleted_at": f.get("deleted_at") or iso(now)} for f in files]
            session.execute(update(RR).where(RR.c.id == run_id).values(files=kept))
            marked.append(run_id)
    return marked


def sweep_orphaned_runs(session: Session, now: datetime) -> dict[int, str]:
    """Running reports whose worker is offline (killed, host lost: marked so by mark_silent_workers) or gone:
    queued again once, failed after that with a message that says why. Safe on N sweepers: each UPDATE
    re-checks that the run is still running under the same worker."""
    alive = exists().where(WK.c.id == RR.c.worker_id, WK.c.status != WorkerStatus.OFFLINE.value)
    orphans = session.execute(
        select(RR.c.id, RR.c.worker_id, RR.c.attempt).where(RR.c.status == RunStatus.RUNNING.value, ~alive)
    ).all()
    outcome: dict[int, str] = {}
    for run_id, worker_id, attempt in orphans:
        still = (RR.c.id == run_id) & (RR.c.status == RunStatus.RUNNING.value) & (RR.c.worker_id == worker_id)
        if attempt < MAX_RUN_ATTEMPTS:
            status = RunStatus.QUEUED.value
            values: dict[str, Any] = {
                "status": status,
                "worker_id": None,
                "started_at": None,
                "progress": 0.0,
                "attempt": attempt + 1,
                "stage": f"waiting for a worker (worker {worker_id} went offline while building it)",
            }
        else:
            status = RunStatus.FAILED.value
            values = {
                "status": status,
                "completed_at": now,
                "error": f"worker {worker_id} went offline while building this report, and so did the worker "
                f"before it ({attempt} attempts); generate it again, or look at the workers' logs",
            }
        if session.execute(update(RR).where(still).values(**values).returning(RR.c.id)).first() is not None:
            outcome[run_id] = status
            _event(session, run_id, status, now, "system", reason="worker_lost")
    return outcome
