"""Reports layer: a report asked for by hand (the Reports page's "Generate now") — period, filters and formats
checked into a RunRequest, with errors that name the form field at fault."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from db.reporting import schedules as report_schedules
from db.reporting.schedules import ScheduleError
from db.reporting.store import RunRequest, RunTrigger
from reports.period import PeriodError, PeriodKind, parse_time, period_for


def _day_or_time(field: str, raw: Any) -> tuple[datetime, bool] | None:
    """A date or time from the form (None when empty), and whether it was a bare date."""
    text = "" if raw is None else str(raw).strip()
    if not text:
        return None
    try:
        return parse_time(text, field), len(text) == 10
    except PeriodError:
        raise ScheduleError(
            field, "must be a date like 2026-11-16 (or a time like 2026-11-16T08:00Z)"
        ) from None


def manual_request(
    period: Any,
    start: Any,
    end: Any,
    kinds: Any,
    tags: Any,
    formats: Any,
    *,
    now: datetime,
    requested_by: str = "dashboard",
) -> RunRequest:
    """Daily / weekly / monthly: the one containing `start`, or the last complete one without it. Custom:
    from `start` to `end`, where a bare end date is included (1 to 5 November covers the 5th)."""
    try:
        kind = PeriodKind(str(period or "").strip().lower())
    except ValueError:
        raise ScheduleError("period", f"must be one of {', '.join(k.value for k in PeriodKind)}") from None
    first = _day_or_time("from", start)
    last = _day_or_time("to", end) if kind is PeriodKind.CUSTOM else None
    if kind is PeriodKind.CUSTOM:
        if first is None:
            raise ScheduleError("from", "a custom period needs a start date")
        if last is None:
            raise ScheduleError("to", "a custom period needs an end date")
    until = None if last is None else last[0] + (timedelta(days=1) if last[1] else timedelta(0))
    try:
        chosen = period_for(kind, now, None if first is None else first[0], until)
    except PeriodError as exc:
        field = "to" if kind is PeriodKind.CUSTOM and first is not None else "from"
        message = str(exc).replace("--from", "from").replace("--to", "to")
        raise ScheduleError(field, message) from None
    if chosen.start > now:
        raise ScheduleError("from", "that period has not started yet")
    return RunRequest(
        trigger=RunTrigger.MANUAL,
        period_kind=chosen.kind.value,
        period_start=chosen.start,
        period_end=chosen.end,
        formats=report_schedules.parse_formats(formats),
        kinds=report_schedules.parse_kinds(kinds),
        tags=report_schedules.parse_tags(tags),
        requested_by=requested_by,
    )
