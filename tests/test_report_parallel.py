"""Tests: a large period's CSV exports, written by worker processes with the calls split into time slices,
are byte for byte the files the threaded path writes — on SQLite and PostgreSQL — and a failure in a worker
process is raised to the caller."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.exc import OperationalError

from db.core.engine import Database, open_database
from reports import exports
from reports.model import Filters
from reports.write import write_report
from tests.builders import make_task
from tests.test_reports import HOSTILE_MODEL, WEEK, build, seed


def seed_many_calls(db: Database) -> None:
    """Tasks whose calls share start times (ties ordered by id across a slice boundary) all through the week."""
    models = ("gpt-4.1", "claude", HOSTILE_MODEL, "=cmd")
    for day in range(7):
        for hour in (3, 3, 11, 19):  # two tasks created at the same instant: their calls start together
            make_task(
                db,
                created=WEEK.start + timedelta(days=day, hours=hour),
                title=f"-task {day}/{hour}",
                calls=tuple(
                    ("planner" if n % 2 else "builder", models[(day + n) % 4], 0.1 * n) for n in range(5)
                ),
            )


def test_processes_write_the_same_bytes_as_threads(db: Database, tmp_path: Path) -> None:
    seed(db)
    seed_many_calls(db)
    report = build(db)
    threaded = write_report(report, ["csv"], tmp_path / "threads", db=db, process_threshold=10**12)
    processes = write_report(report, ["csv"], tmp_path / "processes", db=db, process_threshold=0)
    assert [p.name for p in processes] == [p.name for p in threaded]
    for a, b in zip(threaded, processes, strict=True):
        assert a.read_bytes() == b.read_bytes()
    assert threaded[1].read_bytes().count(b"\n") == 1 + 6 + 7 * 4 * 5  # the slices lost and repeated nothing
    assert sorted(p.name for p in (tmp_path / "processes").iterdir()) == sorted(p.name for p in processes)


def test_a_failure_in_a_worker_process_is_raised(tmp_path: Path) -> None:
    empty = open_database(f"sqlite:///{tmp_path}/empty.db")  # no tables: the child's query fails
    try:
        # Straight to the processes (the parent's count of calls would fail first, in the parent).
        with pytest.raises(OperationalError, match="no such table: tasks"):
            exports._write_in_processes(empty, Filters().scope(WEEK), {"tasks": tmp_path / "t.csv"}, 0, 2)
    finally:
        empty.dispose()
