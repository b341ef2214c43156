"""Data layer: the SQL expressions that SQLite and PostgreSQL spell differently (epoch seconds, time buckets,
weekday and hour of day, the first word of a text, a full-text match over calls' messages), as SQLAlchemy
constructs compiled per dialect, so query modules stay dialect-free. On SQLite a time column holds integer
microseconds since 1970 (db/core/timecol.py), so its functions are integer arithmetic."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Boolean, Float, Integer, String, and_, case, func, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement

from db.core.timecol import MICROS, UNIT_MICROS, UtcDateTime


def fts5_match(terms: Sequence[str]) -> str:
    """An FTS5 MATCH string holding every term: each one quoted, so no FTS5 operator (AND, NEAR, *, column
    filters) ever comes from user input; shared by search (db/read/search.py) and the task list's filter."""
    return " AND ".join('"' + t.replace('"', "") + '"' for t in terms)


DAY = UNIT_MICROS["day"]
PG_BUCKETS = {
    "minute": "YYYY-MM-DD HH24:MI:00",
    "hour": "YYYY-MM-DD HH24:00:00",
    "day": "YYYY-MM-DD 00:00:00",
}


class epoch(FunctionElement[float]):
    """Seconds since 1970 of a naive-UTC timestamp column."""

    type = Float()
    inherit_cache = True


@compiles(epoch, "sqlite")
def _epoch_sqlite(element: epoch, compiler: Any, **kw: Any) -> str:
    (arg,) = element.clauses
    return f"(({compiler.process(arg, **kw)}) / {MICROS}.0)"


@compiles(epoch, "postgresql")
def _epoch_pg(element: epoch, compiler: Any, **kw: Any) -> str:
    (arg,) = element.clauses
    return f"EXTRACT(EPOCH FROM {compiler.process(arg, **kw)})"


class iso_utc(FunctionElement[str]):
    """A naive-UTC timestamp as ISO 8601 text with milliseconds and a Z, formatted by the database: an export of
    millions of rows then never builds a Python datetime only to format it again."""

    type = String()
    inherit_cache = True


@compiles(iso_utc, "sqlite")
def _iso_sqlite(element: iso_utc, compiler: Any, **kw: Any) -> str:
    (arg,) = element.clauses
    # A time column holds integer microseconds (db/core/timecol.py). Whole milliseconds as a double go through
    # SQLite's 'unixepoch' exactly (it rounds to the millisecond, and there is nothing left to round), so %f
    # shows them truncated, as PostgreSQL's MS does. No text is parsed; a NULL stays NULL.
    col = compiler.process(arg, **kw)
    return f"strftime('%Y-%m-%dT%H:%M:%fZ', ({col}) / 1000 / 1000.0, 'unixepoch')"


@compiles(iso_utc, "postgresql")
def _iso_pg(element: iso_utc, compiler: Any, **kw: Any) -> str:
    (arg,) = element.clauses
    return f"""to_char({compiler.process(arg, **kw)}, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')"""


class seconds_between(FunctionElement[float]):
    """end - start in seconds, exact to the microsecond on both (on SQLite a difference of two integers, so
    a run of exactly 60 s lands on the 60 s bin edge, not below it)."""

    type = Float()
    inherit_cache = True

    def __init__(self, start: ColumnElement[Any], end: ColumnElement[Any]) -> None:
        super().__init__(start, end)


@compiles(seconds_between, "sqlite")
def _seconds_between_sqlite(element: seconds_between, compiler: Any, **kw: Any) -> str:
    start, end = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"((({end}) - ({start})) / {MICROS}.0)"


@compiles(seconds_between, "postgresql")
def _seconds_between_pg(element: seconds_between, compiler: Any, **kw: Any) -> str:
    start, end = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"EXTRACT(EPOCH FROM ({end} - {start}))"


class _Bucket(FunctionElement[str]):
    """The start of the minute/hour/day a timestamp falls in, as 'YYYY-MM-DD HH:MM:SS' text. One subclass
    per unit, so the unit is part of SQLAlchemy's compiled-statement cache key."""

    type = String()
    inherit_cache = True
    unit = "hour"


class _Minute(_Bucket):
    inherit_cache = True
    unit = "minute"


class _Hour(_Bucket):
    inherit_cache = True
    unit = "hour"


class _Day(_Bucket):
    inherit_cache = True
    unit = "day"


class _Week(_Bucket):
    inherit_cache = True
    unit = "week"


class _Month(_Bucket):
    inherit_cache = True
    unit = "month"


_UNITS: dict[str, type[_Bucket]] = {
    "minute": _Minute,
    "hour": _Hour,
    "day": _Day,
    "week": _Week,
    "month": _Month,
}


def bucket(column: ColumnElement[Any], unit: str) -> _Bucket:
    if unit not in _UNITS:
        raise ValueError(f"unit must be one of {', '.join(_UNITS)}")
    return _UNITS[unit](column)


@compiles(_Bucket, "sqlite")
def _bucket_sqlite(element: _Bucket, compiler: Any, **kw: Any) -> str:
    (arg,) = element.clauses
    col = f"({compiler.process(arg, **kw)})"
    if element.unit == "month":
        return f"strftime('%Y-%m-01 00:00:00', {col} / {MICROS}, 'unixepoch')"
    if element.unit == "week":  # 1970-01-01 was a Thursday (3 days after a Monday)
        days = f"({col} / {DAY})"
        return f"datetime(({days} - ({days} + 3) % 7) * 86400, 'unixepoch')"
    # The bucket's start by integer division, then one format: no date text is parsed per row.
    width = UNIT_MICROS[element.unit]
    return f"datetime({col} / {width} * {width // MICROS}, 'unixepoch')"


@compiles(_Bucket, "postgresql")
def _bucket_pg(element: _Bucket, compiler: Any, **kw: Any) -> str:
    (arg,) = element.clauses
    col = compiler.process(arg, **kw)
    if element.unit in ("week", "month"):  # date_trunc: weeks start on Monday, as in ISO 8601
        return f"to_char(date_trunc('{element.unit}', {col}), 'YYYY-MM-DD HH24:MI:SS')"
    return f"to_char({col}, '{PG_BUCKETS[element.unit]}')"


class _Floor(FunctionElement[Any]):
    """The start of a timestamp's minute, hour or day, as a timestamp stored exactly like a time column (on
    SQLite integer microseconds, or range comparisons and the rollups' keys go wrong)."""

    type = UtcDateTime()
    inherit_cache = True
    unit = "hour"


class hour_floor(_Floor):
    inherit_cache = True
    unit = "hour"


class day_floor(_Floor):
    inherit_cache = True
    unit = "day"


class minute_floor(_Floor):
    inherit_cache = True
    unit = "minute"


@compiles(_Floor, "sqlite")
def _floor_sqlite(element: _Floor, compiler: Any, **kw: Any) -> str:
    (arg,) = element.clauses
    width = UNIT_MICROS[element.unit]
    return f"(({compiler.process(arg, **kw)}) / {width} * {width})"


@compiles(_Floor, "postgresql")
def _floor_pg(element: _Floor, compiler: Any, **kw: Any) -> str:
    (arg,) = element.clauses
    return f"date_trunc('{element.unit}', {compiler.process(arg, **kw)})"


def contains(column: ColumnElement[Any], text: str) -> ColumnElement[bool]:
    """`column` holds `text`, any case (ILIKE: on SQLite, LIKE ignores ASCII case), its % and _ matched as
    themselves, not as wildcards."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.ilike(f"%{escaped}%", escape="\\")


def count_if(*cond: ColumnElement[bool]) -> ColumnElement[Any]:
    """How many rows meet every condition (0, not NULL, over no rows)."""
    return func.coalesce(func.sum(case((and_(*cond), 1), else_=0)), 0)


def sum_if(value: ColumnElement[Any], *cond: ColumnElement[bool]) -> ColumnElement[Any]:
    """The sum of `value` over the rows that meet every condition (0.0 over none)."""
    return func.coalesce(func.sum(case((and_(*cond), value), else_=0.0)), 0.0)


class weekday(FunctionElement[int]):
    """Day of the week of a timestamp, Monday = 0 … Sunday = 6 (as pandas and ISO order them)."""

    type = Integer()
    inherit_cache = True


class hour_of_day(FunctionElement[int]):
    type = Integer()
    inherit_cache = True


class first_word(FunctionElement[str]):
    """The text before the first space (all of it when there is none): a tool line's tool name."""

    type = String()
    inherit_cache = True


@compiles(weekday, "sqlite")
def _weekday_sqlite(element: weekday, compiler: Any, **kw: Any) -> str:
    (arg,) = element.clauses
    # Days since 1970, which began on a Thursday (3).
    return f"((({compiler.process(arg, **kw)}) / {DAY} + 3) % 7)"


@compiles(weekday, "postgresql")
def _weekday_pg(element: weekday, compiler: Any, **kw: Any) -> str:
    (arg,) = element.clauses
    return f"(CAST(EXTRACT(ISODOW FROM {compiler.process(arg, **kw)}) AS INTEGER) - 1)"


@compiles(hour_of_day, "sqlite")
def _hour_sqlite(element: hour_of_day, compiler: Any, **kw: Any) -> str:
    (arg,) = element.clauses
    return f"((({compiler.process(arg, **kw)}) / {UNIT_MICROS['hour']}) % 24)"


@compiles(hour_of_day, "postgresql")
def _hour_pg(element: hour_of_day, compiler: Any, **kw: Any) -> str:
    (arg,) = element.clauses
    return f"CAST(EXTRACT(HOUR FROM {compiler.process(arg, **kw)}) AS INTEGER)"


@compiles(first_word, "sqlite")
def _first_word_sqlite(element: first_word, compiler: Any, **kw: Any) -> str:
    (arg,) = element.clauses
    text = f"ltrim({compiler.process(arg, **kw)})"
    return (
        f"(CASE WHEN instr({text}, ' ') > 0 THEN substr({text}, 1, instr({text}, ' ') - 1) ELSE {text} END)"
    )


@compiles(first_word, "postgresql")
def _first_word_pg(element: first_word, compiler: Any, **kw: Any) -> str:
    (arg,) = element.clauses
    return f"split_part(ltrim({compiler.process(arg, **kw)}), ' ', 1)"


class messages_match(FunctionElement[bool]):
    """`task_id IN (tasks whose calls' messages hold every term)`, over db/read/search.py's index: an FTS5 MATCH
    on SQLite, a `simple` tsquery on PostgreSQL. Both spellings travel as bound parameters (only the
    dialect's own is rendered), so the construct stays dialect-free and cacheable."""

    type = Boolean()
    inherit_cache = True

    def __init__(self, task_id: ColumnElement[Any], terms: Sequence[str]) -> None:
        super().__init__(task_id, literal(fts5_match(terms)), literal(" ".join(terms)))


@compiles(messages_match, "sqlite")
def _messages_match_sqlite(element: messages_match, compiler: Any, **kw: Any) -> str:
    task_id, match, _ = element.clauses
    return (
        f"{compiler.process(task_id, **kw)} IN (SELECT r.task_id FROM call_search s "
        f"JOIN call_search_rows r ON r.id = s.rowid WHERE call_search MATCH {compiler.process(match, **kw)})"
    )


@compiles(messages_match, "postgresql")
def _messages_match_pg(element: messages_match, compiler: Any, **kw: Any) -> str:
    task_id, _, words = element.clauses
    return (
        f"{compiler.process(task_id, **kw)} IN (SELECT task_id FROM call_search "
        f"WHERE body @@ plainto_tsquery('simple', {compiler.process(words, **kw)}))"
    )
