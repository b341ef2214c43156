"""API layer: opaque page cursors — the sort key and id of the last row served, base64url JSON — so a client
pages with `?cursor=` and never sees a row twice or skips one when tasks are inserted meanwhile."""

from __future__ import annotations

import base64
import binascii
import json
import math
from datetime import datetime
from typing import Any

from dashboard.api.errors import bad_parameter
from db.core.timeutil import to_naive_utc
from db.read.tasks.listing import SORTS, Keyset


def encode(sort: str, descending: bool, value: Any, row_id: int) -> str:
    if isinstance(value, datetime):
        value = value.isoformat()
    raw = json.dumps(
        {"s": sort, "d": "desc" if descending else "asc", "v": value, "i": row_id}, separators=(",", ":")
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str, sort: str, descending: bool) -> Keyset:
    """The keyset a cursor points after; 400 when it is not one of ours or was made for another sort."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        data = json.loads(raw)
    except (binascii.Error, ValueError):
        raise bad_parameter("cursor", "not a cursor this API returned") from None
    if not isinstance(data, dict) or set(data) != {"s", "d", "v", "i"}:
        raise bad_parameter("cursor", "not a cursor this API returned")
    if data["s"] != sort or data["d"] != ("desc" if descending else "asc"):
        raise bad_parameter("cursor", "this cursor belongs to another sort order; keep `sort` as it was")
    row_id = data["i"]
    if isinstance(row_id, bool) or not isinstance(row_id, int) or not 0 <= row_id < 2**63:
        raise bad_parameter("cursor", "not a cursor this API returned")
    return Keyset(_value(SORTS[sort], data["v"]), row_id)


def _value(kind: type, value: Any) -> Any:
    try:
        if kind is datetime and isinstance(value, str):
            return to_naive_utc(datetime.fromisoformat(value))
        if kind is int and isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**63:
            return value
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if kind is float and is_number and math.isfinite(value):
            return float(value)
    except ValueError:
        pass
    raise bad_parameter("cursor", "not a cursor this API returned")
