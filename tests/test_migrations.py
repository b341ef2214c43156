"""Tests: the Alembic migrations produce exactly the schema the models declare, and go down and up again."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from db.core.engine import Database, open_database
from db.core.migrate import current_revision, downgrade, head_revision, is_current, upgrade
from db.core.models import Base
from tests.conftest import sqlite_database


def _modelled(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    # The full-text search structures (db/read/search.py, migration 0011) are no models: an FTS5 virtual table
    # with its shadow tables on SQLite, a tsvector table on PostgreSQL.
    return not (name or "").startswith(("call_search", "ix_call_search"))


def test_migrated_schema_matches_models(db: Database) -> None:
    assert is_current(db)
    with db.read_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": _modelled})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_downgrade_and_upgrade_again(db: Database) -> None:
    upgrade_to = head_revision()
    assert downgrade(db, "0001") == "0001"
    assert current_revision(db) == "0001"
    assert upgrade(db) == upgrade_to
    assert upgrade(db) == upgrade_to  # idempotent


def test_a_current_schema_takes_no_write_lock(tmp_path: Path) -> None:
    """Every start runs upgrade(): at head it must not wait for the write lock (it used to hold it for Alembic's
    whole start-up, the longest wait a second process caused its neighbours on SQLite)."""
    url = sqlite_database(tmp_path)
    holder = sqlite3.connect(f"{tmp_path}/tasklens.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    db = open_database(url, busy_timeout_ms=200)
    try:
        assert upgrade(db) == head_revision()
    finally:
        db.dispose()
        holder.execute("ROLLBACK")
        holder.close()
