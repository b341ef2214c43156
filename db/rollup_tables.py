"""Data layer: how each analytics rollup table is computed from the source rows over a window of hours
(or days). Every function replaces the window's rows in one DELETE and one INSERT … SELECT … GROUP BY, so
rebuilding a window twice gives the same rows."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import Table, case, delete, func, insert, literal, literal_column, select, union_all
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement

from db.bins import bin_index
from db.models import (
    Activity,
    EventsHourly,
    HistogramDaily,
    HistogramHourly,
    Invocation,
    Task,
    TaskEvent,
    TaskHourly,
    ToolHourly,
    WorkerHourly,
)
from db.rollup_spec import CALL_DURATION, CREATED, FINISHED, RUNTIMES, USAGE
from db.sqlfuncs import bucket, count_if, day_floor, first_word, hour_floor, seconds_between, sum_if
from db.states import FAILURES, ActivityType, TaskStatus

# A window [start, end) of whole hours (whole days for duration_daily); None means all of history.
Window = tuple[datetime, datetime] | None

I = Invocation.__table__.c  # noqa: E741
T = Task.__table__.c
A = Activity.__table__.c
E = TaskEvent.__table__.c

COMPLETED = TaskStatus.COMPLETED.value
# Cycle spans every attempt; processing is the last attempt's run; queue wait starts at available_at, so a
# retried task's earlier attempts and back-off are not counted as queueing (db/performance.py reads these).
CYCLE = seconds_between(T.created_at, T.completed_at)
PROCESSING = seconds_between(T.started_at, T.completed_at)
QUEUE_WAIT = seconds_between(T.available_at, T.started_at)
# Spelled as a literal, not a bound parameter: SQLite uses the partial index ix_activity_tool_at only when it
# can see that the query's condition is the index's own.
IS_TOOL_LINE = A.type == literal_column(f"'{ActivityType.TOOL_EXEC.value}'")


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


def ended_aggregates() -> tuple[ColumnElement[Any], ...]:
    """Over ended tasks: how many, how many on their first attempt, how many ever started, the sums of their
    cycle, processing and queue seconds (of the started ones), and the shortest and longest run — task_hourly's
    columns, and what db/performance.py reads at a range's raw edges."""
    started = T.started_at.is_not(None)
    return (
        func.count(),
        count_if(T.attempt == 1),
        count_if(started),
        sum_if(CYCLE, started),
        sum_if(PROCESSING, started),
        sum_if(QUEUE_WAIT, started),
        func.min(case((started, PROCESSING))),
        func.max(case((started, PROCESSING))),
    )


def tasks(session: Session, window: Window) -> None:
    """task_hourly: tasks that ended, per hour of completed_at, kind and final status."""
    hour = hour_floor(T.completed_at)
    source = (
        select(hour, T.kind, T.status, *ended_aggregates())
        .where(T.completed_at.is_not(None), *_within(T.completed_at, window))
        .group_by(hour, T.kind, T.status)
    )
    columns = ["hour", "kind", "status", "tasks", "first_attempt", "started", "cycle_s", "processing_s"]
    columns += ["queue_s", "min_processing_s", "max_processing_s"]
    _replace(session, TaskHourly, "hour", columns, source, window)


def created(session: Session, window: Window) -> None:
    """created_hourly: tasks created per hour, kind and current status."""
    CREATED.fold(session, window, "hour")


def finished(session: Session, window: Window) -> None:
    """finished_hourly and runtime_hourly: tasks that ended per hour, kind, status and worker or run-time bin."""
    FINISHED.fold(session, window, "hour")
    RUNTIMES.fold(session, window, "hour")


def workers(session: Session, window: Window) -> None:
    """worker_hourly: per worker, the started tasks that ended per hour: outcomes and run time."""
    hour = hour_floor(T.completed_at)
    done = T.status == COMPLETED
    source = (
        select(
            hour,
            T.worker_id,
            count_if(done),
            count_if(T.status.in_(FAILURES)),
            sum_if(PROCESSING, done),
            func.coalesce(func.sum(PROCESSING), 0.0),
        )
        .where(
            T.completed_at.is_not(None),
            T.worker_id.is_not(None),
            T.started_at.is_not(None),
            *_within(T.completed_at, window),
        )
        .group_by(hour, T.worker_id)
    )
    columns = ["hour", "worker_id", "done", "failed", "done_s", "busy_s"]
    _replace(session, WorkerHourly, "hour", columns, source, window)


def tools(session: Session, window: Window) -> None:
    """tool_hourly: `tool_exec` activity lines per hour, task kind and tool."""
    hour, tool = hour_floor(A.at), first_word(A.message)
    source = (
        select(hour, T.kind, tool, func.count())
        .select_from(Activity.__table__.join(Task.__table__, T.id == A.task_id))
        .where(IS_TOOL_LINE, *_within(A.at, window))
        .group_by(hour, T.kind, tool)
    )
    _replace(session, ToolHourly, "hour", ["hour", "kind", "tool", "calls"], source, window)


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


# tasks.update_count bins for the Database page: [edge, next edge); the last is open. Roughly logarithmic, as
# the counts are.
UPDATE_EDGES = (0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000)
HISTOGRAM_COLUMNS = ["metric", "key", "bin", "count", "total"]
TASK_VALUES = {"cycle": CYCLE, "processing": PROCESSING, "queue": QUEUE_WAIT}
# Built once: the nested CASE over ~90 bins takes milliseconds of Python to construct.
TASK_BINS = {metric: bin_index(value) for metric, value in TASK_VALUES.items()}
CALL_BIN = bin_index(CALL_DURATION)


def _histogram(
    metric: str, value: ColumnElement[Any], key: Any, at: Any, binned: ColumnElement[Any], by_hour: bool
) -> Any:
    hour = hour_floor(at) if by_hour else literal(None)
    query = select(
        hour.label("hour"),
        literal(metric).label("metric"),
        key.label("key"),
        binned.label("bin"),
        func.count().label("count"),
        func.coalesce(func.sum(value), 0.0).label("total"),
    )
    return query.group_by(*((hour,) if by_hour else ()), key, binned)


def task_histogram(metric: str, where: list[ColumnElement[bool]], by_hour: bool = False) -> Any:
    """Counts per kind and bin of the tasks that ended (`where` bounds completed_at and filters the tasks):
    cycle and processing times of the completed ones, queue wait of every one that started."""
    query = _histogram(metric, TASK_VALUES[metric], T.kind, T.completed_at, TASK_BINS[metric], by_hour)
    done = [T.status == COMPLETED] if metric != "queue" else []
    return query.where(T.completed_at.is_not(None), T.started_at.is_not(None), *done, *where)


def call_histogram(query_scope: Any, by_hour: bool = False) -> Any:
    """Counts per role and bin of finished calls' durations; `query_scope` adds the FROM and the conditions
    (the rollup's window, or db.costs.scoped for a Scope)."""
    query = _histogram("call", CALL_DURATION, I.role, I.started_at, CALL_BIN, by_hour)
    return query_scope(query).where(I.completed_at.is_not(None))


def update_histogram(where: list[ColumnElement[bool]], by_hour: bool = False) -> Any:
    """Counts per kind and UPDATE_EDGES bin of tasks' update_count (`where` bounds created_at)."""
    uc = T.update_count
    binned = case(*((uc < hi, n) for n, hi in enumerate(UPDATE_EDGES[1:])), else_=len(UPDATE_EDGES) - 1)
    return _histogram("updates", uc, T.kind, T.created_at, binned, by_hour).where(*where)


def histograms(session: Session, window: Window) -> None:
    """histogram_hourly: every histogram above, per hour."""

    def calls_in_window(query: Any) -> Any:
        return query.select_from(Invocation.__table__).where(*_within(I.started_at, window))

    ended = _within(T.completed_at, window)
    parts = [task_histogram(m, ended, by_hour=True) for m in ("cycle", "processing", "queue")]
    parts += [
        call_histogram(calls_in_window, by_hour=True),
        update_histogram(_within(T.created_at, window), True),
    ]
    source = select(union_all(*parts).subquery())
    _replace(session, HistogramHourly, "hour", ["hour", *HISTOGRAM_COLUMNS], source, window)


def daily_histograms(session: Session, window: Window) -> None:
    """histogram_daily: histogram_hourly's counts summed per day (run after the hours are up to date)."""
    h = HistogramHourly.__table__.c
    day = day_floor(h.hour)
    source = (
        select(day, h.metric, h.key, h.bin, func.sum(h["count"]), func.sum(h.total))
        .where(*_within(h.hour, window))
        .group_by(day, h.metric, h.key, h.bin)
    )
    _replace(session, HistogramDaily, "day", ["day", *HISTOGRAM_COLUMNS], source, window)


HOURLY = (usage, tasks, created, finished, workers, tools, events, histograms)
