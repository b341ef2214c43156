"""Tests: the Alembic migrations produce exactly the schema the models declare, and go down and up again."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from db.engine import Database
from db.migrate import current_revision, downgrade, head_revision, is_current, upgrade
from db.models import Base


def test_migrated_schema_matches_models(db: Database) -> None:
    assert is_current(db)
    with db.read_engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_downgrade_and_upgrade_again(db: Database) -> None:
    upgrade_to = head_revision()
    assert downgrade(db, "0001") == "0001"
    assert current_revision(db) == "0001"
    assert upgrade(db) == upgrade_to
    assert upgrade(db) == upgrade_to  # idempotent
