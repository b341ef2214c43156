"""Data layer: read queries of the task board and the task table (filters, sorting, server-side paging)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, Select, exists, false, func, or_, select
from sqlalchemy.orm import Session

from db.core.frames import to_frame
from db.core.models import Task, TaskTag, Worker
from db.core.sqlfuncs import messages_match
from db.domain.states import TaskKind, TaskStatus
from db.read import overview, search
from db.read.task_view import TASKS

T = Task.__table__.c

# The board's lanes; the failed lane also shows timed-out and cancelled tasks (colour tells them apart).
LANES: dict[str, tuple[TaskStatus, ...]] = {
    "queued": (TaskStatus.QUEUED,),
    "running": (TaskStatus.RUNNING,),
    "completed": (TaskStatus.COMPLETED,),
    "failed": (TaskStatus.FAILED, TaskStatus.TIMED_OUT, TaskStatus.CANCELLED),
}

CARD_COLUMNS = (
    T.id,
    T.title,
    T.kind,
    T.status,
    T.priority,
    T.attempt,
    T.max_attempts,
    T.progress,
    T.current_iteration,
    T.max_iterations,
    T.worker_id,
    T.created_at,
    T.started_at,
    T.completed_at,
    T.last_activity_at,
    T.cost_usd,
    T.error_message,
    T.cancel_requested,
)
CARD_NAMES = [c.name for c in CARD_COLUMNS]

# The table's rows and sorts (the grid's, and its CSV download's): derived from the declared view.
TABLE_COLUMNS = tuple(f.selected() for f in TASKS.row_fields)
TABLE_NAMES = [f.name for f in TASKS.row_fields]
SORTABLE = TASKS.sortable


def board(session: Session, per_lane: int = 25) -> dict[str, pd.DataFrame]:
    """Each lane's cards: queued by claim order, running by start, finished ones newest first."""
    lanes: dict[str, pd.DataFrame] = {}
    for lane, statuses in LANES.items():
        if lane in ("queued", "running"):
            q = select(*CARD_COLUMNS).where(T.status.in_([s.value for s in statuses]))
            q = q.order_by(T.priority.desc(), T.id) if lane == "queued" else q.order_by(T.started_at)
            lanes[lane] = to_frame(session.execute(q.limit(per_lane)).all(), CARD_NAMES)
            continue
        # One status at a time, each the top of its (status, completed_at) index: with IN over several
        # statuses SQLite sorts every failed, timed-out and cancelled task instead (270 ms at 1M tasks).
        rows: list[Any] = []
        for status in statuses:
            q = select(*CARD_COLUMNS).where(T.status == status.value).order_by(T.completed_at.desc())
            rows += session.execute(q.limit(per_lane)).all()
        rows.sort(key=lambda r: r.completed_at or datetime.min, reverse=True)
        lanes[lane] = to_frame(rows[:per_lane], CARD_NAMES)
    return lanes


def lane_counts(session: Session, now: datetime) -> dict[str, int]:
    """How many tasks each status holds: all queued and running ones, and of the finished statuses those that
    ended today (UTC), read from the rollups as the overview's cards are (buckets, however busy the day)."""
    active: dict[str, int] = dict(
        session.execute(
            select(T.status, func.count())
            .where(T.status.in_([TaskStatus.QUEUED.value, TaskStatus.RUNNING.value]))
            .group_by(T.status)
        ).all()
    )
    ended = overview.ended_today(session, now).set_index("status")["tasks"]
    counts = {s.value: int(active.get(s.value, 0)) for s in (TaskStatus.QUEUED, TaskStatus.RUNNING)}
    counts.update({s.value: int(ended.get(s.value, 0)) for s in (*LANES["completed"], *LANES["failed"])})
    return counts


# The one filter object of the task list: the grid, its CSV download and GET /api/v1/tasks each read their
# parameters into it (the time range from db/read/timerange's vocabulary: range, or from/to), and apply_filter turns
# it into SQL. FILTER_PARAMS are the parameter names the download and the API share.
FILTER_PARAMS = ("status", "kind", "worker", "tag", "text", "messages", "created_by", "range", "from", "to")


@dataclass(frozen=True)
class TaskFilter:
    statuses: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()
    worker: str | None = None
    tag: str | None = None
    text: str | None = None
    # Words that must all appear in the user or assistant messages of one of the task's calls (db/read/search.py).
    messages: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    created_by: str | None = None

    def __post_init__(self) -> None:
        bad = set(self.statuses) - {s.value for s in TaskStatus}
        if bad:
            raise ValueError(f"unknown status {sorted(bad)[0]!r}")
        bad = set(self.kinds) - {k.value for k in TaskKind}
        if bad:
            raise ValueError(f"unknown kind {sorted(bad)[0]!r}")


def apply_filter(query: Select[Any], f: TaskFilter) -> Select[Any]:
    if f.statuses:
        query = query.where(T.status.in_(f.statuses))
    if f.kinds:
        query = query.where(T.kind.in_(f.kinds))
    if f.worker:
        query = query.where(T.worker_id == f.worker)
    if f.tag:
        query = query.where(exists().where(TaskTag.task_id == T.id, TaskTag.tag == f.tag))
    if f.text and f.text.strip():
        text = f.text.strip()
        needle = f"%{_escape_like(text)}%"
        clauses: list[ColumnElement[bool]] = [
            T.title.ilike(needle, escape="\\"),
            T.created_by.ilike(needle, escape="\\"),
            T.external_id == text,
        ]
        task_id = task_reference(text)
        if task_id is not None:
            clauses.append(T.id == task_id)
        query = query.where(or_(*clauses))
    if f.messages and f.messages.strip():
        terms = search.words(f.messages)
        # Asked for, yet no word to look for ("***"): nothing matches, rather than silently everything.
        query = query.where(messages_match(T.id, terms) if terms else false())
    if f.created_by:
        query = query.where(T.created_by == f.created_by)
    if f.created_from:
        query = query.where(T.created_at >= f.created_from)
    if f.created_to:
        query = query.where(T.created_at < f.created_to)
    return query


def ordering(sort: Sequence[tuple[str, str]]) -> list[ColumnElement[Any]]:
    """The table's ORDER BY for the grid's sort model ((column, "asc" | "desc"), ...), newest id last as the
    tie-break; shared by the page and its CSV download so both list the rows in one order."""
    order: list[ColumnElement[Any]] = []
    for column, direction in sort:
        if column not in SORTABLE:
            raise ValueError(f"cannot sort by {column!r}")
        expr = TASKS[column].expr
        order.append(expr.desc() if direction == "desc" else expr.asc())
    order.append(T.id.desc())
    return order


def task_page(
    session: Session,
    f: TaskFilter,
    sort: Sequence[tuple[str, str]] = (),
    start: int = 0,
    end: int = 100,
) -> tuple[pd.DataFrame, int | None]:
    """Rows start..end of the filtered, sorted table. The total is returned only when this page reaches the
    end (else None): counting a million filtered rows on every scroll would cost more than the page."""
    query = apply_filter(select(*TABLE_COLUMNS), f)
    limit = max(0, min(end - start, 1000))
    rows = session.execute(query.order_by(*ordering(sort)).offset(max(0, start)).limit(limit)).all()
    frame = to_frame(rows, TABLE_NAMES)
    total = start + len(frame) if len(frame) < limit else None
    return frame, total


def worker_ids(session: Session, limit: int = 200) -> list[str]:
    return list(session.scalars(select(Worker.id).order_by(Worker.last_seen_at.desc()).limit(limit)))


# `123`, `#123`, or a pasted task address (`http://host:8050/tasks/123?x`, `/tasks/123`).
TASK_REFERENCE = re.compile(
    r"^#?\s*(\d{1,19})$|^(?:[a-z][a-z0-9+.-]*://[^/\s]*)?/tasks/(\d{1,19})/?(?:[?#].*)?$", re.I
)
MAX_TASK_ID = 2**63 - 1


def task_reference(text: str) -> int | None:
    """The task id that `text` names — `123`, `#123` or a task's address — else None."""
    match = TASK_REFERENCE.match(text.strip())
    if match is None:
        return None
    task_id = int(match.group(1) or match.group(2))
    return task_id if 0 < task_id <= MAX_TASK_ID else None


def find_task_id(session: Session, text: str) -> int | None:
    """The one task `text` points at: by id, by address or by its external id; None when it names none."""
    task_id = task_reference(text)
    if task_id is not None:
        return session.scalar(select(T.id).where(T.id == task_id))
    if not text.strip():
        return None
    return session.scalar(select(T.id).where(T.external_id == text.strip()))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
