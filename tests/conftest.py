"""Tests: shared fixtures — a real SQLite file per test and a real PostgreSQL database per session."""

from __future__ import annotations

import atexit
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from config import Settings
from dashboard.bridge import ChangeFeed
from dashboard.services import Services
from db.core.engine import Database, open_database
from db.core.migrate import upgrade
from db.core.timecol import to_micros
from db.live.changefeed import Hub
from db.write.recorder import Recorder
from tests.alert_support import reset_alerts
from tests.parallel import claim_redis, database_name

PG_ADMIN_DSN = os.environ.get("TASKLENS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
TABLES = (
    "task_events, activity, invocations, task_tags, tasks, workers, job_leases, write_stats, budgets, usage_hourly, "
    "task_hourly, created_hourly, worker_hourly, events_hourly, tool_hourly, histogram_hourly, histogram_daily, "
    "usage_minutely, created_minutely, "
    "report_runs, ingested_events, api_tokens, audit_log, task_schedules, concurrency_limits"
)


def pytest_configure(config: pytest.Config) -> None:
    """Each xdist worker (and a serial run) gets a Redis database of its own, in the environment its Celery
    worker subprocesses inherit (tests/parallel.py)."""
    claim_redis(os.environ)


def _pg_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


_TEMPLATE: list[Path] = []
# The rows the migrations seed stamped with the time they ran (report schedules, built-in alert rules): a copy
# gets them stamped now, as a migration run now would.
_RESTAMP = (
    "UPDATE report_schedules SET enabled_at = :now, created_at = :now, updated_at = :now",
    "UPDATE alert_rules SET created_at = :now, updated_at = :now WHERE builtin",
)


def _sqlite_template() -> Path:
    """One migrated SQLite file per test process: migrating costs a quarter of a second, and over five hundred
    tests each want a fresh file, so each gets a copy of this one."""
    if not _TEMPLATE:
        folder = Path(tempfile.mkdtemp(prefix="tasklens-template-"))
        atexit.register(shutil.rmtree, folder, True)
        path = folder / "tasklens.db"
        db = open_database(f"sqlite:///{path}")
        upgrade(db)
        db.dispose()
        with closing(sqlite3.connect(path)) as conn:  # everything in the file itself, nothing left in a WAL
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        _TEMPLATE.append(path)
    return _TEMPLATE[0]


def sqlite_file(path: Path) -> str:
    """A fresh, migrated SQLite database at `path`; its URL."""
    shutil.copyfile(_sqlite_template(), path)
    now = to_micros(datetime.now(UTC).replace(tzinfo=None))  # as a time column holds it (db/core/timecol.py)
    with closing(sqlite3.connect(path)) as conn, conn:
        for statement in _RESTAMP:
            conn.execute(statement, {"now": now})
    return f"sqlite:///{path}"


def sqlite_database(folder: os.PathLike[str] | str) -> str:
    """A fresh, migrated SQLite file in `folder`; its URL."""
    return sqlite_file(Path(folder) / "tasklens.db")


@contextmanager
def pg_database() -> Iterator[str]:
    """A throw-away database on the machine's PostgreSQL, migrated, dropped on exit. Never skipped in CI."""
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI but {PG_ADMIN_DSN} is unreachable")
        pytest.skip("PostgreSQL not reachable (runs in CI)")
    name = database_name("tasklens_test")
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_DSN.rsplit("/", 1)[0] + "/" + name
    db = open_database(url)
    upgrade(db)
    db.dispose()
    try:
        yield url
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def fresh_database_like(db: Database, folder: Path) -> Iterator[Database]:
    """An empty, migrated database of `db`'s kind (a SQLite file under `folder`, or a throw-away PostgreSQL
    database), disposed of (and dropped) on exit: where a test restores or imports into."""
    if db.is_sqlite:
        path = folder / "fresh"
        path.mkdir()
        target = open_database(sqlite_database(path))
        try:
            yield target
        finally:
            target.dispose()
        return
    with pg_database() as url:
        target = open_database(url)
        try:
            yield target
        finally:
            target.dispose()


# TABLES and every table whose foreign keys reach them (what TRUNCATE ... CASCADE empties), and the sequences
# those tables own (what RESTART IDENTITY restarts), with their start values.
_CLOSURE = """
WITH RECURSIVE closure(rel) AS (
    SELECT unnest(CAST(:names AS text[]))::regclass
    UNION
    SELECT c.conrelid::regclass FROM pg_constraint c JOIN closure ON c.confrelid = closure.rel WHERE c.contype = 'f'
) SELECT rel::text FROM closure"""
# The foreign keys between two of them: a referencing table is emptied before the table it references.
_REFERENCES = """
SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint
WHERE contype = 'f' AND conrelid <> confrelid AND conrelid::regclass::text = ANY(:rels)
AND confrelid::regclass::text = ANY(:rels)"""
_OWNED_SEQUENCES = """
SELECT s.oid::regclass::text, ps.start_value FROM pg_class s
JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
JOIN pg_sequences ps ON ps.schemaname = current_schema() AND ps.sequencename = s.relname
WHERE s.relkind = 'S' AND d.deptype IN ('a', 'i') AND d.refobjid::regclass::text = ANY(:rels)"""
_EMPTYING: dict[str, str] = {}


def empty_tables(db: Database) -> None:
    """What `TRUNCATE {TABLES} RESTART IDENTITY CASCADE` leaves, by DELETE and setval: a TRUNCATE replaces
    two dozen tables' files and cost half a second per PostgreSQL test, a DELETE of a test's few rows
    milliseconds."""
    url = str(db.url)
    with db.write_engine.begin() as conn:
        if url not in _EMPTYING:
            names = [t.strip() for t in TABLES.split(",")]
            rels = conn.execute(text(_CLOSURE), {"names": names}).scalars().all()
            referenced_by: dict[str, set[str]] = {rel: set() for rel in rels}
            for child, parent in conn.execute(text(_REFERENCES), {"rels": rels}).all():
                referenced_by[parent].add(child)
            order = TopologicalSorter(referenced_by).static_order()  # children first
            sequences = conn.execute(text(_OWNED_SEQUENCES), {"rels": rels}).all()
            restart = ", ".join(f"setval('{seq}', {start}, false)" for seq, start in sequences)
            deletes = "; ".join(f"DELETE FROM {rel}" for rel in order)
            _EMPTYING[url] = f"{deletes}; SELECT {restart}"
        conn.exec_driver_sql(_EMPTYING[url])


@pytest.fixture(scope="session")
def pg_session_url() -> Iterator[str]:
    """One database for the session's PostgreSQL tests (each empties its tables first)."""
    with pg_database() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> str:
    """Each test runs against a fresh SQLite file and against PostgreSQL (tables emptied)."""
    if request.param == "sqlite":
        return sqlite_database(tmp_path)
    pg_url: str = request.getfixturevalue("pg_session_url")
    db = open_database(pg_url)
    empty_tables(db)
    reset_alerts(db)  # no alert, silence or rule edit of an earlier test reaches this one
    db.dispose()
    return pg_url


@pytest.fixture
def pg_db(pg_session_url: str) -> Iterator[Database]:
    """PostgreSQL only, for behaviour that exists only there (in-flight sequence holes, LISTEN)."""
    database = open_database(pg_session_url)
    empty_tables(database)
    reset_alerts(database)
    yield database
    database.dispose()


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = open_database(db_url)
    yield database
    database.dispose()


@pytest.fixture
def hub() -> Hub:
    return Hub()


@pytest.fixture
def recorder(db: Database, hub: Hub) -> Recorder:
    return Recorder(db, hub)


@pytest.fixture
def svc(db: Database, db_url: str, recorder: Recorder) -> Services:
    """What the dashboard's callbacks get (database, recorder, an unstarted change feed), for calling page
    functions directly."""
    return Services(Settings(database_url=db_url), db, recorder, ChangeFeed(db, recorder.hub))


@pytest.fixture
def layout_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tasks and calls pages' layouts without their first rows: those read through the app registered last
    in this process (another test's, whose database may be gone by now: a stopped PostgreSQL proxy refused)."""
    from dashboard.pages import calls, tasks

    monkeypatch.setattr(tasks, "_first_block", [])
    monkeypatch.setattr(calls, "_first_block", [])


@pytest.fixture
def live_app(db_url: str) -> Iterator[Any]:
    """The real web app (+ a worker) serving on a free port against each database."""
    from tests.liveserver import start_live_app

    app = start_live_app(db_url)
    yield app
    app.close()


# Browser fixtures live in tests/browser.py; importing them here makes them one set for every test module
# (a session-scoped browser imported by two modules would start two Playwright instances).
from tests.browser import browser_fixture, sqlite_app_fixture, tab_fixture  # noqa: E402, F401
