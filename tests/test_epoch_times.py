"""Tests: time columns (db/core/timecol.py) — integer microseconds on SQLite, native timestamps on PostgreSQL, the
same naive-UTC datetimes back on both, exactly; the SQL time functions of db/core/sqlfuncs.py agree with Python
over that storage; migration 0017 rewrites a populated SQLite file both ways and keeps every time."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, delete, insert, literal, select
from sqlalchemy.dialects import sqlite

from db.core import sqlfuncs
from db.core.engine import Database, open_database
from db.core.migrate import downgrade, upgrade
from db.core.models import Base, JobLease, Task
from db.core.timecol import UtcDateTime, from_micros, to_micros
from db.domain.ops import TaskSpec, Transition
from db.domain.states import TaskKind, TaskStatus
from db.write.recorder import Recorder
from tests.conftest import sqlite_database
from worker.history import generate_history

MOMENTS = [
    datetime(2026, 11, 3, 12, 55, 6, 104080),
    datetime(2026, 3, 8, 23, 59, 59, 999999),  # a Sunday, the last microsecond of its day
    datetime(2026, 3, 9, 0, 0),  # a Monday at midnight
    datetime(2024, 2, 29, 6, 30, 0, 1),
    datetime(1999, 12, 31, 23, 0, 0, 500000),
    datetime(2099, 1, 1, 0, 0, 0, 7),
]
LEASES = cast(Table, JobLease.__table__)


def _round_trip(db: Database, values: list[datetime]) -> list[datetime | None]:
    with db.writing() as s:
        s.execute(delete(LEASES))
        s.execute(insert(LEASES), [{"name": f"t{n}", "expires_at": v} for n, v in enumerate(values)])
    with db.reading() as s:
        rows = s.execute(select(LEASES.c.name, LEASES.c.expires_at)).all()
    got = {name: at for name, at in rows}
    return [got[f"t{n}"] for n in range(len(values))]


def test_time_columns_round_trip_exactly(db: Database) -> None:
    assert _round_trip(db, MOMENTS) == MOMENTS
    assert all(v.tzinfo is None for v in _round_trip(db, MOMENTS) if v is not None)
    # A UTC-aware value comes back as the naive UTC moment, as before.
    aware = [m.replace(tzinfo=UTC) for m in MOMENTS]
    assert _round_trip(db, aware) == MOMENTS
    # A parameter compares as the column stores it: the exact microsecond, not a neighbour.
    with db.reading() as s:
        hit = s.scalars(select(LEASES.c.name).where(LEASES.c.expires_at == MOMENTS[0])).all()
        later = s.scalars(select(LEASES.c.name).where(LEASES.c.expires_at > MOMENTS[0])).all()
    assert hit == ["t0"] and sorted(later) == ["t5"]


def test_sqlite_converts_an_offset_to_utc() -> None:
    dialect = sqlite.dialect()
    kolkata = datetime(2026, 11, 3, 18, 25, 6, 104080, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    stored = UtcDateTime().process_bind_param(kolkata, dialect)
    assert stored == to_micros(MOMENTS[0]) and from_micros(stored) == MOMENTS[0]


def _filled(tmp_path: Path, tasks: int, days: int, seed: int) -> tuple[Database, int]:
    """A fresh SQLite file holding a running task (returned) and `tasks` tasks of generated history."""
    db = open_database(sqlite_database(tmp_path))
    r = Recorder(db)
    task_id = r.submit(TaskSpec(title="t", kind=TaskKind.EXTERNAL), actor="test")
    r.record(task_id, Transition(TaskStatus.RUNNING))
    generate_history(db, tasks, days=days, seed=seed)
    return db, task_id


def test_time_columns_are_integers_on_sqlite(tmp_path: Path) -> None:
    db, _ = _filled(tmp_path, 5, days=2, seed=3)
    db.dispose()
    with closing(sqlite3.connect(tmp_path / "tasklens.db")) as conn:
        kinds = _time_kinds(conn)
    assert kinds["tasks.created_at"] == {"integer"} and kinds["task_events.at"] == {"integer"}
    assert kinds["invocations.started_at"] == {"integer"} and kinds["workers.last_seen_at"] == {"integer"}
    assert {column: k for column, k in kinds.items() if k - {"integer", "null"}} == {}


def _time_kinds(conn: sqlite3.Connection) -> dict[str, set[str]]:
    """typeof() of every value of every time column, per table.column, of the tables the database has at its
    revision (a downgraded one lacks later migrations' tables)."""
    present = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    kinds: dict[str, set[str]] = {}
    for table, column in _time_columns():
        if table not in present:
            continue
        found = conn.execute(f'SELECT DISTINCT typeof("{column}") FROM "{table}"').fetchall()
        kinds[f"{table}.{column}"] = {k for (k,) in found}
    return kinds


def _time_columns() -> list[tuple[str, str]]:
    return [
        (t.name, c.name)
        for t in Base.metadata.sorted_tables
        for c in t.columns
        if isinstance(c.type, UtcDateTime)
    ]


def test_sql_time_functions_agree_with_python(db: Database) -> None:
    """Buckets, floors, weekday, hour of day, epoch seconds, differences and the export's ISO text, computed
    by the database over stored times, equal what Python says of the same moments."""
    with db.writing() as s:
        s.execute(delete(LEASES))
        s.execute(
            insert(LEASES),
            [{"name": f"t{n}", "expires_at": v, "last_run_at": MOMENTS[0]} for n, v in enumerate(MOMENTS)],
        )
    at, other = LEASES.c.expires_at, LEASES.c.last_run_at
    columns: dict[str, Any] = {
        **{f"bucket_{u}": sqlfuncs.bucket(at, u) for u in ("minute", "hour", "day", "week", "month")},
        "minute_floor": sqlfuncs.minute_floor(at),
        "hour_floor": sqlfuncs.hour_floor(at),
        "day_floor": sqlfuncs.day_floor(at),
        "weekday": sqlfuncs.weekday(at),
        "hour_of_day": sqlfuncs.hour_of_day(at),
        "epoch": sqlfuncs.epoch(at),
        "between": sqlfuncs.seconds_between(other, at),
        "iso": sqlfuncs.iso_utc(at),
    }
    with db.reading() as s:
        rows = s.execute(
            select(LEASES.c.name, *(c.label(k) for k, c in columns.items())).order_by(LEASES.c.name)
        ).all()
    for row in rows:
        m = MOMENTS[int(row.name[1:])]
        day = m.replace(hour=0, minute=0, second=0, microsecond=0)
        monday = day - timedelta(days=m.weekday())
        text = "%Y-%m-%d %H:%M:%S"
        assert row.bucket_minute == m.replace(second=0, microsecond=0).strftime(text), m
        assert row.bucket_hour == m.replace(minute=0, second=0, microsecond=0).strftime(text), m
        assert row.bucket_day == day.strftime(text), m
        assert row.bucket_week == monday.strftime(text), m
        assert row.bucket_month == day.replace(day=1).strftime(text), m
        assert row.minute_floor == m.replace(second=0, microsecond=0), m
        assert row.hour_floor == m.replace(minute=0, second=0, microsecond=0), m
        assert row.day_floor == day, m
        assert (row.weekday, row.hour_of_day) == (m.weekday(), m.hour), m
        assert row.epoch == (m.replace(tzinfo=UTC)).timestamp(), m
        assert row.between == (m - MOMENTS[0]).total_seconds(), m
        assert row.iso == m.isoformat(timespec="milliseconds") + "Z", m


def test_a_bound_time_compares_with_a_floor(db: Database) -> None:
    """A floor compares with a parameter as stored alike (the rollups' window tests)."""
    hour = MOMENTS[0].replace(minute=0, second=0, microsecond=0)
    with db.writing() as s:
        s.execute(delete(LEASES))
        s.execute(insert(LEASES), [{"name": "t", "expires_at": MOMENTS[0]}])
    with db.reading() as s:
        q = select(LEASES.c.name).where(
            sqlfuncs.hour_floor(LEASES.c.expires_at) == literal(hour, UtcDateTime())
        )
        assert s.scalars(q).all() == ["t"]


def _all_times(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row's key and times, per table, read through the models."""
    got: dict[str, list[tuple[Any, ...]]] = {}
    with db.reading() as s:
        for table in Base.metadata.sorted_tables:
            times = [c for c in table.columns if isinstance(c.type, UtcDateTime)]
            if times:
                got[table.name] = sorted(
                    s.execute(select(*_key(table), *times)).all(), key=lambda r: tuple(map(str, r))
                )
    return got


def _key(table: Table) -> list[Any]:
    return list(table.primary_key.columns)


def test_migration_0017_down_and_up_keeps_every_time(tmp_path: Path) -> None:
    db, task_id = _filled(tmp_path, 40, days=3, seed=5)
    try:
        before = _all_times(db)
        with db.reading() as s:
            created_at = s.scalar(select(Task.created_at).where(Task.id == task_id))
        assert sum(len(rows) for rows in before.values()) > 500
        assert downgrade(db, "0016") == "0016"
        with closing(sqlite3.connect(tmp_path / "tasklens.db")) as conn:
            assert {k for kinds in _time_kinds(conn).values() for k in kinds} <= {"text", "null"}
            # The text SQLAlchemy's DateTime reads, microseconds included.
            (created,) = conn.execute("SELECT created_at FROM tasks WHERE id = ?", (task_id,)).fetchone()
            assert datetime.strptime(created, "%Y-%m-%d %H:%M:%S.%f") == created_at
            # Text other writers left (fewer digits of a second, none) converts as well.
            conn.executemany(
                "INSERT INTO job_leases (name, expires_at, last_run_at) VALUES (?, ?, ?)",
                [("short", "2026-03-10 07:00:10.5", "2026-03-10 07:00:10")],
            )
            conn.commit()
        assert upgrade(db) is not None
        with closing(sqlite3.connect(tmp_path / "tasklens.db")) as conn:
            assert {k for kinds in _time_kinds(conn).values() for k in kinds} <= {"integer", "null"}
        with db.writing() as s:
            short = s.execute(
                select(LEASES.c.expires_at, LEASES.c.last_run_at).where(LEASES.c.name == "short")
            )
            assert short.one() == (datetime(2026, 3, 10, 7, 0, 10, 500000), datetime(2026, 3, 10, 7, 0, 10))
            s.execute(delete(LEASES).where(LEASES.c.name == "short"))
        assert _all_times(db) == before
    finally:
        db.dispose()
