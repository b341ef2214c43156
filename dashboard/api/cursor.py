"""API layer: opaque page cursors (db/read/listing's encode/decode over a declared view) — a client pages with
`?cursor=` and never sees a row twice or skips one when rows are inserted meanwhile; a cursor that is not one
of this list's, for this sort, is a 400 naming `cursor`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy.orm import Session

from dashboard.api.context import ctx
from dashboard.api.errors import bad_parameter
from db.read.listing import CursorError, Keyset, decode_cursor, encode_cursor
from db.read.views import View


def after(view: View, cursor: str | None, sort: str, descending: bool) -> Keyset | None:
    """The keyset `cursor` points after (None without one)."""
    if not cursor:
        return None
    try:
        return decode_cursor(view, cursor, sort, descending)
    except CursorError as exc:
        raise bad_parameter(exc.parameter, str(exc)) from None


def next_page(
    view: View, rows: list[dict[str, Any]], limit: int, sort: str, descending: bool
) -> dict[str, Any]:
    """A page's body from up to limit + 1 rows read: the first `limit`, and the cursor after them when more
    follow."""
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = encode_cursor(view, sort, descending, rows[-1]) if more else None
    return {"items": rows, "next_cursor": cursor, "limit": limit}


class ListQuery(Protocol):
    """A list's paging parameters: `sort` (a cursor field, descending with a leading -), `cursor`, `limit`."""

    @property
    def sort(self) -> str: ...

    @property
    def cursor(self) -> str | None: ...

    @property
    def limit(self) -> int: ...


Read = Callable[[Session, str, bool, Keyset | None, int], list[dict[str, Any]]]


def page(view: View, q: ListQuery, read: Read) -> dict[str, Any]:
    """One page of a list: the cursor checked against the view and sort (400 naming `cursor`), then
    `read(session, sort, descending, after, limit + 1)` in a read transaction, then the page's body."""
    descending = q.sort.startswith("-")
    sort = q.sort.lstrip("-")
    start = after(view, q.cursor, sort, descending)
    with ctx().svc.db.reading() as session:
        rows = read(session, sort, descending, start, q.limit + 1)
    return next_page(view, rows, q.limit, sort, descending)
