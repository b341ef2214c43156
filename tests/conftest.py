"""Tests: shared fixtures — a real SQLite file per test and a real PostgreSQL database per session."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import text

from config import Settings
from dashboard.bridge import ChangeFeed
from dashboard.services import Services
from db.changefeed import Hub
from db.engine import Database, open_database
from db.migrate import upgrade
from db.recorder import Recorder
from tests.alert_support import reset_alerts

PG_ADMIN_DSN = os.environ.get("TASKLENS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
TABLES = (
    "task_events, activity, invocations, task_tags, tasks, workers, job_leases, write_stats, budgets, usage_hourly, "
    "task_hourly, created_hourly, worker_hourly, events_hourly, tool_hourly, histogram_hourly, histogram_daily, "
    "usage_minutely, created_minutely, "
    "report_runs, ingested_events, api_tokens, audit_log, task_schedules, concurrency_limits"
)


def _pg_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN_DSN, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def sqlite_database(folder: os.PathLike[str] | str) -> str:
    """A fresh, migrated SQLite file in `folder`; its URL."""
    url = f"sqlite:///{folder}/tasklens.db"
    db = open_database(url)
    upgrade(db)
    db.dispose()
    return url


@contextmanager
def pg_database() -> Iterator[str]:
    """A throw-away database on the machine's PostgreSQL, migrated, dropped on exit. Never skipped in CI."""
    if not _pg_available():
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL is required in CI but {PG_ADMIN_DSN} is unreachable")
        pytest.skip("PostgreSQL not reachable (runs in CI)")
    name = f"tasklens_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
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
    with db.write_engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
    reset_alerts(db)  # no alert, silence or rule edit of an earlier test reaches this one
    db.dispose()
    return pg_url


@pytest.fixture
def pg_db(pg_session_url: str) -> Iterator[Database]:
    """PostgreSQL only, for behaviour that exists only there (in-flight sequence holes, LISTEN)."""
    database = open_database(pg_session_url)
    with database.write_engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
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
def live_app(db_url: str) -> Iterator[Any]:
    """The real web app (+ a worker) serving on a free port against each database."""
    from tests.liveserver import start_live_app

    app = start_live_app(db_url)
    yield app
    app.close()


# Browser fixtures live in tests/browser.py; importing them here makes them one set for every test module
# (a session-scoped browser imported by two modules would start two Playwright instances).
from tests.browser import browser_fixture, sqlite_app_fixture, tab_fixture  # noqa: E402, F401
