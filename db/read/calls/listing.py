"""Data layer: pages of the calls list — the /calls grid's (offset pages, any sortable field, the CSV
download's order), the REST API's (keyset pages over the view's cursor fields) and the CSV download's rows —
through the generic pages over a view (db/read/listing.py) and the one CallFilter."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.read import listing
from db.read.call_view import CALLS
from db.read.calls.filters import CallFilter, apply_filter
from db.read.listing import Keyset
from db.reporting import queries as rq

TABLE_COLUMNS = listing.row_select(CALLS)


def call_page(
    session: Session,
    f: CallFilter,
    sort: Sequence[tuple[str, str]] = (),
    start: int = 0,
    end: int = 100,
) -> tuple[pd.DataFrame, int | None]:
    """Rows start..end of the filtered, sorted calls grid, and the total when this page reaches the end."""
    return listing.offset_page(session, CALLS, apply_filter(select(*TABLE_COLUMNS), f), sort, start, end)


def list_calls(
    session: Session,
    f: CallFilter,
    sort: str = "started_at",
    descending: bool = True,
    after: Keyset | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Up to `limit` API rows after `after`, ordered by (sort, id) (db/read/listing.keyset_page)."""
    query = apply_filter(select(*(fd.selected() for fd in CALLS.api_fields())), f)
    return listing.keyset_page(session, CALLS, query, sort, descending, after, limit)


def iter_calls(
    session: Session, f: CallFilter, sort: Sequence[tuple[str, str]] = (), chunk: int = rq.EXPORT_CHUNK
) -> Iterator[tuple[Any, ...]]:
    """Every call the grid shows for `f`, in its order for `sort`, as the view's CSV columns (those of the
    report's invocations.csv). Raises ValueError for a field that cannot be sorted."""
    order = listing.ordering(CALLS, sort)  # validated before the query starts, not on the first row
    return rq.stream(session, apply_filter(select(*CALLS.csv_select()), f).order_by(*order), chunk)
