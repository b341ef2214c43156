"""Tests: a leaner store — a new SQLite file is in incremental auto-vacuum mode and shrinks after pruning; the
WAL checkpoint job empties the WAL when no reader holds it and waits (briefly) while one does; the redundant
index on tasks(created_at) is gone (migration 0014) on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import inspect, text

from db import retention, rollups, walcheck
from db.engine import Database
from db.timeutil import utcnow
from worker.history import generate_history


def test_redundant_index_is_gone(db: Database) -> None:
    names = {ix["name"] for ix in inspect(db.write_engine).get_indexes("tasks")}
    assert "ix_tasks_created_at" not in names and "ix_tasks_created_status" in names


def pages(db: Database) -> int:
    with db.read_engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())


def test_sqlite_file_shrinks_after_pruning(tmp_path: object) -> None:
    from db.engine import open_database
    from db.migrate import upgrade

    db = open_database(f"sqlite:///{tmp_path}/lean.db")
    try:
        upgrade(db)
        with db.read_engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA auto_vacuum").scalar_one() == 2  # incremental
        now = utcnow()
        generate_history(db, 400, days=20, seed=2, now=now - timedelta(hours=1))
        with db.writing() as s:
            rollups.refresh(s, now)
        walcheck.truncate_wal(db)
        full = pages(db)
        result = retention.prune(db.writing, db.reading, now, retention.Policy(tasks_days=3))
        assert result.rows["tasks"] > 200
        freed = walcheck.vacuum_free_pages(db)
        walcheck.truncate_wal(db)
        assert freed > 0 and pages(db) < full * 0.6, (freed, pages(db), full)
        with db.read_engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA freelist_count").scalar_one() == 0
    finally:
        db.dispose()


def test_wal_is_emptied_unless_a_reader_holds_it(tmp_path: object) -> None:
    from db.engine import open_database
    from db.migrate import upgrade

    db = open_database(f"sqlite:///{tmp_path}/wal.db")
    try:
        upgrade(db)
        generate_history(db, 100, days=2, seed=1)
        reader = db.read_engine.connect()
        try:
            reader.exec_driver_sql("SELECT count(*) FROM tasks").scalar_one()  # BEGIN: a snapshot held open
            with db.writing() as s:  # a frame after the reader's snapshot, which it keeps needing
                s.execute(text("UPDATE tasks SET priority = 1 WHERE id = 1"))
            held = walcheck.truncate_wal(db)
            assert held is not None and held.busy and held.wal_bytes > 0
        finally:
            reader.close()
        done = walcheck.truncate_wal(db)
        assert done is not None and not done.busy and done.wal_bytes == 0
    finally:
        db.dispose()
