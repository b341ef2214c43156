"""Data layer: the one filter of the task list — the grid, its CSV download and GET /api/v1/tasks each read
their parameters into a TaskFilter (the time range from db/read/timerange's vocabulary: range, or from/to), and
apply_filter turns it into SQL — and what people paste to name a task (`#123`, `123`, its address)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, exists, false, or_, select
from sqlalchemy.orm import Session

from db.core.models import TaskTag
from db.core.sqlfuncs import contains, messages_match
from db.domain.states import TaskKind, TaskStatus
from db.read import search
from db.read.task_view import T

# The parameter names the CSV download and the API share.
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
        query = query.where(T.c.status.in_(f.statuses))
    if f.kinds:
        query = query.where(T.c.kind.in_(f.kinds))
    if f.worker:
        query = query.where(T.c.worker_id == f.worker)
    if f.tag:
        query = query.where(exists().where(TaskTag.task_id == T.c.id, TaskTag.tag == f.tag))
    if f.text and f.text.strip():
        text = f.text.strip()
        clauses: list[ColumnElement[bool]] = [
            contains(T.c.title, text),
            contains(T.c.created_by, text),
            T.c.external_id == text,
        ]
        task_id = task_reference(text)
        if task_id is not None:
            clauses.append(T.c.id == task_id)
        query = query.where(or_(*clauses))
    if f.messages and f.messages.strip():
        terms = search.words(f.messages)
        # Asked for, yet no word to look for ("***"): nothing matches, rather than silently everything.
        query = query.where(messages_match(T.c.id, terms) if terms else false())
    if f.created_by:
        query = query.where(T.c.created_by == f.created_by)
    if f.created_from:
        query = query.where(T.c.created_at >= f.created_from)
    if f.created_to:
        query = query.where(T.c.created_at < f.created_to)
    return query


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
        return session.scalar(select(T.c.id).where(T.c.id == task_id))
    if not text.strip():
        return None
    return session.scalar(select(T.c.id).where(T.c.external_id == text.strip()))
