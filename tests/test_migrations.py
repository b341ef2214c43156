"""Tests: the Alembic migrations produce exactly the schema the models declare, and go down and up again."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select

from db.analytics import rollups
from db.core.engine import Database, open_database
from db.core.migrate import check, current_revision, downgrade, head_revision, is_current, modelled, upgrade
from db.core.models import Base, TaskDaily, ToolDaily, UsageDaily
from tests.conftest import sqlite_database
from tests.rollup_data import NOW, build, same


def test_migrated_schema_matches_models(db: Database) -> None:
    assert is_current(db)
    with db.read_engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": modelled})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_autogenerate_proposes_nothing_at_head(db: Database) -> None:
    # Adding a column is the model's attribute, the migration `alembic revision --autogenerate` writes from it, and
    # one view field (docs/architecture.md): autogenerate must see the full-text tables as no change to write.
    check(db)


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


def _daily_rows(db: Database, before: datetime) -> dict[str, list[tuple[Any, ...]]]:
    out: dict[str, list[tuple[Any, ...]]] = {}
    with db.reading() as s:
        for model in (UsageDaily, TaskDaily, ToolDaily):
            table: Any = model.__table__
            rows = s.execute(select(*(c for c in table.c if c.name != "id")).where(table.c.day < before))
            out[table.name] = sorted(
                (tuple(r) for r in rows), key=lambda r: tuple((v is None, str(v)) for v in r)
            )
    return out


def test_0019_back_fills_the_daily_rollups_from_the_hours(db: Database) -> None:
    """Upgraded from 0018 with hourly rollups in place, usage_daily, task_daily and tool_daily hold what the
    refresh folds from those hours (no rebuild from the source rows); downgrading drops them."""
    build(db, n_random=20)
    with db.writing() as s:
        rollups.refresh(s, NOW)
    today = rollups.floor_day(NOW)  # the day in progress is folded once it is whole
    folded = _daily_rows(db, today)
    assert all(folded.values()), folded
    assert downgrade(db, "0018") == "0018"
    assert upgrade(db) == head_revision()
    same(_daily_rows(db, today), folded)
