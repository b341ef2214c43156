"""Data layer: the REST API's reads of tasks — keyset pages of the task list (filters, whitelisted sorts, a
cursor of sort key + id that stays stable under inserts), one task with its database figures, its timeline,
its activity, and one invocation with its lines."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, Table, and_, func, or_, select
from sqlalchemy.orm import Session

from db.core.models import Activity, Invocation, Task, TaskEvent
from db.domain.states import TaskStatus
from db.live.feed import FeedEvent, events_between
from db.read.call_view import CALLS
from db.read.task_view import TASKS
from db.read.tasklist import TaskFilter, apply_filter
from db.write.messages import unpack

T = cast(Table, Task.__table__)
A = cast(Table, Activity.__table__)
I = cast(Table, Invocation.__table__)  # noqa: E741
E = cast(Table, TaskEvent.__table__)

# Sort keys a cursor can page through (the view's `cursor` fields): NOT NULL columns only (a NULL has no place
# in a keyset comparison that both databases agree on). id, created_at, last_updated_at and cost_usd are
# indexed; priority is, under a status filter (the claim index).
SORTS: dict[str, type] = TASKS.cursors
LIST_COLUMNS = TASKS.api_names()
DETAIL_COLUMNS = TASKS.api_names(detail=True)
# Below this many rows of the filtered statuses, SQLite reads them by the status index and sorts them; above,
# it walks the sort key's index and filters (status is then hidden from the planner, which would otherwise
# sort every failed task of a million to show fifty).
SMALL_STATUS_SET = 5_000


@dataclass(frozen=True)
class Keyset:
    """Where a page starts: after the row with this sort value and id, in the listing's order."""

    value: Any
    id: int


def list_tasks(
    session: Session,
    flt: TaskFilter,
    sort: str = "created_at",
    descending: bool = True,
    after: Keyset | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Up to `limit` rows after `after`, ordered by (sort, id) in one direction: a row inserted while a client
    pages lands before or after its cursor, never shifting rows already served."""
    if sort not in SORTS:
        raise ValueError(f"cannot sort by {sort!r}")
    key, ident = TASKS[sort].expr, T.c.id
    query = select(*(f.selected() for f in TASKS.api_fields()))
    query = _filtered(session, query, flt)
    if after is not None:
        query = query.where(_beyond(key, ident, after, descending))
    order = [key.desc(), ident.desc()] if descending else [key.asc(), ident.asc()]
    if sort == "id":
        order = order[1:]
    rows = session.execute(query.order_by(*order).limit(limit)).mappings().all()
    return [dict(r) for r in rows]


def _beyond(key: ColumnElement[Any], ident: ColumnElement[int], at: Keyset, descending: bool) -> Any:
    # `key <= v AND (key < v OR id < i)`: the first term is an index range both databases use; a row-value
    # comparison `(key, id) < (v, i)` is not used as one by every SQLite.
    if key is ident:
        return ident < at.id if descending else ident > at.id
    if descending:
        return and_(key <= at.value, or_(key < at.value, ident < at.id))
    return and_(key >= at.value, or_(key > at.value, ident > at.id))


def _filtered(session: Session, query: Select[Any], flt: TaskFilter) -> Select[Any]:
    statuses = flt.statuses
    if statuses and session.get_bind().dialect.name == "sqlite" and _many(session, statuses):
        # `status || ''` is the same condition that no index answers.
        query = query.where(T.c.status.concat("").in_(statuses))
        flt = replace(flt, statuses=())
    return apply_filter(query, flt)


def _many(session: Session, statuses: Sequence[str]) -> bool:
    probe = select(T.c.id).where(T.c.status.in_(statuses)).limit(SMALL_STATUS_SET).subquery()
    return int(session.scalar(select(func.count()).select_from(probe)) or 0) >= SMALL_STATUS_SET


def get_task(session: Session, task_id: int) -> dict[str, Any] | None:
    """Every field of the task and its database figures: events in the log, and updates per minute of its life."""
    row = (
        session.execute(
            select(*(f.selected() for f in TASKS.api_fields(detail=True))).where(T.c.id == task_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    task = dict(row)
    task["event_count"] = int(session.scalar(select(func.count()).where(E.c.task_id == task_id)) or 0)
    life = (task["last_updated_at"] - task["created_at"]).total_seconds()
    task["updates_per_minute"] = task["update_count"] / (life / 60.0) if life > 0 else None
    return task


def task_id_of_key(session: Session, external_id: str) -> int | None:
    found = session.scalar(select(T.c.id).where(T.c.external_id == external_id))
    return None if found is None else int(found)


def existing_keys(session: Session, external_ids: list[str]) -> list[str]:
    """Which of these external ids tasks already carry (the unique index answers each)."""
    found: list[str] = []
    for start in range(0, len(external_ids), 500):  # bounded IN lists
        chunk = external_ids[start : start + 500]
        found += session.scalars(select(T.c.external_id).where(T.c.external_id.in_(chunk))).all()
    place = {key: i for i, key in enumerate(external_ids)}
    return sorted(found, key=place.__getitem__)


def task_exists(session: Session, task_id: int) -> bool:
    return session.scalar(select(T.c.id).where(T.c.id == task_id)) is not None


def task_status(session: Session, task_id: int) -> TaskStatus | None:
    status = session.scalar(select(T.c.status).where(T.c.id == task_id))
    return None if status is None else TaskStatus(status)


def timeline(session: Session, task_id: int, after: int = 0, limit: int = 1000) -> list[FeedEvent]:
    """The task's events in seq order after `after` (its transitions, calls, activity, usage, progress)."""
    return events_between(session, after, None, limit=limit, task_id=task_id)


ACTIVITY_COLUMNS = ("id", "task_id", "invocation_id", "type", "stream", "message", "at")


def activity(session: Session, task_id: int, after: int = 0, limit: int = 500) -> list[dict[str, Any]]:
    rows = session.execute(
        select(*(A.c[c] for c in ACTIVITY_COLUMNS))
        .where(A.c.task_id == task_id, A.c.id > after)
        .order_by(A.c.id)
        .limit(limit)
    ).mappings()
    return [dict(r) for r in rows]


def invocation(session: Session, invocation_id: str, lines: int = 1000) -> dict[str, Any] | None:
    """The call and its first `lines` activity lines (`activity_truncated` says whether there were more)."""
    fields = (f.selected() for f in CALLS.api_fields())
    row = session.execute(select(*fields).where(I.c.id == invocation_id)).mappings().first()
    if row is None:
        return None
    out = dict(row)
    out["messages"] = unpack(out["messages"])
    found = session.execute(
        select(*(A.c[c] for c in ACTIVITY_COLUMNS))
        .where(A.c.task_id == out["task_id"], A.c.invocation_id == invocation_id)
        .order_by(A.c.id)
        .limit(lines + 1)
    ).mappings()
    items = [dict(r) for r in found]
    out["activity"] = items[:lines]
    out["activity_truncated"] = len(items) > lines
    return out
