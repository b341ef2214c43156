"""Reports layer: CSV cells safe to open in a spreadsheet. A text cell starting with =, +, -, @, a tab or a
carriage return is read as a formula by Excel, LibreOffice and Google Sheets (CSV injection), so it gets a
leading apostrophe; numbers stay numbers (-2.5 is a value, not a formula). Shared by the report exports and
the dashboard's CSV downloads."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import partial
from operator import is_not, itemgetter
from typing import Any

from db.core.timeutil import iso

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(text: str) -> str:
    """The text with a leading apostrophe when a spreadsheet would take it for a formula."""
    return "'" + text if text[:1] in _STARTS and text else text


_STARTS = frozenset(FORMULA_STARTS)


def _number(value: float | Decimal) -> float | str:
    number = float(value)
    return "" if math.isnan(number) else number


def _general(value: Any) -> str | int | float:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return value
    if isinstance(value, float | Decimal):
        return _number(value)
    if isinstance(value, datetime):
        return iso(value) or ""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return neutralise(";".join(str(v) for v in value))
    if isinstance(value, dict):
        return neutralise(json.dumps(value, ensure_ascii=False, sort_keys=True))
    return neutralise(str(value))


# The exact types a database row holds, looked up before the general checks: an export calls this per cell.
_BY_TYPE: dict[type, Callable[[Any], str | int | float]] = {
    str: neutralise,
    int: lambda v: v,
    float: _number,
    type(None): lambda _v: "",
    datetime: lambda v: iso(v) or "",
}


def cell(value: Any) -> str | int | float:
    """One value as a CSV cell: numbers as numbers, times as ISO 8601 UTC, lists joined with ';', None and NaN
    as empty, everything else as neutralised text."""
    convert = _BY_TYPE.get(type(value))
    return convert(value) if convert is not None else _general(value)


def row(values: Iterable[Any]) -> list[str | int | float]:
    """cell() of each value, with the common types (text, whole numbers, finite floats) inlined: an export of
    millions of rows spends most of its time here."""
    return [
        ("'" + v if v[:1] in _STARTS else v)
        if type(v) is str
        else v
        if type(v) is int or (type(v) is float and v == v)
        else cell(v)
        for v in values
    ]


_NONE = type(None)
_TEXT = frozenset((str, _NONE))
_WHOLE = frozenset((int, _NONE))
_NUMBER = frozenset((int, float, _NONE))
_FIRST = itemgetter(slice(0, 1))
_not_none = partial(is_not, None)


def column(values: Sequence[Any]) -> Sequence[Any]:
    """cell() of each value of one column of rows, for a csv.writer (which writes None as an empty cell). The
    usual columns are found unchanged by C-level passes over the whole column: text none of which starts like
    a formula, whole numbers, finite floats (and NULLs); anything else goes cell by cell."""
    types = set(map(type, values))
    if types <= _TEXT:
        if _STARTS.isdisjoint(map(_FIRST, filter(None, values))):
            return values
    elif types <= _WHOLE:
        return values
    elif types <= _NUMBER:
        total = sum(filter(_not_none, values))
        if total == total:  # no NaN among them (an infinity may also land here: it goes cell by cell)
            return values
    return [cell(v) for v in values]
