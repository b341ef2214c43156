"""Data layer: pages of the task list — the grid's (offset pages, any sortable field, the CSV download's
order) and the REST API's (keyset pages over the view's cursor fields: a cursor of sort key + id stays stable
under inserts) — and the worker ids its filter offers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from db.core.frames import to_frame
from db.core.models import Worker
from db.read.task_view import TASKS, T
from db.read.tasks.filters import TaskFilter, apply_filter

# The grid's rows and sorts (and its CSV download's): derived from the declared view.
TABLE_COLUMNS = tuple(f.selected() for f in TASKS.row_fields)
TABLE_NAMES = [f.name for f in TASKS.row_fields]
SORTABLE = TASKS.sortable

# Sort keys a cursor can page through (the view's `cursor` fields): NOT NULL columns only (a NULL has no place
# in a keyset comparison that both databases agree on). id, created_at, last_updated_at and cost_usd are
# indexed; priority is, under a status filter (the claim index).
SORTS: dict[str, type] = TASKS.cursors
LIST_COLUMNS = TASKS.api_names()
# Below this many rows of the filtered statuses, SQLite reads them by the status index and sorts them; above,
# it walks the sort key's index and filters (status is then hidden from the planner, which would otherwise
# sort every failed task of a million to show fifty).
SMALL_STATUS_SET = 5_000


def ordering(sort: Sequence[tuple[str, str]]) -> list[ColumnElement[Any]]:
    """The table's ORDER BY for the grid's sort model ((column, "asc" | "desc"), ...), newest id last as the
    tie-break; shared by the page and its CSV download so both list the rows in one order."""
    order: list[ColumnElement[Any]] = []
    for column, direction in sort:
        if column not in SORTABLE:
            raise ValueError(f"cannot sort by {column!r}")
        expr = TASKS[column].expr
        order.append(expr.desc() if direction == "desc" else expr.asc())
    order.append(T.c.id.desc())
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
