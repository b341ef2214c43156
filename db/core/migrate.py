"""Data layer: applies Alembic migrations programmatically (on start and by `python app.py migrate`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text

from db.core.engine import Database

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"  # db/migrations
# Two processes starting at once must not both run the same migration on PostgreSQL.
PG_MIGRATION_LOCK = 7_291_001


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()


def current_revision(db: Database) -> str | None:
    with db.read_engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def is_current(db: Database) -> bool:
    return current_revision(db) == head_revision()


def downgrade(db: Database, revision: str) -> str | None:
    cfg = _config()
    with db.write_engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, revision)
    return current_revision(db)


def upgrade(db: Database, revision: str = "head") -> str | None:
    """Bring the schema to `revision`; a no-op when it already is. Returns the revision reached."""
    if revision == "head":
        # Every start (a CLI command, each web or worker process) asks: read first, so a schema already at head
        # costs no write transaction — on SQLite that held the write lock for Alembic's whole start-up, the
        # longest wait other writers saw from a second process (bench/bench_latency_contended.py).
        current = current_revision(db)
        if current is not None and current == head_revision():
            return current
    cfg = _config()
    with db.write_engine.begin() as conn:
        if db.is_postgres:
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    return current_revision(db)
