"""Data layer: the column type of every timestamp. PostgreSQL keeps a native `timestamp`; SQLite stores the
moment as an integer of microseconds since 1970 (UTC), 8 bytes instead of the 26 of SQLAlchemy's text, exact
to the microsecond. Python sees the same naive-UTC datetimes on both (db/core/timeutil.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.types import TypeDecorator, TypeEngine

EPOCH = datetime(1970, 1, 1)
MICROS = 1_000_000
# Bucket widths in microseconds, for the arithmetic floors of db/core/sqlfuncs.py.
UNIT_MICROS = {"minute": 60 * MICROS, "hour": 3600 * MICROS, "day": 86400 * MICROS}


def to_micros(value: datetime) -> int:
    """Microseconds since 1970 of a naive-UTC (or aware) datetime, exactly (no float on the way)."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    delta = value - EPOCH
    return (delta.days * 86400 + delta.seconds) * MICROS + delta.microseconds


def from_micros(value: int) -> datetime:
    return EPOCH + timedelta(microseconds=value)


class EpochMicros(BigInteger):
    """SQLite's storage of a time column. Declared DATETIME as before (NUMERIC affinity keeps an integer as
    one), so the tables written by earlier migrations need no rebuild."""


@compiles(EpochMicros, "sqlite")
def _epoch_micros_ddl(element: EpochMicros, compiler: Any, **kw: Any) -> str:
    return "DATETIME"


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp column or parameter: `timestamp without time zone` on PostgreSQL, integer microseconds
    on SQLite. Every time column, and every bound time parameter of hand-written SQL, uses it."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(EpochMicros())
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None or dialect.name != "sqlite":
            return value
        if isinstance(value, str):  # an ISO text, as a query string or a JSON document gives it
            value = datetime.fromisoformat(value)
        return to_micros(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None or dialect.name != "sqlite":
            return value  # type: ignore[no-any-return]
        if isinstance(value, str):  # text an SQLite date function returned
            return datetime.fromisoformat(value)
        return from_micros(int(value))

    @property
    def python_type(self) -> type[datetime]:
        return datetime


def as_datetime(value: object) -> datetime:
    """A time value however a driver handed it back: a datetime, SQLite's integer microseconds, or text."""
    if isinstance(value, datetime):
        return value
    if isinstance(value, int):
        return from_micros(value)
    return datetime.fromisoformat(str(value))
