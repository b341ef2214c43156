"""Data layer: report schedules and report runs — schedule edits validated field by field, a run enqueued once
per idempotency key, the oldest queued run claimed by one worker, progress, completion, failure, and the
sweep of runs whose worker went away. Every change of a run also appends a `report.run` event to the log, so
open dashboards hear it over the websocket like any task event."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, cast
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Table, exists, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db.models import ReportRun, ReportSchedule
from db.models import Worker as WorkerRow
from db.states import EventType, TaskKind, WorkerStatus
from db.timeutil import iso
from db.writes import E, note_events

RS = cast(Table, ReportSchedule.__table__)
RR = cast(Table, ReportRun.__table__)
WK = cast(Table, WorkerRow.__table__)

REPORT_FORMATS = ("html", "pdf", "csv", "json")  # reports/write.py FORMATS; a test keeps them equal
SCHEDULE_PERIODS = ("daily", "weekly", "monthly")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# Days 29–31 are missing from some months; a monthly report on the 28th at the latest runs every month.
MAX_DAY_OF_MONTH = 28
MAX_RECIPIENTS = 50
MAX_TAGS = 20
MAX_ERROR_CHARS = 4000
# A run whose worker went away is tried once more, then failed: a report that kills its worker must not loop.
MAX_RUN_ATTEMPTS = 2

DEFAULT_SCHEDULES: tuple[dict[str, Any], ...] = (
    {"name": "Daily report", "period": "daily", "hour": 6, "weekday": None, "day_of_month": None},
    {"name": "Weekly report", "period": "weekly", "hour": 8, "weekday": 0, "day_of_month": None},
    {"name": "Monthly report", "period": "monthly", "hour": 9, "weekday": None, "day_of_month": 1},
)
DEFAULT_FORMATS = ("html", "pdf")

_EMAIL = re.compile(r"^[^@\s,;:<>()\[\]\"'\\]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


ACTIVE = (RunStatus.QUEUED.value, RunStatus.RUNNING.value)


class RunTrigger(StrEnum):
    SCHEDULE = "schedule"
    MANUAL = "manual"


class ScheduleError(ValueError):
    """A schedule or report request value that cannot be used; `field` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# ---- schedules ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Schedule:
    id: int
    name: str
    period: str
    enabled: bool
    hour: int
    minute: int
    weekday: int | None
    day_of_month: int | None
    timezone: str
    formats: tuple[str, ...]
    kinds: tuple[str, ...]
    tags: tuple[str, ...]
    recipients: tuple[str, ...]
    webhook_url: str | None
    enabled_at: datetime | None
    last_fire_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @property
    def time_text(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d}"

    @property
    def when(self) -> str:
        """'every Monday at 08:00 (Europe/Berlin)'."""
        if self.period == "weekly" and self.weekday is not None:
            day = f"every {WEEKDAYS[self.weekday]}"
        elif self.period == "monthly" and self.day_of_month is not None:
            day = f"on day {self.day_of_month} of every month"
        else:
            day = "every day"
        return f"{day} at {self.time_text} ({self.timezone})"


@dataclass(frozen=True)
class ScheduleEdit:
    """What the dashboard may change on a schedule, already validated (parse_schedule_edit)."""

    enabled: bool
    hour: int
    minute: int
    weekday: int | None
    day_of_month: int | None
    timezone: str
    formats: tuple[str, ...]
    kinds: tuple[str, ...]
    tags: tuple[str, ...]
    recipients: tuple[str, ...]
    webhook_url: str | None


def _schedule(row: Any) -> Schedule:
    filters = row.filters or {}
    return Schedule(
        id=row.id,
        name=row.name,
        period=row.period,
        enabled=bool(row.enabled),
        hour=row.hour,
        minute=row.minute,
        weekday=row.weekday,
        day_of_month=row.day_of_month,
        timezone=row.timezone,
        formats=tuple(row.formats or ()),
        kinds=tuple(filters.get("kind") or ()),
        tags=tuple(filters.get("tag") or ()),
        recipients=tuple(row.recipients or ()),
        webhook_url=row.webhook_url,
        enabled_at=row.enabled_at,
        last_fire_at=row.last_fire_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def list_schedules(session: Session) -> list[Schedule]:
    return [_schedule(r) for r in session.execute(select(RS).order_by(RS.c.id))]


def get_schedule(session: Session, schedule_id: int) -> Schedule | None:
    row = session.execute(select(RS).where(RS.c.id == schedule_id)).one_or_none()
    return None if row is None else _schedule(row)


def insert_default_schedules(session: Session, now: datetime) -> list[int]:
    """The three default schedules, enabled from `now` (migration 0006 seeds the same on a new database)."""
    rows = [
        {
            **d,
            "enabled": True,
            "minute": 0,
            "timezone": "UTC",
            "formats": list(DEFAULT_FORMATS),
            "filters": {},
            "recipients": [],
            "webhook_url": None,
            "enabled_at": now,
            "last_fire_at": None,
            "created_at": now,
            "updated_at": now,
        }
        for d in DEFAULT_SCHEDULES
    ]
    return [session.execute(insert(RS).values(**r).returning(RS.c.id)).scalar_one() for r in rows]


def update_schedule(session: Session, schedule_id: int, edit: ScheduleEdit, now: datetime) -> Schedule:
    """Store an edit. Switching a schedule on starts it afresh from `now`: fire times before that never run."""
    current = get_schedule(session, schedule_id)
    if current is None:
        raise ScheduleError("schedule", f"schedule {schedule_id} does not exist")
    values: dict[str, Any] = {
        "enabled": edit.enabled,
        "hour": edit.hour,
        "minute": edit.minute,
        "weekday": edit.weekday if current.period == "weekly" else None,
        "day_of_month": edit.day_of_month if current.period == "monthly" else None,
        "timezone": edit.timezone,
        "formats": list(edit.formats),
        "filters": _filters(edit.kinds, edit.tags),
        "recipients": list(edit.recipients),
        "webhook_url": edit.webhook_url,
        "updated_at": now,
    }
    if edit.enabled and not current.enabled:
        values["enabled_at"] = now
    session.execute(update(RS).where(RS.c.id == schedule_id).values(**values))
    updated = get_schedule(session, schedule_id)
    assert updated is not None
    return updated


def mark_fired(session: Session, schedule_id: int, fire_at: datetime) -> None:
    """Remember the latest fire time handled; never moves back (two workers may both get here)."""
    session.execute(
        update(RS)
        .where(RS.c.id == schedule_id)
        .where((RS.c.last_fire_at.is_(None)) | (RS.c.last_fire_at < fire_at))
        .values(last_fire_at=fire_at)
    )


# ---- validation -----------------------------------------------------------------------------------------
def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _items(value: Any) -> list[str]:
    """A list from a checklist, or a comma / newline separated text."""
    if value is None:
        return []
    raw = value if isinstance(value, list | tuple) else re.split(r"[,;\n]", str(value))
    return [str(v).strip() for v in raw if str(v).strip()]


def parse_time(value: Any) -> tuple[int, int]:
    match = _TIME.match(_text(value))
    if not match:
        raise ScheduleError("time", "must be a time of day like 08:00")
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour > 23 or minute > 59:
        raise ScheduleError("time", "must be a time of day between 00:00 and 23:59")
    return hour, minute


def parse_timezone(value: Any) -> str:
    name = _text(value)
    if not name:
        raise ScheduleError("timezone", "is required (an IANA name such as Europe/Berlin, or UTC)")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(
            "timezone", f"{name!r} is not a known IANA time zone (e.g. Europe/Berlin)"
        ) from None
    return name


def parse_formats(value: Any) -> tuple[str, ...]:
    names = [n.lower() for n in _items(value)]
    unknown = [n for n in names if n not in REPORT_FORMATS]
    if unknown:
        raise ScheduleError(
            "formats", f"unknown format {unknown[0]!r}; choose from {', '.join(REPORT_FORMATS)}"
        )
    if not names:
        raise ScheduleError("formats", "choose at least one format")
    return tuple(n for n in REPORT_FORMATS if n in names)


def parse_kinds(value: Any) -> tuple[str, ...]:
    names = _items(value)
    known = [k.value for k in TaskKind]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ScheduleError("kind", f"unknown kind {unknown[0]!r}; choose from {', '.join(known)}")
    return tuple(dict.fromkeys(names))


def parse_tags(value: Any) -> tuple[str, ...]:
    tags = tuple(dict.fromkeys(_items(value)))
    if len(tags) > MAX_TAGS:
        raise ScheduleError("tag", f"at most {MAX_TAGS} tags")
    for tag in tags:
        if len(tag) > 100:
            raise ScheduleError("tag", f"a tag has at most 100 characters ({tag[:20]!r}… is longer)")
    return tags


def parse_recipients(value: Any) -> tuple[str, ...]:
    addresses = tuple(dict.fromkeys(_items(value)))
    if len(addresses) > MAX_RECIPIENTS:
        raise ScheduleError("recipients", f"at most {MAX_RECIPIENTS} addresses")
    for address in addresses:
        if len(address) > 254 or not _EMAIL.match(address):
            raise ScheduleError("recipients", f"{address!r} is not an e-mail address like ops@example.com")
    return addresses


def parse_webhook(value: Any) -> str | None:
    url = _text(value)
    if not url:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or re.search(r"\s", url):
        raise ScheduleError(
            "webhook_url", "must be an http:// or https:// URL, like https://hooks.example.com/x"
        )
    if len(url) > 2000:
        raise ScheduleError("webhook_url", "must be at most 2,000 characters")
    return url


def _int_in(field: str, value: Any, low: int, high: int, what: str) -> int:
    try:
        number = float(_text(value))
    except ValueError:
        raise ScheduleError(field, f"must be {what}") from None
    if number != int(number) or not low <= number <= high:
        raise ScheduleError(field, f"must be {what}")
    return int(number)


def parse_schedule_edit(
    period: str,
    *,
    enabled: Any,
    time: Any,
    weekday: Any = None,
    day_of_month: Any = None,
    timezone: Any = "UTC",
    formats: Any = DEFAULT_FORMATS,
    kinds: Any = None,
    tags: Any = None,
    recipients: Any = None,
    webhook_url: Any = None,
) -> ScheduleEdit:
    """Form values -> ScheduleEdit; raises ScheduleError naming the first field at fault."""
    hour, minute = parse_time(time)
    day = week = None
    if period == "weekly":
        week = _int_in("weekday", weekday, 0, 6, "a day of the week")
    if period == "monthly":
        day = _int_in(
            "day_of_month", day_of_month, 1, MAX_DAY_OF_MONTH, f"a day between 1 and {MAX_DAY_OF_MONTH}"
        )
    return ScheduleEdit(
        enabled=bool(enabled),
        hour=hour,
        minute=minute,
        weekday=week,
        day_of_month=day,
        timezone=parse_timezone(timezone),
        formats=parse_formats(formats),
        kinds=parse_kinds(kinds),
        tags=parse_tags(tags),
        recipients=parse_recipients(recipients),
        webhook_url=parse_webhook(webhook_url),
    )


def _filters(kinds: Sequence[str], tags: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if kinds:
        out["kind"] = list(kinds)
    if tags:
        out["tag"] = list(tags)
    return out


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
    def size(self) -> int:
        return sum(int(f.get("size") or 0) for f in self.files)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def file_names(self) -> tuple[str, ...]:
        return tuple(str(f.get("name")) for f in self.files)


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
        "filters": _filters(request.kinds, request.tags),
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
    claim side by side; SQLite: the caller's BEGIN IMMEDIATE serialises claimers (db/claims.py does the same)."""
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
