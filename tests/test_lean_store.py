"""Tests: a leaner store — a new SQLite file is in incremental auto-vacuum mode and shrinks after pruning; the
WAL checkpoint job empties the WAL when no reader holds it and waits (briefly) while one does; the redundant
index on tasks(created_at) is gone (migration 0014), calls are indexed by task alone and the schedule indexes
are partial (migration 0015), and JSON columns are stored without blanks, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import inspect, text, update
from sqlalchemy.exc import IntegrityError

from db.analytics import rollups
from db.core.engine import Database
from db.core.models import Task
from db.core.timeutil import utcnow
from db.domain.ops import TaskSpec
from db.domain.states import TaskKind
from db.lifecycle import retention, walcheck
from db.write.recorder import Recorder
from worker.history import generate_history


def test_redundant_index_is_gone(db: Database) -> None:
    names = {ix["name"] for ix in inspect(db.write_engine).get_indexes("tasks")}
    assert "ix_tasks_created_at" not in names and "ix_tasks_created_status" in names


def test_calls_by_task_and_schedule_indexes_are_narrow(db: Database) -> None:
    inspector = inspect(db.write_engine)
    calls = {ix["name"]: ix for ix in inspector.get_indexes("invocations")}
    assert calls["ix_invocations_task"]["column_names"] == ["task_id"]
    tasks = {ix["name"]: ix for ix in inspector.get_indexes("tasks")}
    for name in ("uq_tasks_schedule_fire", "ix_tasks_schedule_status"):
        where = tasks[name].get("dialect_options", {}).get(f"{db.write_engine.dialect.name}_where")
        assert where is not None and "schedule_id IS NOT NULL" in str(where), tasks[name]
    # Partial, the fire index still refuses a second task for the same schedule and fire time.
    r = Recorder(db)
    first, second = (
        r.submit(TaskSpec(title=f"t{n}", kind=TaskKind.EXTERNAL), actor="test") for n in range(2)
    )
    at = utcnow()
    with db.writing() as s:
        s.execute(update(Task).where(Task.id == first).values(schedule_id=7, scheduled_for=at))
    with pytest.raises(IntegrityError), db.writing() as s:
        s.execute(update(Task).where(Task.id == second).values(schedule_id=7, scheduled_for=at))


def test_json_columns_are_stored_without_blanks(db: Database) -> None:
    task = Recorder(db).submit(
        TaskSpec(title="json", kind=TaskKind.EXTERNAL, payload={"a": 1, "b": [1, 2]}, tags=("x", "y")),
        actor="test",
    )
    cast = "" if db.is_sqlite else "::text"
    with db.read_engine.connect() as conn:
        payload, tags = conn.execute(
            text(f"SELECT payload{cast}, tags{cast} FROM tasks WHERE id = :i"), {"i": task}
        ).one()
        event = conn.execute(
            text(f"SELECT payload{cast} FROM task_events WHERE task_id = :i AND type = 'task.created'"),
            {"i": task},
        ).scalar_one()
    assert tags == '["x","y"]' and '"b":[1,2]' in payload, (payload, tags)
    assert ", " not in event and '": ' not in event, event


def pages(db: Database) -> int:
    with db.read_engine.connect() as conn:
        return int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())


def test_sqlite_file_shrinks_after_pruning(tmp_path: object) -> None:
    from db.core.engine import open_database
    from db.core.migrate import upgrade

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
    from db.core.engine import open_database
    from db.core.migrate import upgrade

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
