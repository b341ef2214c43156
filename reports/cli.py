"""Reports layer: what `python app.py report` does — its options checked into a request (clear one-line errors),
then the report built in one read session and written in every format asked for."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from db.core.engine import Database
from reports.build import build_report
from reports.model import FilterError, Filters
from reports.period import Period, PeriodError, parse_time, period_for
from reports.write import FormatError, parse_formats, write_report

DEFAULT_OUT = "reports-out"
DEFAULT_FORMATS = "html,pdf,csv,json"


class ReportArgumentError(ValueError):
    """A report option that cannot be used; the message is one line for the user."""


@dataclass(frozen=True)
class ReportRequest:
    period: Period
    filters: Filters
    formats: tuple[str, ...]
    out_dir: Path


def _split(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v.strip() for raw in values for v in raw.split(",") if v.strip()))


def parse_request(
    period: str,
    start: str | None,
    end: str | None,
    formats: str,
    out: str,
    kinds: Sequence[str] = (),
    tags: Sequence[str] = (),
    *,
    now: datetime,
) -> ReportRequest:
    try:
        return ReportRequest(
            period=period_for(
                period.strip().lower(),
                now,
                parse_time(start, "--from") if start else None,
                parse_time(end, "--to") if end else None,
            ),
            filters=Filters(kind=_split(kinds), tag=_split(tags)),
            formats=parse_formats(formats),
            out_dir=Path(out),
        )
    except (PeriodError, FilterError, FormatError) as exc:
        raise ReportArgumentError(str(exc)) from None


def run(db: Database, request: ReportRequest, *, now: datetime, stuck_after: timedelta) -> list[Path]:
    """Build the report and write it; returns the files written."""
    with db.reading() as session:
        report = build_report(session, request.period, request.filters, now=now, stuck_after=stuck_after)
    return write_report(report, request.formats, request.out_dir, db=db)
