"""Data layer: how each analytics rollup table is computed from the source rows over a window of hours
(or days). Every function replaces the window's rows in one DELETE and one INSERT … SELECT … GROUP BY, so
rebuilding a window twice gives the same rows."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, func, insert, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement

from db.analytics.rollup_spec import (
    CREATED,
    DAY_SPECS,
    ENDED,
    FINISHED,
    HISTOGRAMS,
    RUNTIMES,
    TOOLS,
    USAGE,
    WORKERS,
)
from db.core.models import (
    Activity,
    EventsHourly,
    Invocation,
    Task,
    TaskEvent,
)
from db.core.sqlfuncs import bucket
from db.domain.states import TaskStatus

# A window [start, end) of whole hours (whole days for duration_daily); None means all of history.
Window = tuple[datetime, datetime] | None

I = Invocation.__table__.c  # noqa: E741
T = Task.__table__.c
A = Activity.__table__.c
E = TaskEvent.__table__.c

COMPLETED = TaskStatus.COMPLETED.value


def _table(model: Any) -> Table:
    return model.__table__  # type: ignore[no-any-return]


def _within(column: Any, window: Window) -> list[ColumnElement[bool]]:
    return [] if window is None else [column >= window[0], column < window[1]]


def _replace(
    session: Session, model: Any, time_column: str, columns: list[str], source: Any, window: Window
) -> None:
    table = _table(model)
    session.execute(delete(table).where(*_within(table.c[time_column], window)))
    session.execute(insert(table).from_select(columns, source))


def usage(session: Session, window: Window) -> None:
    """usage_hourly: calls, failures, tokens, cost and duration per hour the calls started in."""
    USAGE.fold(session, window, "hour")


def tasks(session: Session, window: Window) -> None:
    """task_hourly: tasks that ended, per hour of completed_at, kind and final status."""
    ENDED.fold(session, window, "hour")


def created(session: Session, window: Window) -> None:
    """created_hourly: tasks created per hour, kind and current status."""
    CREATED.fold(session, window, "hour")


def finished(session: Session, window: Window) -> None:
    """finished_hourly and runtime_hourly: tasks that ended per hour, kind, status and worker or run-time bin."""
    FINISHED.fold(session, window, "hour")
    RUNTIMES.fold(session, window, "hour")


def workers(session: Session, window: Window) -> None:
    """worker_hourly: per worker, the started tasks that ended per hour: outcomes and run time."""
    WORKERS.fold(session, window, "hour")


def tools(session: Session, window: Window) -> None:
    """tool_hourly: `tool_exec` activity lines per hour, task kind and tool."""
    TOOLS.fold(session, window, "hour")


def events(session: Session, window: Window) -> None:
    """events_hourly: events written per hour and the busiest minute of each hour. Per-minute counts come
    back (60 rows an hour) and the hours are folded here, which keeps the SQL the same on both databases."""
    minute = bucket(E.at, "minute")
    per_minute = session.execute(
        select(minute, func.count()).where(*_within(E.at, window)).group_by(minute)
    ).all()
    hours: dict[datetime, list[Any]] = defaultdict(lambda: [0, None, -1])
    # In time order, so a tie for an hour's busiest minute always goes to the earliest minute.
    for text, count in sorted(per_minute, key=lambda row: str(row[0])):
        at = datetime.fromisoformat(str(text))
        row = hours[at.replace(minute=0)]
        row[0] += int(count)
        if int(count) > row[2]:
            row[1], row[2] = at, int(count)
    table = _table(EventsHourly)
    session.execute(delete(table).where(*_within(table.c.hour, window)))
    if hours:
        session.execute(
            insert(table),
            [
                {"hour": h, "events": total, "peak_minute": at, "peak_events": peak}
                for h, (total, at, peak) in sorted(hours.items())
            ],
        )


def histograms(session: Session, window: Window) -> None:
    """histogram_hourly: every histogram (db/analytics/rollup_spec.HISTOGRAMS), per hour."""
    for spec in HISTOGRAMS.values():
        spec.fold(session, window, "hour")


def daily(session: Session, window: Window) -> None:
    """The daily tables (histogram_daily, usage_daily, task_daily, tool_daily): their hourly rows combined per
    day (run after the hours are up to date)."""
    for spec in DAY_SPECS:
        spec.fold(session, window, "day")


HOURLY = (usage, tasks, created, finished, workers, tools, events, histograms)
