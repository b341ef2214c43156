"""Data layer: task schedules — validated field by field (ScheduleSpecError names the field at fault), created,
edited, listed, paused, resumed and removed, each change with a `schedule` event so live pages redraw. Fire
times and the tasks they make are db/control/schedule_fire.py's."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.orm import Session

from db.core.models import Task, TaskSchedule
from db.core.timeutil import to_naive_utc, utcnow
from db.domain.ops import SpecError, TaskSpec
from db.domain.states import EventType, TaskKind
from db.write.writes import E, note_events

S = cast(Table, TaskSchedule.__table__)
T = cast(Table, Task.__table__)

CATCH_UP = ("latest", "skip")
CONCURRENCY = ("allow", "skip")
MIN_INTERVAL_SECONDS = 1.0


class ScheduleSpecError(ValueError):
    """A schedule value that cannot be used; `field` names it as the API and the CLI call it."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


class ScheduleNotFound(LookupError):
    def __init__(self, ref: str) -> None:
        super().__init__(f"no schedule {ref}")
        self.ref = ref


@dataclass(frozen=True)
class ScheduleSpec:
    """What a schedule is made of: the task template, the trigger and the policies. Checked on creation."""

    name: str
    title: str
    kind: TaskKind
    payload: dict[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    priority: int = 0
    timeout_seconds: float | None = None
    max_attempts: int = 1
    cron: str | None = None
    interval_seconds: float | None = None
    timezone: str = "UTC"
    catch_up: str = "latest"
    concurrency: str = "allow"
    max_runs: int | None = None
    end_at: datetime | None = None
    enabled: bool = True
    created_by: str = ""

    def __post_init__(self) -> None:
        # The template first: a name left blank defaults to the title, whose own error is the one to show.
        template = self.template()  # the task's own checks, with its field names
        object.__setattr__(self, "title", template.title)
        object.__setattr__(self, "kind", template.kind)
        object.__setattr__(self, "tags", template.tags)
        name = self.name.strip() if isinstance(self.name, str) else ""
        if not name or len(name) > 200:
            raise ScheduleSpecError("name", "must be 1 to 200 characters")
        if name.isdigit():
            raise ScheduleSpecError("name", "must not be a number (numbers are schedule ids)")
        object.__setattr__(self, "name", name)
        try:
            zone = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            message = f"unknown time zone {self.timezone!r} (IANA, e.g. Europe/Berlin)"
            raise ScheduleSpecError("timezone", message) from None
        if (self.cron is None) == (self.interval_seconds is None):
            raise ScheduleSpecError("cron", "give either a cron expression or interval_seconds, not both")
        if self.cron is not None:
            cron_trigger(self.cron, zone)
        if self.interval_seconds is not None and not self.interval_seconds >= MIN_INTERVAL_SECONDS:
            raise ScheduleSpecError("interval_seconds", f"must be at least {MIN_INTERVAL_SECONDS:g}")
        if self.catch_up not in CATCH_UP:
            raise ScheduleSpecError("catch_up", f"must be one of {', '.join(CATCH_UP)}")
        if self.concurrency not in CONCURRENCY:
            raise ScheduleSpecError("concurrency", f"must be one of {', '.join(CONCURRENCY)}")
        if self.max_runs is not None and self.max_runs < 1:
            raise ScheduleSpecError("max_runs", "must be at least 1")

    def template(self) -> TaskSpec:
        try:
            return TaskSpec(
                title=self.title,
                kind=self.kind,
                payload=self.payload,
                priority=self.priority,
                tags=self.tags,
                max_attempts=self.max_attempts,
                timeout_seconds=self.timeout_seconds,
            )
        except SpecError as exc:
            raise ScheduleSpecError(exc.field, exc.message) from None


def cron_trigger(expression: str, zone: ZoneInfo) -> CronTrigger:
    """A crontab line (minute hour day month weekday) in `zone`; ScheduleSpecError("cron") when it is none."""
    try:
        return CronTrigger.from_crontab(expression, timezone=zone)
    except (ValueError, TypeError) as exc:
        raise ScheduleSpecError("cron", f"not a valid cron expression {expression!r}: {exc}") from None


def parse_payload(text: str | None, field_name: str = "payload") -> dict[str, Any]:
    """A payload typed as text (the CLI's --payload, the dashboard's arguments): a JSON object, or {} when
    blank; ScheduleSpecError(field_name) otherwise."""
    if text is None or not text.strip():
        return {}
    try:
        payload = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ScheduleSpecError(field_name, f"not JSON: {exc.msg} (line {exc.lineno})") from None
    if not isinstance(payload, dict):
        raise ScheduleSpecError(field_name, "must be a JSON object")
    return payload


def parse_end(text: str | None, field_name: str = "end_at") -> datetime | None:
    """An end date/time typed as text, ISO 8601 (UTC unless it has an offset), as naive UTC; None when blank."""
    if text is None or not text.strip():
        return None
    try:
        return to_naive_utc(datetime.fromisoformat(text.strip()))
    except ValueError:
        raise ScheduleSpecError(field_name, f"not an ISO 8601 date/time: {text!r}") from None


def _name_taken(session: Session, name: str, other_than: int | None = None) -> None:
    query = select(S.c.id).where(S.c.name == name)
    if other_than is not None:
        query = query.where(S.c.id != other_than)
    if session.scalar(query) is not None:
        raise ScheduleSpecError("name", f"a schedule named {name!r} exists")


def _event(session: Session, schedule_id: int, change: str, actor: str, now: datetime) -> None:
    """A `schedule` event in the change's transaction: /ws carries it, so open Schedules pages redraw."""
    payload = {"schedule_id": schedule_id, "change": change}
    session.execute(
        insert(E).values(task_id=None, type=EventType.SCHEDULE.value, actor=actor, payload=payload, at=now)
    )
    note_events(session, 1)


def _stored(spec: ScheduleSpec) -> dict[str, Any]:
    values = asdict(spec)
    values.update(kind=spec.kind.value, tags=list(spec.tags))
    return values


def create(session: Session, spec: ScheduleSpec, now: datetime) -> int:
    """A new schedule; ScheduleSpecError("name") when the name is taken."""
    _name_taken(session, spec.name)
    values = _stored(spec)
    values.update(
        runs=0,
        enabled_at=now if spec.enabled else None,
        last_fire_at=None,
        created_at=now,
        updated_at=now,
    )
    schedule_id = int(session.execute(insert(S).values(values).returning(S.c.id)).scalar_one())
    _event(session, schedule_id, "create", spec.created_by, now)
    return schedule_id


TRIGGER = ("cron", "timezone", "interval_seconds")


def edit(session: Session, ref: str | int, spec: ScheduleSpec, now: datetime, actor: str) -> dict[str, Any]:
    """Replaces a schedule's template, trigger and policies; keeps its runs, creator and on/off state (pause
    and resume are their own changes). A changed trigger starts from now, as a resumed schedule does: the
    new trigger's fire times before the edit never run (else a catch-up would fire at once). Returns the
    row as it was."""
    row = find(session, ref)
    _name_taken(session, spec.name, other_than=row["id"])
    values = _stored(spec)
    for kept in ("enabled", "created_by"):
        values.pop(kept)
    values["updated_at"] = now
    if row["enabled"] and any(values[k] != row[k] for k in TRIGGER):
        values["enabled_at"] = now
    session.execute(update(S).where(S.c.id == row["id"]).values(values))
    _event(session, row["id"], "edit", actor, now)
    return row


def find(session: Session, ref: str | int) -> dict[str, Any]:
    """A schedule by id or name, as a dict of its columns."""
    text = str(ref).strip()
    where = S.c.id == int(text) if text.isdigit() else S.c.name == text
    row = session.execute(select(S).where(where)).mappings().first()
    if row is None:
        raise ScheduleNotFound(text)
    return dict(row)


def list_all(session: Session) -> list[dict[str, Any]]:
    return [dict(r) for r in session.execute(select(S).order_by(S.c.id)).mappings()]


def set_enabled(
    session: Session, ref: str | int, enabled: bool, now: datetime, actor: str = ""
) -> dict[str, Any]:
    """Pause or resume. Resuming starts from now: fire times while paused never run."""
    row = find(session, ref)
    values: dict[str, Any] = {"enabled": enabled, "updated_at": now}
    if enabled and not row["enabled"]:
        values["enabled_at"] = now
    session.execute(update(S).where(S.c.id == row["id"]).values(values))
    _event(session, row["id"], "resume" if enabled else "pause", actor, now)
    return {**row, **values}


def remove(session: Session, ref: str | int, now: datetime | None = None, actor: str = "") -> dict[str, Any]:
    """Deletes the schedule; the tasks it made stay, still carrying its id."""
    row = find(session, ref)
    session.execute(delete(S).where(S.c.id == row["id"]))
    _event(session, row["id"], "remove", actor, now if now is not None else utcnow())
    return row


def recent_runs(session: Session, schedule_id: int, limit: int = 20) -> list[dict[str, Any]]:
    """The schedule's newest tasks (ix_tasks_schedule_status finds them), newest fire time first."""
    rows = session.execute(
        select(T.c.id.label("task_id"), T.c.scheduled_for, T.c.status, T.c.started_at, T.c.completed_at)
        .where(T.c.schedule_id == schedule_id)
        .order_by(T.c.scheduled_for.desc())
        .limit(limit)
    ).mappings()
    return [dict(r) for r in rows]


def last_runs(session: Session, schedule_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Each schedule's newest task (by fire time), for the Schedules page: one index seek per schedule."""
    out: dict[int, dict[str, Any]] = {}
    for schedule_id in schedule_ids:
        runs = recent_runs(session, schedule_id, limit=1)
        if runs:
            out[schedule_id] = runs[0]
    return out
