"""Data layer: pages of any entity's list over its declared view (db/read/views.py) — the grid's (offset pages,
any sortable field, also the CSV download's order) and the REST API's (keyset pages over the view's cursor
fields: a cursor of sort key + id stays stable under inserts), and the opaque cursors that carry a keyset."""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.orm import Session

from db.core.frames import to_frame
from db.core.timeutil import to_naive_utc
from db.read.views import View

MAX_BLOCK = 1000  # rows of one grid page at most
MAX_ID_TEXT = 200  # a text id (a call's) longer than any stored one is no cursor of ours


@dataclass(frozen=True)
class Keyset:
    """Where a page starts: after the row with this sort value and id, in the listing's order."""

    value: Any
    id: Any


class CursorError(ValueError):
    """A cursor that is not one this list returned for this sort; `parameter` is always "cursor"."""

    parameter = "cursor"


# ---- the grid's pages (and the CSV download's order) --------------------------------------------------
def ordering(view: View, sort: Sequence[tuple[str, str]]) -> list[ColumnElement[Any]]:
    """The ORDER BY for a grid's sort model ((field, "asc" | "desc"), ...), the view's default sort when it
    has none, then the id as the tie-break in the first field's direction — so a one-field sort lists rows as
    the API's keyset pages do (keyset_page); the page and its CSV download share it. Raises ValueError for a
    field the view does not sort by."""
    sort = list(sort) or [view.default_sort]
    order: list[ColumnElement[Any]] = []
    for column, direction in sort:
        if column not in view.sortable:
            raise ValueError(f"cannot sort by {column!r}")
        expr = view[column].expr
        order.append(expr.desc() if direction == "desc" else expr.asc())
    if sort[0][0] != "id":
        ident = view["id"].expr
        order.append(ident.desc() if sort[0][1] == "desc" else ident.asc())
    return order


def offset_page(
    session: Session,
    view: View,
    query: Select[Any],
    sort: Sequence[tuple[str, str]] = (),
    start: int = 0,
    end: int = 100,
) -> tuple[pd.DataFrame, int | None]:
    """Rows start..end of `query` (a filtered SELECT of view.row_fields), sorted. The total is returned only
    when this page reaches the end (else None): counting a million filtered rows on every scroll would cost
    more than the page."""
    limit = max(0, min(end - start, MAX_BLOCK))
    rows = session.execute(query.order_by(*ordering(view, sort)).offset(max(0, start)).limit(limit)).all()
    frame = to_frame(rows, [f.name for f in view.row_fields])
    total = start + len(frame) if len(frame) < limit else None
    return frame, total


def row_select(view: View) -> tuple[ColumnElement[Any], ...]:
    """What a grid's rows carry: its columns and every field it can sort by."""
    return tuple(f.selected() for f in view.row_fields)


# ---- the API's keyset pages ---------------------------------------------------------------------------
def keyset_page(
    session: Session,
    view: View,
    query: Select[Any],
    sort: str,
    descending: bool = True,
    after: Keyset | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Up to `limit` rows of `query` (a filtered SELECT) after `after`, ordered by (sort, id) in one
    direction: a row inserted while a client pages lands before or after its cursor, never shifting rows
    already served. Raises ValueError for a field that is no cursor of the view."""
    if sort not in view.cursors:
        raise ValueError(f"cannot sort by {sort!r}")
    key, ident = view[sort].expr, view["id"].expr
    if after is not None:
        query = query.where(_beyond(key, ident, after, descending))
    order = [key.desc(), ident.desc()] if descending else [key.asc(), ident.asc()]
    if sort == "id":
        order = order[1:]
    rows = session.execute(query.order_by(*order).limit(limit)).mappings().all()
    return [dict(r) for r in rows]


def _beyond(key: ColumnElement[Any], ident: ColumnElement[Any], at: Keyset, descending: bool) -> Any:
    # `key <= v AND (key < v OR id < i)`: the first term is an index range both databases use; a row-value
    # comparison `(key, id) < (v, i)` is not used as one by every SQLite.
    if key is ident:
        return ident < at.id if descending else ident > at.id
    if descending:
        return and_(key <= at.value, or_(key < at.value, ident < at.id))
    return and_(key >= at.value, or_(key > at.value, ident > at.id))


# ---- cursors ------------------------------------------------------------------------------------------
def encode_cursor(view: View, sort: str, descending: bool, row: dict[str, Any]) -> str:
    """The cursor after `row` (an API row of `view`): base64url JSON of the list, sort, value and id."""
    value = row[sort]
    if isinstance(value, datetime):
        value = value.isoformat()
    data = {"e": view.entity, "s": sort, "d": "desc" if descending else "asc", "v": value, "i": row["id"]}
    raw = json.dumps(data, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(view: View, cursor: str, sort: str, descending: bool) -> Keyset:
    """The keyset a cursor points after. Raises CursorError when it is not one of ours, was made for another
    list (the entity is in it) or for another sort."""
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise CursorError("not a cursor this API returned") from None
    if not isinstance(data, dict) or set(data) != {"e", "s", "d", "v", "i"}:
        raise CursorError("not a cursor this API returned")
    if data["e"] != view.entity:
        raise CursorError(f"this cursor belongs to another list ({data['e']!s:.40}), not {view.entity}")
    if data["s"] != sort or data["d"] != ("desc" if descending else "asc"):
        raise CursorError("this cursor belongs to another sort order; keep `sort` as it was")
    row_id = _value(view.cursors["id"], data["i"])
    if isinstance(row_id, int) and row_id < 0:
        raise CursorError("not a cursor this API returned")
    return Keyset(_value(view.cursors[sort], data["v"]), row_id)


def _value(kind: type, value: Any) -> Any:
    try:
        if kind is datetime and isinstance(value, str):
            return to_naive_utc(datetime.fromisoformat(value))
        if kind is int and isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63:
            return value
        if kind is str and isinstance(value, str) and len(value) <= MAX_ID_TEXT:
            return value
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if kind is float and is_number and math.isfinite(value):
            return float(value)
    except ValueError:
        pass
    raise CursorError("not a cursor this API returned")
