"""Data layer: the queries reports need that no analytics page has — tasks created by kind and status, the
failed and stuck tasks of a range, failure reasons — and the row streams behind the CSV exports (tasks, calls
and daily cost lines of a range), read in chunks through a server-side cursor so an export of a million rows
never holds them all. Aggregation happens in SQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import ColumnElement, Select, String, Text, cast, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import FunctionElement

from db.liveness import silent_since, stuck_condition
from db.models import Invocation, Task
from db.scope import Scope
from db.scoping import call_conditions, made_matching_call, task_conditions
from db.sqlfuncs import bucket, seconds_between
from db.states import FAILURES

if TYPE_CHECKING:
    import pandas as pd  # imported where a frame is built: an export's worker process never loads pandas

T = Task.__table__.c
I = Invocation.__table__.c  # noqa: E741

ERROR_PREVIEW = 500
EXPORT_CHUNK = 5_000

TASK_EXPORT_COLUMNS = (
    "id",
    "title",
    "kind",
    "status",
    "priority",
    "tags",
    "created_by",
    "attempt",
    "max_attempts",
    "worker_id",
    "created_at",
    "started_at",
    "completed_at",
    "processing_s",
    "failure_reason",
    "error_message",
    "invocation_count",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cost_usd",
)
INVOCATION_EXPORT_COLUMNS = (
    "id",
    "task_id",
    "iteration",
    "role",
    "provider",
    "model",
    "status",
    "started_at",
    "completed_at",
    "duration_s",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cost_usd",
    "error",
)
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


class iso_utc(FunctionElement[str]):
    """A naive-UTC timestamp as ISO 8601 text with milliseconds and a Z, formatted by the database: an export of
    millions of rows then never builds a Python datetime only to format it again."""

    type = String()
    inherit_cache = True


@compiles(iso_utc, "sqlite")
def _iso_sqlite(element: iso_utc, compiler: Any, **kw: Any) -> str:
    (arg,) = element.clauses
    # A time column holds integer microseconds (db/timecol.py). Whole milliseconds as a double go through
    # SQLite's 'unixepoch' exactly (it rounds to the millisecond, and there is nothing left to round), so %f
    # shows them truncated, as PostgreSQL's MS does. No text is parsed; a NULL stays NULL.
    col = compiler.process(arg, **kw)
    return f"strftime('%Y-%m-%dT%H:%M:%fZ', ({col}) / 1000 / 1000.0, 'unixepoch')"


@compiles(iso_utc, "postgresql")
def _iso_pg(element: iso_utc, compiler: Any, **kw: Any) -> str:
    (arg,) = element.clauses
    return f"""to_char({compiler.process(arg, **kw)}, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"""


def task_export_select() -> tuple[ColumnElement[Any], ...]:
    """The columns of TASK_EXPORT_COLUMNS, times formatted by the database; shared with the dashboard's CSV
    download of the task table (db/exports.py), so both files have one layout."""
    return (
        T.id,
        T.title,
        T.kind,
        T.status,
        T.priority,
        T.tags,
        T.created_by,
        T.attempt,
        T.max_attempts,
        T.worker_id,
        iso_utc(T.created_at),
        iso_utc(T.started_at),
        iso_utc(T.completed_at),
        seconds_between(T.started_at, T.completed_at),
        T.failure_reason,
        T.error_message,
        T.invocation_count,
        T.input_tokens,
        T.output_tokens,
        T.cache_read_tokens,
        T.cost_usd,
    )


def invocation_export_select() -> tuple[ColumnElement[Any], ...]:
    """The columns of INVOCATION_EXPORT_COLUMNS (shared with the task page's invocations download)."""
    return (
        I.id,
        I.task_id,
        I.iteration,
        I.role,
        I.provider,
        I.model,
        I.status,
        iso_utc(I.started_at),
        iso_utc(I.completed_at),
        seconds_between(I.started_at, I.completed_at),
        I.input_tokens,
        I.output_tokens,
        I.cache_read_tokens,
        I.cost_usd,
        I.error,
    )


def _task_filters(scope: Scope) -> list[ColumnElement[bool]]:
    call = made_matching_call(scope)
    return task_conditions(scope) + ([call] if call is not None else [])


def _created_in(scope: Scope) -> list[ColumnElement[bool]]:
    return [T.created_at >= scope.start, T.created_at < scope.end, *_task_filters(scope)]


def _ended_in(scope: Scope) -> list[ColumnElement[bool]]:
    return [T.completed_at >= scope.start, T.completed_at < scope.end, *_task_filters(scope)]


def has_tasks(session: Session, scope: Scope) -> bool:
    """Whether any task (of the scope's kinds and tags) was created or ended in the range: a report of a range
    without one has nothing to say."""
    created = select(T.id).where(*_created_in(scope)).limit(1)
    ended = select(T.id).where(*_ended_in(scope)).limit(1)
    return session.scalar(created) is not None or session.scalar(ended) is not None


def created_by_kind_status(session: Session, scope: Scope) -> pd.DataFrame:
    """Tasks created in the range per kind and current status: columns kind, status, count."""
    rows = session.execute(
        select(T.kind, T.status, func.count())
        .where(*_created_in(scope))
        .group_by(T.kind, T.status)
        .order_by(T.kind, T.status)
    ).all()
    import pandas as pd

    frame = pd.DataFrame(rows, columns=["kind", "status", "count"])
    frame["count"] = frame["count"].astype(int)
    return frame


def failure_reasons(session: Session, scope: Scope) -> pd.DataFrame:
    """Tasks that failed or timed out in the range per final status and reason, most frequent first:
    columns status, reason, count."""
    reason = func.coalesce(T.failure_reason, "")
    rows = session.execute(
        select(T.status, reason, func.count())
        .where(*_ended_in(scope), T.status.in_(FAILURES))
        .group_by(T.status, reason)
        .order_by(func.count().desc(), T.status, reason)
    ).all()
    import pandas as pd

    frame = pd.DataFrame(rows, columns=["status", "reason", "count"])
    frame["count"] = frame["count"].astype(int)
    return frame


def failed_tasks(session: Session, scope: Scope, limit: int = 50) -> pd.DataFrame:
    """The newest tasks that failed or timed out in the range, with their reason and the start of their error:
    columns id, title, kind, status, failure_reason, error, attempt, completed_at, cost."""
    rows = session.execute(
        select(
            T.id,
            T.title,
            T.kind,
            T.status,
            T.failure_reason,
            func.substr(T.error_message, 1, ERROR_PREVIEW),
            T.attempt,
            T.completed_at,
            T.cost_usd,
        )
        .where(*_ended_in(scope), T.status.in_(FAILURES))
        .order_by(T.completed_at.desc(), T.id.desc())
        .limit(limit)
    ).all()
    columns = ["id", "title", "kind", "status", "failure_reason", "error", "attempt", "completed_at", "cost"]
    import pandas as pd

    return pd.DataFrame(rows, columns=columns)


def stuck_tasks(
    session: Session, scope: Scope, now: datetime, stuck_after: timedelta, limit: int = 50
) -> pd.DataFrame:
    """Running tasks (of the scope's filters, whenever created) silent for longer than `stuck_after` at `now`,
    the longest silent first: columns id, title, kind, worker_id, started_at, last_activity_at, silent_s."""
    since = silent_since()
    rows = session.execute(
        select(T.id, T.title, T.kind, T.worker_id, T.started_at, T.last_activity_at, since)
        .where(stuck_condition(now, stuck_after), *_task_filters(scope))
        .order_by(since, T.id)
        .limit(limit)
    ).all()
    import pandas as pd

    columns = ["id", "title", "kind", "worker_id", "started_at", "last_activity_at", "silent_since"]
    frame = pd.DataFrame(rows, columns=columns)
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
    columns[_TAGS] = cast(T.tags, Text)
    query = select(*columns).where(*_created_in(scope)).order_by(T.created_at, T.id)
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
        query.select_from(Invocation.__table__.join(Task.__table__, T.id == I.task_id))
        .where(I.started_at >= scope.start, I.started_at < scope.end)
        .where(*call_conditions(scope), *task_conditions(scope))
    )


def iter_invocations(session: Session, scope: Scope, chunk: int = EXPORT_CHUNK) -> Iterator[tuple[Any, ...]]:
    """Calls started in the range (of tasks matching the filters), oldest first, as INVOCATION_EXPORT_COLUMNS."""
    query = _calls_in(select(*invocation_export_select()), scope).order_by(I.started_at, I.id)
    return stream(session, query, chunk)


def iter_cost_lines(session: Session, scope: Scope, chunk: int = EXPORT_CHUNK) -> Iterator[tuple[Any, ...]]:
    """Spend per UTC day, model, provider, role and task kind in the range, as COST_LINE_COLUMNS (the day as
    'YYYY-MM-DD'), by day then most expensive first."""
    day = bucket(I.started_at, "day")
    cost = func.sum(I.cost_usd)
    query = (
        _calls_in(
            select(
                day,
                I.model,
                I.provider,
                I.role,
                T.kind,
                func.count(),
                func.sum(I.input_tokens),
                func.sum(I.output_tokens),
                func.sum(I.cache_read_tokens),
                cost,
            ),
            scope,
        )
        .group_by(day, I.model, I.provider, I.role, T.kind)
        .order_by(day, cost.desc(), I.model, I.provider, I.role, T.kind)
    )
    for row in stream(session, query, chunk):
        # The day as a date; a sum of float costs rounded to a millionth of a dollar, like the stored costs.
        yield (str(row[0])[:10], *row[1:9], round(float(row[9] or 0.0), 6))
