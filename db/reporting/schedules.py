"""Data layer: report schedules — the three recurring reports (daily, weekly, monthly), read and edited, with
every edit validated field by field (ScheduleError names the input at fault; report requests use the same
checks for formats and filters)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from db.core.models import ReportSchedule
from db.domain.states import TaskKind

RS = cast(Table, ReportSchedule.__table__)

REPORT_FORMATS = ("html", "pdf", "csv", "json")  # reports/write.py FORMATS; a test keeps them equal
SCHEDULE_PERIODS = ("daily", "weekly", "monthly")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# Days 29–31 are missing from some months; a monthly report on the 28th at the latest runs every month.
MAX_DAY_OF_MONTH = 28
MAX_RECIPIENTS = 50
MAX_TAGS = 20

DEFAULT_SCHEDULES: tuple[dict[str, Any], ...] = (
    {"name": "Daily report", "period": "daily", "hour": 6, "weekday": None, "day_of_month": None},
    {"name": "Weekly report", "period": "weekly", "hour": 8, "weekday": 0, "day_of_month": None},
    {"name": "Monthly report", "period": "monthly", "hour": 9, "weekday": None, "day_of_month": 1},
)
DEFAULT_FORMATS = ("html", "pdf")

_EMAIL = re.compile(r"^[^@\s,;:<>()\[\]\"'\\]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")


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
        "filters": filters_json(edit.kinds, edit.tags),
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


def filters_json(kinds: Sequence[str], tags: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if kinds:
        out["kind"] = list(kinds)
    if tags:
        out["tag"] = list(tags)
    return out
