"""Issue 17: SQLite keeps every time column as integer microseconds since 1970 (8 bytes, not 26 of text);
PostgreSQL keeps its native timestamps (a no-op there). See db/core/timecol.py.

Revision ID: 0017
Revises: 0016
"""

from collections.abc import Callable, Sequence

from alembic import op
from sqlalchemy.engine import Connection

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every column SQLAlchemy declared DATETIME is a time column (the models map every datetime to one type).
TIME_COLUMNS = (
    "SELECT m.name, p.name FROM sqlite_master m, pragma_table_info(m.name) p "
    "WHERE m.type = 'table' AND upper(p.type) = 'DATETIME' ORDER BY m.name, p.cid"
)


def _to_micros(col: str, whole_seconds: str) -> str:
    # SQLAlchemy's text is 'YYYY-MM-DD HH:MM:SS.ffffff' (26 characters): whole seconds of the first 19, the
    # last six digits as the microseconds, exactly (julianday() would round to the millisecond). Any other
    # text (fewer digits, none) pads its fraction to six. Function calls are most of the cost on a big file.
    seconds = whole_seconds.format(f"substr({col}, 1, 19)")
    return (
        f"CASE WHEN typeof({col}) != 'text' THEN {col} "
        f"WHEN length({col}) = 26 THEN {seconds} * 1000000 + substr({col}, 21) "
        f"ELSE {seconds} * 1000000 + CAST(substr(substr({col}, 21) || '000000', 1, 6) AS INTEGER) END"
    )


def _to_text(col: str, _: str) -> str:
    # Back to SQLAlchemy's own text for a DateTime on SQLite (the 1000000 + keeps the fraction's zeros).
    return (
        f"CASE WHEN typeof({col}) = 'integer' THEN datetime({col} / 1000000, 'unixepoch') || '.' || "
        f"substr({col} % 1000000 + 1000000, 2) ELSE {col} END"
    )


def _quoted(name: str) -> str:
    return f'"{name}"'


def _rewrite(conn: Connection, convert: Callable[[str, str], str]) -> None:
    """One UPDATE per table over all its time columns. The indexes over them are dropped first and built
    again after: one sort per index instead of a delete and an insert per row (several times faster on a
    big file)."""
    # unixepoch() (SQLite 3.38) is twice as fast as strftime('%s'), which older libraries fall back to.
    version = tuple(
        int(n) for n in str(conn.exec_driver_sql("SELECT sqlite_version()").scalar_one()).split(".")
    )
    whole = "unixepoch({})" if version >= (3, 38) else "CAST(strftime('%s', {}) AS INTEGER)"
    columns: dict[str, list[str]] = {}
    for table, column in conn.exec_driver_sql(TIME_COLUMNS):
        columns.setdefault(table, []).append(column)
    for table, cols in columns.items():
        indexes = conn.exec_driver_sql(
            "SELECT DISTINCT m.name, m.sql FROM sqlite_master m, pragma_index_info(m.name) i "
            "WHERE m.type = 'index' AND m.tbl_name = ? AND m.sql IS NOT NULL AND i.name IN "
            f"({', '.join('?' * len(cols))})",
            (table, *cols),
        ).all()
        for name, _ in indexes:
            conn.exec_driver_sql(f'DROP INDEX "{name}"')
        sets = ", ".join(f"{_quoted(c)} = {convert(_quoted(c), whole)}" for c in cols)
        conn.exec_driver_sql(f'UPDATE "{table}" SET {sets}')
        for _, sql in indexes:
            conn.exec_driver_sql(sql)


def _on_sqlite(convert: Callable[[str, str], str]) -> None:
    conn = op.get_bind()
    if conn.dialect.name == "sqlite":
        _rewrite(conn, convert)


def upgrade() -> None:
    _on_sqlite(_to_micros)


def downgrade() -> None:
    _on_sqlite(_to_text)
