"""Data layer: the queries reports need that no analytics page has — tasks created by kind and status, the
failed and stuck tasks of a range, failure reasons — and the row streams behind the CSV exports (tasks, calls
and daily cost lines of a range), read in chunks through a server-side cursor so an export of a million rows
never holds them all. Aggregation happens in SQL."""

from __future__ import annotations

import json
import typing
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, Table, Text, cast, func, select
from sqlalchemy.orm import Session

from db.core.models import Invocation
from db.core.sqlfuncs import bucket
from db.domain.liveness import silent_since, stuck_condition
from db.domain.states import FAILURES
from db.read.call_view import CALLS
from db.read.scope import Scope
from db.read.scope_sql import call_conditions, made_matching_call, task_conditions
from db.read.task_view import TASKS, T

if TYPE_CHECKING:
    import pandas as pd  # imported where a frame is built: an export's worker process never loads pandas

I = typing.cast(Table, Invocation.__table__)  # noqa: E741

ERROR_PREVIEW = 500
EXPORT_CHUNK = 5_000

# The report's failed and stuck tables: tasks view fields (db/read/task_view.py gives each its SQL, heading and
# format), under the names the report's JSON gives them (reports/SCHEMA.md: the error's first ERROR_PREVIEW
# characters are "error", the cost "cost").
FAILED_FIELDS = (
    "id", "title", "kind", "status", "failure_reason", "error_message", "attempt", "completed_at", "cost_usd",
)  # fmt: skip
STUCK_FIELDS = ("id", "title", "kind", "worker_id", "started_at", "last_activity_at")
REPORT_NAMES = {"error_message": "error", "cost_usd": "cost"}


def report_name(field: str) -> str:
    return REPORT_NAMES.get(field, field)


# The tasks' export layout (the report's tasks.csv and the dashboard's download): the view's csv fields.
TASK_EXPORT_COLUMNS: tuple[str, ...] = TASKS.csv_names
INVOCATION_EXPORT_COLUMNS: tuple[str, ...] = CALLS.csv_names
COST_LINE_COLUMNS = (
    "day",
    "model",
    "provider",
    "role",
    "kind",
    "calls",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cost_usd",
)


def task_export_select() -> tuple[ColumnElement[Any], ...]:
    """The columns of TASK_EXPORT_COLUMNS, times formatted by the database; shared with the dashboard's CSV
    download of the task table (db/read/csv_rows.py), so both files have one layout."""
    return TASKS.csv_select()


def invocation_export_select() -> tuple[ColumnElement[Any], ...]:
    """The columns of INVOCATION_EXPORT_COLUMNS (shared with the task page's invocations download)."""
    return CALLS.csv_select()


def _task_filters(scope: Scope) -> list[ColumnElement[bool]]:
    call = made_matching_call(scope)
    return task_conditions(scope) + ([call] if call is not None else [])


def _created_in(scope: Scope) -> list[ColumnElement[bool]]:
    return [T.c.created_at >= scope.start, T.c.created_at < scope.end, *_task_filters(scope)]


def _ended_in(scope: Scope) -> list[ColumnElement[bool]]:
    return [T.c.completed_at >= scope.start, T.c.completed_at < scope.end, *_task_filters(scope)]


def has_tasks(session: Session, scope: Scope) -> bool:
    """Whether any task (of the scope's kinds and tags) was created or ended in the range: a report of a range
    without one has nothing to say."""
    created = select(T.c.id).where(*_created_in(scope)).limit(1)
    ended = select(T.c.id).where(*_ended_in(scope)).limit(1)
    return session.scalar(created) is not None or session.scalar(ended) is not None


def created_by_kind_status(session: Session, scope: Scope) -> pd.DataFrame:
    """Tasks created in the range per kind and current status: columns kind, status, count."""
    rows = session.execute(
        select(T.c.kind, T.c.status, func.count())
        .where(*_created_in(scope))
        .group_by(T.c.kind, T.c.status)
        .order_by(T.c.kind, T.c.status)
    ).all()
    import pandas as pd

    frame = pd.DataFrame(rows, columns=["kind", "status", "count"])
    frame["count"] = frame["count"].astype(int)
    return frame


def failure_reasons(session: Session, scope: Scope) -> pd.DataFrame:
    """Tasks that failed or timed out in the range per final status and reason, most frequent first:
    columns status, reason, count."""
    reason = func.coalesce(T.c.failure_reason, "")
    rows = session.execute(
        select(T.c.status, reason, func.count())
        .where(*_ended_in(scope), T.c.status.in_(FAILURES))
        .group_by(T.c.status, reason)
        .order_by(func.count().desc(), T.c.status, reason)
    ).all()
    import pandas as pd

    frame = pd.DataFrame(rows, columns=["status", "reason", "count"])
    frame["count"] = frame["count"].astype(int)
    return frame


def failed_tasks(session: Session, scope: Scope, limit: int = 50) -> pd.DataFrame:
    """The newest tasks that failed or timed out in the range, with their reason and the start of their error:
    columns FAILED_FIELDS by their report names."""
    read = {**{n: TASKS[n].expr for n in FAILED_FIELDS}, "error_message": _error_preview()}
    rows = session.execute(
        select(*read.values())
        .where(*_ended_in(scope), T.c.status.in_(FAILURES))
        .order_by(T.c.completed_at.desc(), T.c.id.desc())
        .limit(limit)
    ).all()
    import pandas as pd

    return pd.DataFrame(rows, columns=[report_name(n) for n in read])


def _error_preview() -> ColumnElement[Any]:
    return func.substr(TASKS["error_message"].expr, 1, ERROR_PREVIEW)


def stuck_tasks(
    session: Session, scope: Scope, now: datetime, stuck_after: timedelta, limit: int = 50
) -> pd.DataFrame:
    """Running tasks (of the scope's filters, whenever created) silent for longer than `stuck_after` at `now`,
    the longest silent first: columns STUCK_FIELDS, then silent_s."""
    since = silent_since()
    rows = session.execute(
        select(*(TASKS[n].expr for n in STUCK_FIELDS), since)
        .where(stuck_condition(now, stuck_after), *_task_filters(scope))
        .order_by(since, T.c.id)
        .limit(limit)
    ).all()
    import pandas as pd

    frame = pd.DataFrame(rows, columns=[*STUCK_FIELDS, "silent_since"])
    # At most `limit` rows: the silence is `now` minus a known time, the same in Python on both databases.
    frame["silent_s"] = [(now - at).total_seconds() for at in frame.pop("silent_since")]
    return frame


def stream(session: Session, query: Select[Any], chunk: int = EXPORT_CHUNK) -> Iterator[tuple[Any, ...]]:
    """Rows of `query` fetched `chunk` at a time (a server-side cursor on PostgreSQL, fetchmany on SQLite)."""
    result = session.execute(query.execution_options(yield_per=chunk))
    for part in result.partitions():
        yield from part  # Row objects: tuples as far as a reader is concerned


_TAGS = TASK_EXPORT_COLUMNS.index("tags")


def iter_tasks(session: Session, scope: Scope, chunk: int = EXPORT_CHUNK) -> Iterator[tuple[Any, ...]]:
    """Tasks created in the range, oldest first, as TASK_EXPORT_COLUMNS, the tags joined with ';' as a CSV
    cell shows them ('alpha;beta', not yet made safe). The tags are read as their JSON text and each distinct
    text decoded once: a month's tasks share a few tag sets, and decoding every row's was a third of the
    export's time."""
    columns = list(task_export_select())
    columns[_TAGS] = cast(T.c.tags, Text)
    query = select(*columns).where(*_created_in(scope)).order_by(T.c.created_at, T.c.id)
    decoded: dict[str | None, Any] = {}

    def tags(text: str | None) -> Any:
        value = decoded.get(text, decoded)
        if value is decoded:
            if len(decoded) > 10_000:
                decoded.clear()
            value = json.loads(text) if text is not None else None
            if isinstance(value, list):
                value = ";".join(str(v) for v in value)
            decoded[text] = value
        return value

    result = session.execute(query.execution_options(yield_per=chunk))
    for part in result.partitions():
        yield from ((*row[:_TAGS], tags(row[_TAGS]), *row[_TAGS + 1 :]) for row in part)


def _calls_in(query: Select[Any], scope: Scope) -> Select[Any]:
    return (
        query.select_from(I.join(T, T.c.id == I.c.task_id))
        .where(I.c.started_at >= scope.start, I.c.started_at < scope.end)
        .where(*call_conditions(scope), *task_conditions(scope))
    )


def iter_invocations(session: Session, scope: Scope, chunk: int = EXPORT_CHUNK) -> Iterator[tuple[Any, ...]]:
    """Calls started in the range (of tasks matching the filters), oldest first, as INVOCATION_EXPORT_COLUMNS."""
    query = _calls_in(select(*invocation_export_select()), scope).order_by(I.c.started_at, I.c.id)
    return stream(session, query, chunk)


def iter_cost_lines(session: Session, scope: Scope, chunk: int = EXPORT_CHUNK) -> Iterator[tuple[Any, ...]]:
    """Spend per UTC day, model, provider, role and task kind in the range, as COST_LINE_COLUMNS (the day as
    'YYYY-MM-DD'), by day then most expensive first."""
    day = bucket(I.c.started_at, "day")
    cost = func.sum(I.c.cost_usd)
    query = (
        _calls_in(
            select(
                day,
                I.c.model,
                I.c.provider,
                I.c.role,
                T.c.kind,
                func.count(),
                func.sum(I.c.input_tokens),
                func.sum(I.c.output_tokens),
                func.sum(I.c.cache_read_tokens),
                cost,
            ),
            scope,
        )
        .group_by(day, I.c.model, I.c.provider, I.c.role, T.c.kind)
        .order_by(day, cost.desc(), I.c.model, I.c.provider, I.c.role, T.c.kind)
    )
    for row in stream(session, query, chunk):
        # The day as a date; a sum of float costs rounded to a millionth of a dollar, like the stored costs.
        yield (str(row[0])[:10], *row[1:9], round(float(row[9] or 0.0), 6))
