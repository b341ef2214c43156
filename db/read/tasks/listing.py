"""Data layer: pages of the task list — the grid's and the REST API's, through the generic pages over a view
(db/read/listing.py) with the task filter and its SQLite status plan — and the worker ids its filter offers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from db.core.models import Worker
from db.read import listing
from db.read.listing import Keyset
from db.read.task_view import TASKS, T
from db.read.tasks.filters import TaskFilter, apply_filter

# The grid's rows and sorts (and its CSV download's): derived from the declared view.
TABLE_COLUMNS = listing.row_select(TASKS)
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
    """The table's ORDER BY for the grid's sort model (db/read/listing.ordering over the tasks view)."""
    return listing.ordering(TASKS, sort)


def task_page(
    session: Session,
    f: TaskFilter,
    sort: Sequence[tuple[str, str]] = (),
    start: int = 0,
    end: int = 100,
) -> tuple[pd.DataFrame, int | None]:
    """Rows start..end of the filtered, sorted table, and the total when this page reaches the end."""
    return listing.offset_page(session, TASKS, apply_filter(select(*TABLE_COLUMNS), f), sort, start, end)


def worker_ids(session: Session, limit: int = 200) -> list[str]:
    return list(session.scalars(select(Worker.id).order_by(Worker.last_seen_at.desc()).limit(limit)))


def list_tasks(
    session: Session,
    flt: TaskFilter,
    sort: str = "created_at",
    descending: bool = True,
    after: Keyset | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Up to `limit` API rows after `after`, ordered by (sort, id) (db/read/listing.keyset_page)."""
    query = _filtered(session, select(*(f.selected() for f in TASKS.api_fields())), flt)
    return listing.keyset_page(session, TASKS, query, sort, descending, after, limit)


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
