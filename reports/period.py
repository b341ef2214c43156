"""Reports layer: the period a report covers — a UTC day, ISO week, calendar month or custom range — and the
previous period of equal length that changes are measured against."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from db.core.timeutil import day_start, to_naive_utc

MAX_CUSTOM_SPAN = timedelta(days=400)


class PeriodError(ValueError):
    """A period that cannot be built from what was given; the message is meant for the user."""


class PeriodKind(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    CUSTOM = "custom"


@dataclass(frozen=True)
class Period:
    """[start, end) in naive UTC."""

    kind: PeriodKind
    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.tzinfo or self.end.tzinfo:
            raise PeriodError("a period's times are naive UTC")
        if self.end <= self.start:
            raise PeriodError("the end of a period must be after its start")

    @property
    def span(self) -> timedelta:
        return self.end - self.start

    def previous(self) -> Period:
        """The period of equal length just before this one: the day or week before; before a month, as many
        days as it has (a custom range), so totals compare like for like."""
        kind = self.kind if self.kind in (PeriodKind.DAILY, PeriodKind.WEEKLY) else PeriodKind.CUSTOM
        return Period(kind, self.start - self.span, self.start)

    @property
    def label(self) -> str:
        if self.kind is PeriodKind.DAILY:
            return self.start.strftime("%A %d %B %Y")
        if self.kind is PeriodKind.WEEKLY:
            iso = self.start.isocalendar()
            last = self.end - timedelta(days=1)
            return f"week {iso.week} of {iso.year} ({self.start:%d %b} – {last:%d %b %Y})"
        if self.kind is PeriodKind.MONTHLY:
            return self.start.strftime("%B %Y")
        return f"{_short(self.start)} – {_short(self.end)}"

    @property
    def slug(self) -> str:
        """The period in a file name: weekly-2026-11-16, custom-2026-11-01-to-2026-11-05T12-00."""
        if self.kind is PeriodKind.CUSTOM:
            return f"custom-{_file_time(self.start)}-to-{_file_time(self.end)}"
        return f"{self.kind.value}-{self.start:%Y-%m-%d}"


def _short(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d}" if moment == day_start(moment) else f"{moment:%Y-%m-%d %H:%M}"


def _file_time(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d}" if moment == day_start(moment) else f"{moment:%Y-%m-%dT%H-%M}"


def parse_time(raw: str, option: str = "--from") -> datetime:
    """An ISO 8601 date or time; with a zone it is converted to UTC, without one it is taken as UTC."""
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise PeriodError(
            f"{option} must be an ISO 8601 date or time like 2026-11-16 or 2026-11-16T08:00Z, got {raw!r}"
        ) from None
    return to_naive_utc(value)


def _containing(kind: PeriodKind, moment: datetime) -> tuple[datetime, datetime]:
    day = day_start(moment)
    if kind is PeriodKind.DAILY:
        return day, day + timedelta(days=1)
    if kind is PeriodKind.WEEKLY:
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=7)
    first = day.replace(day=1)
    return first, (first + timedelta(days=32)).replace(day=1)


def period_for(
    kind: PeriodKind | str, now: datetime, start: datetime | None = None, end: datetime | None = None
) -> Period:
    """The period of `kind`: for daily / weekly / monthly the one containing `start`, or without it the last
    complete one before `now`; for custom exactly [start, end)."""
    try:
        kind = PeriodKind(kind)
    except ValueError:
        raise PeriodError(f"period must be one of {', '.join(k.value for k in PeriodKind)}") from None
    if kind is PeriodKind.CUSTOM:
        if start is None or end is None:
            raise PeriodError("a custom period needs both --from and --to")
        if end <= start:
            raise PeriodError("--to must be after --from")
        if end - start > MAX_CUSTOM_SPAN:
            raise PeriodError(f"a custom period spans at most {MAX_CUSTOM_SPAN.days} days")
        return Period(kind, start, end)
    if end is not None:
        raise PeriodError(f"--to is only for --period custom; a {kind.value} period ends by itself")
    if start is not None:
        return Period(kind, *_containing(kind, start))
    current_start, _ = _containing(kind, now)
    return Period(kind, *_containing(kind, current_start - timedelta(microseconds=1)))
