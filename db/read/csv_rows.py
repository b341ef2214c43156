"""Data layer: the rows behind the dashboard's CSV downloads, one source per table. The big tables (tasks,
a task's invocations and activity) stream through a server-side cursor a chunk at a time and never build a
DataFrame; the aggregated ones (cost breakdown, top tasks and calls, fleet, roles) are the pages' own queries,
at most hundreds of rows. Times are ISO 8601 UTC with a Z."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.access import audit
from db.analytics import agents, budgets, costs, insights
from db.core.models import Activity, Invocation
from db.core.sqlfuncs import iso_utc
from db.core.timeutil import iso
from db.read import overview
from db.read.scope import Scope
from db.read.tasks.filters import TaskFilter, apply_filter
from db.read.tasks.listing import ordering
from db.reporting import queries as rq
from db.reporting import store as report_store

I = Invocation.__table__.c  # noqa: E741
A = Activity.__table__.c

Row = tuple[Any, ...]

# The same columns as the monthly report's tasks.csv and invocations.csv: one layout wherever a file comes from.
TASK_COLUMNS: tuple[str, ...] = rq.TASK_EXPORT_COLUMNS
INVOCATION_COLUMNS: tuple[str, ...] = rq.INVOCATION_EXPORT_COLUMNS
ACTIVITY_COLUMNS: tuple[str, ...] = ("id", "task_id", "at", "type", "stream", "invocation_id", "message")
# The pages' DataFrame columns renamed for a file: units in the names, no "key"/"input" shorthand.
TOP_TASK_COLUMNS: dict[str, str] = {
    "task_id": "task_id",
    "title": "title",
    "status": "status",
    "kind": "kind",
    "cost": "cost_usd",
    "calls": "calls",
}
TOP_CALL_COLUMNS: dict[str, str] = {
    "id": "id",
    "task_id": "task_id",
    "role": "role",
    "model": "model",
    "input": "input_tokens",
    "output": "output_tokens",
    "cost": "cost_usd",
}
BREAKDOWN_VALUES: dict[str, str] = {
    "cost": "cost_usd",
    "input": "input_tokens",
    "output": "output_tokens",
    "cache": "cache_read_tokens",
    "calls": "calls",
}
FLEET_COLUMNS: tuple[str, ...] = tuple(agents.FLEET_COLUMNS)
ROLE_COLUMNS: dict[str, str] = {c: "cost_usd" if c == "cost" else c for c in agents.ROLE_COLUMNS}
# Sums of float costs and ratios carry binary noise (0.30000000000000004): six decimals is a millionth of a
# dollar or a microsecond-ish duration, more than any page shows.
DECIMALS = 6


@dataclass(frozen=True)
class Table:
    """A header and its rows, ready for reports.render_csv.csv_chunks."""

    header: tuple[str, ...]
    rows: Iterator[Row]


def iter_tasks(
    session: Session,
    task_filter: TaskFilter,
    sort: Sequence[tuple[str, str]] = (),
    chunk: int = rq.EXPORT_CHUNK,
) -> Iterator[Row]:
    """Every task the table shows for `task_filter`, in the grid's order for `sort` (listing.ordering), as
    TASK_COLUMNS. Raises ValueError for a column that cannot be sorted."""
    order = ordering(sort)  # validated before the query starts, not on the first row
    query = apply_filter(select(*rq.task_export_select()), task_filter).order_by(*order)
    return rq.stream(session, query, chunk)


def iter_invocations(session: Session, task_id: int, chunk: int = rq.EXPORT_CHUNK) -> Iterator[Row]:
    """A task's calls, in the order they started, as INVOCATION_COLUMNS."""
    query = select(*rq.invocation_export_select()).where(I.task_id == task_id).order_by(I.started_at, I.id)
    return rq.stream(session, query, chunk)


def iter_activity(session: Session, task_id: int, chunk: int = rq.EXPORT_CHUNK) -> Iterator[Row]:
    """All of a task's activity lines (the page shows the newest few hundred), oldest first, as
    ACTIVITY_COLUMNS."""
    query = (
        select(A.id, A.task_id, iso_utc(A.at), A.type, A.stream, A.invocation_id, A.message)
        .where(A.task_id == task_id)
        .order_by(A.id)
    )
    return rq.stream(session, query, chunk)


def cost_breakdown(session: Session, scope: Scope, dim: str) -> Table:
    """The costs page's breakdown by `dim` (a key of costs.BREAKDOWNS), most expensive first; the first
    column is named after the dimension. Raises ValueError for an unknown dimension."""
    frame = costs.breakdown(session, scope, dim)
    frame = frame.rename(columns={"key": dim, **BREAKDOWN_VALUES})
    return _table(frame, (dim, *BREAKDOWN_VALUES.values()))


def top_tasks(session: Session, scope: Scope, limit: int = 10) -> Table:
    """The costs page's most expensive tasks."""
    frame = costs.top_tasks(session, scope, limit).rename(columns=TOP_TASK_COLUMNS)
    return _table(frame, tuple(TOP_TASK_COLUMNS.values()))


def top_calls(session: Session, scope: Scope, limit: int = 10) -> Table:
    """The costs page's most expensive calls."""
    frame = costs.top_invocations(session, scope, limit).rename(columns=TOP_CALL_COLUMNS)
    return _table(frame, tuple(TOP_CALL_COLUMNS.values()))


def fleet(session: Session, scope: Scope, now: datetime) -> Table:
    """The agents page's workers, every column of agents.fleet (times as of `now`)."""
    return _table(agents.fleet(session, scope, now), FLEET_COLUMNS)


def roles(session: Session, scope: Scope) -> Table:
    """The agents page's roles, every column of agents.roles."""
    frame = agents.roles(session, scope).rename(columns=ROLE_COLUMNS)
    return _table(frame, tuple(ROLE_COLUMNS.values()))


WORKER_COLUMNS: tuple[str, ...] = (
    "id", "name", "host", "pid", "status", "running_count", "concurrency", "current_task_id", "started_at",
    "last_seen_at", "completed_today", "failed_today", "cancelled_today", "tasks_completed", "tasks_failed",
)  # fmt: skip
BUDGET_COLUMNS: tuple[str, ...] = (
    "id", "name", "period", "scope_kind", "scope_value", "period_start", "period_end", "limit_usd", "spent_usd",
    "used_fraction", "projected_usd", "over", "projected_over",
)  # fmt: skip
TABLE_SIZE_COLUMNS: tuple[str, ...] = (
    "table",
    "rows",
    "rows_exact",
    "table_bytes",
    "index_bytes",
    "total_bytes",
)
RUN_COLUMNS: tuple[str, ...] = (
    "id", "trigger", "schedule", "period_kind", "period_start", "period_end", "kinds", "tags", "formats",
    "status", "progress", "error", "files", "size_bytes", "requested_by", "created_at", "started_at",
    "completed_at", "worker_id",
)  # fmt: skip
AUDIT_COLUMNS: tuple[str, ...] = ("id", "at", "actor", "action", "target", "details")
AUDIT_LIMIT = 1_000_000  # the whole log: one row per change people made, far smaller than the event log


def overview_workers(session: Session, now: datetime, hide_offline_after: timedelta) -> Table:
    """The overview's workers (without those offline for longer than `hide_offline_after`), today's outcomes
    and the all-time counters (tasks_failed there includes cancelled runs)."""
    return _table(overview.live_workers(session, now, hide_offline_after), WORKER_COLUMNS)


def budget_rows(session: Session, now: datetime) -> Table:
    """The budgets page: each budget in its current period, spend, the share used and the projection."""
    rows = (
        (
            b.id,
            b.name,
            b.period,
            b.scope_kind,
            b.scope_value,
            b.period_start,
            b.period_end,
            b.limit_usd,
            b.spent,
            b.used,
            b.projected,
            b.over,
            b.projected_over,
        )
        for b in budgets.statuses(session, now)
    )
    return Table(BUDGET_COLUMNS, (tuple(plain(v) for v in row) for row in rows))


def table_sizes(session: Session) -> Table:
    """The database page's table sizes, largest first."""
    return _table(insights.table_sizes(session), TABLE_SIZE_COLUMNS)


def report_runs(session: Session) -> Table:
    """The reports page's runs, newest first (its file names, ; separated; deleted files left out)."""
    rows = (
        (
            r.id,
            r.trigger,
            r.schedule_name,
            r.period_kind,
            r.period_start,
            r.period_end,
            ";".join(r.kinds),
            ";".join(r.tags),
            ";".join(r.formats),
            r.status,
            r.progress,
            r.error,
            ";".join(r.file_names),
            r.size,
            r.requested_by,
            r.created_at,
            r.started_at,
            r.completed_at,
            r.worker_id,
        )
        for r in report_store.list_runs(session, limit=AUDIT_LIMIT)
    )
    return Table(RUN_COLUMNS, (tuple(plain(v) for v in row) for row in rows))


def audit_rows(session: Session, *, action: str | None, actor: str | None, target: str | None) -> Table:
    """The audit log, newest first, with the Audit page's filters; details as JSON text."""
    entries = audit.entries(session, limit=AUDIT_LIMIT, action=action, actor=actor, target=target)
    rows = (
        (e.id, plain(e.at), e.actor, e.action, e.target, json.dumps(e.details, sort_keys=True, default=str))
        for e in entries
    )
    return Table(AUDIT_COLUMNS, rows)


def _table(frame: pd.DataFrame, header: tuple[str, ...]) -> Table:
    columns = [frame[name].tolist() for name in header]  # numpy scalars become Python ones
    rows = [tuple(plain(value) for value in values) for values in zip(*columns, strict=True)]
    return Table(header, iter(rows))


def plain(value: Any) -> Any:
    """A DataFrame cell as a CSV-ready Python value: missing (None, NaN, NaT) as None, timestamps as ISO 8601
    UTC text (a NaT would otherwise print as "NaT"), floats rounded to DECIMALS."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, DECIMALS)
    if isinstance(value, pd.Timestamp):
        return iso(value.to_pydatetime())
    if isinstance(value, datetime):
        return iso(value)
    return value
