"""Tests: unavailability is not a 500 — a real PostgreSQL behind a proxy that is cut and restored, a real
SQLite file on a tmpfs filled to the last byte; the API, /ready, the pages' routes and a real worker."""

from __future__ import annotations

import errno
import json
import logging
import sqlite3
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from flask.testing import FlaskClient
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from config import Settings
from dashboard import ids
from dashboard.bridge import ChangeFeed
from dashboard.services import Services
from db.core.engine import open_database
from db.core.models import Task
from db.core.unavailable import MAX_DELAY, DatabaseHealth, OutageKind, backoff, classify
from db.domain.ops import TaskSpec
from db.domain.states import TaskKind, TaskStatus
from db.live.changefeed import Hub
from db.read.tasks import history
from db.write.recorder import Recorder
from db.write.workers import WorkerIdentity
from tests.api_support import API, api_client
from tests.conftest import PG_ADMIN_DSN, pg_database, sqlite_database
from tests.helpers import load_task, wait_until
from tests.outages import DbProxy, fill, small_filesystem
from worker.worker import Worker

HEALTH_LOG = "db.core.unavailable"


def _services(url: str) -> Services:
    db = open_database(url)
    recorder = Recorder(db, Hub())
    return Services(Settings(database_url=url), db, recorder, ChangeFeed(db, recorder.hub))


def _post_task(client: FlaskClient, title: str) -> Any:
    return client.post(f"{API}/tasks", json={"title": title, "kind": "external"})


def _error(response: Any) -> dict[str, Any]:
    assert response.mimetype == "application/json", response.get_data(as_text=True)[:300]
    body = json.loads(response.get_data(as_text=True))
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    error: dict[str, Any] = body["error"]
    return error


def _online_worker(recorder: Recorder) -> None:
    """A worker row with a fresh heartbeat, so /ready's workers check passes and only the database counts."""
    recorder.register_worker(WorkerIdentity("ready-check", "ready-check", "localhost", 1, 1))
    recorder.heartbeat("ready-check", [])


# ---- classification of real failures ---------------------------------------------------------------
def test_classify_real_sqlite_failures(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/c.db")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x UNIQUE)"))
    # SQLITE_FULL: the page budget of this connection is the "disk".
    with pytest.raises(OperationalError) as full, engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA max_page_count = 3")
        for _ in range(100):
            conn.execute(text("INSERT INTO t VALUES (randomblob(2000))"))
    outage = classify(full.value)
    assert outage is not None and outage.kind is OutageKind.STORAGE and outage.status == 507, full.value
    # SQLITE_BUSY: another connection holds the write lock past our busy timeout.
    holder = sqlite3.connect(tmp_path / "c.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        impatient = create_engine(f"sqlite:///{tmp_path}/c.db", connect_args={"timeout": 0.05})
        with pytest.raises(OperationalError) as locked, impatient.begin() as conn:
            conn.execute(text("INSERT INTO t VALUES (1)"))
        outage = classify(locked.value)
        assert outage is not None and outage.kind is OutageKind.DATABASE and outage.status == 503
        assert outage.retry_after > 0
    finally:
        holder.rollback()
        holder.close()
    # Not outages: a bad statement, a broken constraint.
    with pytest.raises(OperationalError) as bad, engine.begin() as conn:
        conn.execute(text("SELECT nope FROM t"))
    assert classify(bad.value) is None
    with pytest.raises(IntegrityError) as dup, engine.begin() as conn:
        conn.execute(text("INSERT INTO t VALUES (7), (7)"))
    assert classify(dup.value) is None
    assert classify(OSError(errno.ENOSPC, "No space left on device")).kind is OutageKind.STORAGE  # type: ignore[union-attr]
    assert classify(OSError(errno.ENOENT, "gone")) is None
    assert classify(ValueError("x")) is None


def test_classify_real_postgresql_failures() -> None:
    with pg_database() as url:
        # Nothing listens: connection refused.
        with DbProxy() as proxy:
            pass
        refused = create_engine(proxy.url(url).replace("postgresql://", "postgresql+psycopg://"))
        with pytest.raises(OperationalError) as exc, refused.connect():
            pass
        outage = classify(exc.value)
        assert (
            outage is not None
            and outage.kind is OutageKind.DATABASE
            and outage.reason == "connection refused"
        )
        # The server ends our session (what a shutdown does to every session): SQLSTATE 57P01.
        engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
        with engine.connect() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
            with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            with pytest.raises(OperationalError) as ended:
                conn.execute(text("SELECT 1"))
        outage = classify(ended.value)
        assert outage is not None and outage.kind is OutageKind.DATABASE, ended.value
        # A bad statement is no outage.
        with pytest.raises(ProgrammingError) as bad, engine.connect() as conn:
            conn.execute(text("SELECT nope FROM nowhere"))
        assert classify(bad.value) is None
        engine.dispose()
        # The server's own words for a full disk (SQLSTATE 53100), raised by the server itself.
        with psycopg.connect(url) as conn, pytest.raises(psycopg.errors.DiskFull) as disk:
            conn.execute(
                "DO $$ BEGIN RAISE EXCEPTION USING ERRCODE = 'disk_full', "
                "MESSAGE = 'could not extend file \"base/1/2\": No space left on device'; END $$"
            )
        outage = classify(disk.value)
        assert outage is not None and outage.kind is OutageKind.STORAGE and outage.status == 507


def test_health_logs_one_line_per_change_and_backs_off(caplog: pytest.LogCaptureFixture) -> None:
    now = [100.0]
    health = DatabaseHealth(clock=lambda: now[0])
    caplog.set_level(logging.INFO, logger=HEALTH_LOG)
    with DbProxy() as proxy:
        pass
    engine = create_engine(f"postgresql+psycopg://postgres@127.0.0.1:{proxy.port}/test")
    delays = []
    for _ in range(12):
        with pytest.raises(OperationalError) as exc, engine.connect():
            pass
        assert health.failed(exc.value) is not None
        assert health.failed(exc.value) is not None  # the same failure reported twice counts once
        assert not health.may_try()
        delays.append(health.wait_seconds())
        now[0] += delays[-1]
        assert health.may_try()
    assert 0.025 <= delays[0] <= 0.05 and delays[1] <= 0.1
    assert all(MAX_DELAY / 2 <= d <= MAX_DELAY for d in delays[-3:]), delays
    assert all(0.5 * min(MAX_DELAY, 0.05 * 2**i) <= d for i, d in enumerate(delays))
    health.holding("task-1", 40)
    health.holding("task-2", 2)
    health.answered()  # a statement ran: the server is back
    assert health.outage is None and health.may_try()
    lines = [r.getMessage() for r in caplog.records if r.name == HEALTH_LOG]
    assert len(lines) == 2, lines
    assert lines[0].startswith("database unavailable: connection refused")
    assert "database available again after" in lines[1] and "42 ops held by 2 tasks" in lines[1]
    assert not any(r.exc_info for r in caplog.records)
    assert 0 < backoff(100) <= MAX_DELAY


def test_a_new_failure_counts_though_it_took_a_freed_ones_address() -> None:
    """Each failure freed before the next is raised, as a caller's would be: the next may get its address (its
    id()), which DatabaseHealth once took for the same failure reported twice — the backoff stood still at
    its first step and every caller tried again at once."""
    now = [0.0]
    health = DatabaseHealth(clock=lambda: now[0])
    delays = []
    for _ in range(12):
        assert health.failed(sqlite3.OperationalError("unable to open database file")) is not None
        delays.append(health.wait_seconds())
        now[0] += delays[-1]
    assert all(d > 0 for d in delays), delays
    assert all(MAX_DELAY / 2 <= d <= MAX_DELAY for d in delays[-3:]), delays


def test_the_scheduler_keeps_quiet_about_skips_an_outage_explains(caplog: pytest.LogCaptureFixture) -> None:
    """On a busy machine every periodic job waited on the away database at once, and APScheduler logged a
    "skipped: maximum number of running instances reached" for each beside the one "database unavailable"
    line (8 warnings in one outage, the outage test allows 6). They are dropped while the database is away and
    just after; a skip with the database up still logs."""
    from worker.schedlog import AFTER_OUTAGE_S, scheduler_logger

    now = [0.0]
    health = DatabaseHealth(clock=lambda: now[0])
    logger = scheduler_logger(f"quiet-{id(health)}", health)
    skip = 'Execution of job "heartbeat" skipped: maximum number of running instances reached (1)'
    caplog.set_level(logging.WARNING, logger=logger.name)

    def logged() -> list[str]:
        return [r.getMessage() for r in caplog.records if r.name == logger.name]

    logger.warning(skip)
    assert logged() == [skip]  # the database up: a job outran its interval, worth saying
    assert health.failed(sqlite3.OperationalError("unable to open database file")) is not None
    logger.warning(skip)
    logger.warning("another warning")
    assert logged() == [skip, "another warning"]  # the outage's skip dropped, nothing else
    health.succeeded()
    logger.warning(skip)
    now[0] += AFTER_OUTAGE_S + 1
    logger.warning(skip)
    assert logged() == [skip, "another warning", skip]  # just after: still the outage's; later: logged


def test_health_remembers_a_full_disk_until_a_write_commits(tmp_path: Path) -> None:
    now = [0.0]
    health = DatabaseHealth(clock=lambda: now[0])
    engine = create_engine(f"sqlite:///{tmp_path}/f.db")
    with pytest.raises(OperationalError) as full, engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA max_page_count = 2")
        conn.execute(text("CREATE TABLE t (x)"))
        for _ in range(50):
            conn.execute(text("INSERT INTO t VALUES (randomblob(2000))"))
    health.failed(full.value)
    assert health.storage_full() is not None
    health.answered()  # reads still work on a full disk: not a recovery
    assert health.storage_full() is not None
    now[0] += 61
    assert health.storage_full() is None, "forgotten after a minute without another failure"
    assert health.outage is not None
    health.succeeded()
    assert health.outage is None


# ---- the web process while PostgreSQL is away ------------------------------------------------------
@pytest.fixture
def proxied_pg() -> Iterator[tuple[DbProxy, str, str]]:
    """A throw-away PostgreSQL database, reached through a proxy that the test can cut: (proxy, the URL
    through it, the direct URL)."""
    with pg_database() as direct, DbProxy() as proxy:
        yield proxy, proxy.url(direct), direct


def test_web_answers_503_while_postgresql_is_away(
    proxied_pg: tuple[DbProxy, str, str], caplog: pytest.LogCaptureFixture
) -> None:
    proxy, url, direct = proxied_pg
    svc = _services(url)
    client = api_client(svc)
    caplog.set_level(logging.INFO)
    try:
        _online_worker(svc.recorder)
        acknowledged = []
        response = _post_task(client, "before")
        assert response.status_code == 201, response.get_data(as_text=True)
        acknowledged.append(response.get_json()["id"])
        assert client.get(f"{API}/ready").status_code == 200

        proxy.cut()
        for i in range(3):
            response = _post_task(client, f"during {i}")
            assert response.status_code == 503, response.get_data(as_text=True)
            assert int(response.headers["Retry-After"]) > 0
            error = _error(response)
            assert error["code"] == "database_unavailable", error
            assert error["details"]["retry_after"] == int(response.headers["Retry-After"])
        # Reads too.
        for path in ("/tasks", "/calls"):
            response = client.get(f"{API}{path}")
            assert response.status_code == 503 and _error(response)["code"] == "database_unavailable"
            assert int(response.headers["Retry-After"]) > 0
        ready = client.get(f"{API}/ready")
        assert ready.status_code == 503 and "Retry-After" in ready.headers
        body = ready.get_json()
        assert body["checks"]["database"]["code"] == "database_unavailable", body
        assert body["reasons"][0].startswith("database: database unavailable"), body
        # Outside the API: a CSV download, a report file, a Dash callback — no 500 anywhere.
        for table in ("tasks", "calls"):
            export = client.get(f"/export/{table}.csv")
            assert export.status_code == 503 and "Retry-After" in export.headers
            assert _error(export)["code"] == "database_unavailable"
        report = client.get("/reports/files/1/report.html")
        assert report.status_code == 503 and "Retry-After" in report.headers
        assert report.mimetype == "text/plain" and "unavailable" in report.get_data(as_text=True)
        callback = client.post(
            "/_dash-update-component",
            json={
                "output": f"{ids.TOASTS}.children",
                "outputs": {"id": ids.TOASTS, "property": "children"},
                "inputs": [
                    {
                        "id": ids.SIGNAL,
                        "property": "data",
                        "value": {"finished": [{"task_id": 1, "to": "failed"}]},
                    }
                ],
                "changedPropIds": [f"{ids.SIGNAL}.data"],
                "state": [],
            },
        )
        assert callback.status_code == 503 and "Retry-After" in callback.headers, callback.get_data(
            as_text=True
        )
        assert _error(callback)["code"] == "database_unavailable"

        proxy.restore()

        def accepted() -> int | None:
            response = _post_task(client, "after")
            return response.get_json()["id"] if response.status_code == 201 else None

        acknowledged.append(wait_until(accepted, 30, "the API to accept tasks again"))
        ready = client.get(f"{API}/ready")
        assert ready.status_code == 200, ready.get_json()
        assert client.get("/export/tasks.csv").status_code == 200
    finally:
        svc.db.dispose()
    # Every acknowledged task is stored, nothing refused is.
    check = open_database(direct)
    try:
        with check.reading() as session:
            stored = session.scalars(select(Task.id).order_by(Task.id)).all()
        assert stored == acknowledged
    finally:
        check.dispose()
    lines = [r.getMessage() for r in caplog.records if r.name == HEALTH_LOG]
    assert len([line for line in lines if line.startswith("database unavailable")]) == 1, lines
    assert len([line for line in lines if line.startswith("database available again")]) == 1, lines
    assert not [r for r in caplog.records if r.exc_info], "no traceback for an outage"


# ---- a full disk under SQLite ----------------------------------------------------------------------
def test_full_disk_answers_507_and_ready_says_storage(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "fs") as folder:
        url = sqlite_database(folder)
        svc = _services(url)
        client = api_client(svc)
        filler: Path | None = None
        try:
            _online_worker(svc.recorder)
            first = _post_task(client, "fits")
            assert first.status_code == 201
            ready = client.get(f"{API}/ready")
            assert ready.status_code == 200, ready.get_json()
            assert ready.get_json()["checks"]["storage"]["ok"] is True

            filler = fill(folder)
            # The disk is full before any write fails: /ready sees it from the free space.
            ready = client.get(f"{API}/ready")
            assert ready.status_code == 503 and "Retry-After" in ready.headers
            assert ready.get_json()["checks"]["storage"]["code"] == "storage_full", ready.get_json()
            assert ready.get_json()["checks"]["database"]["ok"] is True  # it still answers reads

            def refused() -> Any:
                # The WAL may still hold room for a few commits: write until one does not fit.
                response = _post_task(client, "x" * 200)
                return response if response.status_code != 201 else None

            response = wait_until(refused, 60, "a write to fail on the full disk", interval=0)
            assert response.status_code == 507, response.get_data(as_text=True)
            assert int(response.headers["Retry-After"]) > 0
            assert _error(response)["code"] == "storage_full"
            assert svc.db.health.storage_full() is not None

            filler.unlink()
            filler = None
            response = wait_until(
                lambda: (r := _post_task(client, "after")).status_code == 201 and r,
                30,
                "writes to work again",
            )
            ready = client.get(f"{API}/ready")
            assert ready.status_code == 200, ready.get_json()
            assert svc.db.health.outage is None
        finally:
            if filler is not None:
                filler.unlink()
            svc.db.dispose()


# ---- a real worker riding out an outage ------------------------------------------------------------
CHATTY = r"""
import os, sys, time
go, done = sys.argv[1], sys.argv[2]
for i in range(50):
    print(f"line {i}", flush=True)
while not os.path.exists(go):
    time.sleep(0.01)
for i in range(50, 650):
    print(f"line {i}", flush=True)
    time.sleep(0.002)
open(done, "w").close()
"""


def test_worker_holds_its_output_through_an_outage_and_logs_two_lines(
    proxied_pg: tuple[DbProxy, str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    proxy, url, direct = proxied_pg
    db = open_database(url)
    hub = Hub()
    recorder = Recorder(db, hub)
    settings = Settings(
        database_url=url, heartbeat_seconds=0.5, lease_seconds=60, sweep_seconds=0.5, poll_seconds=0.5
    )
    worker = Worker(settings, db, recorder, hub)
    observer = open_database(direct)  # the test's own view, never through the proxy
    go, done = tmp_path / "go", tmp_path / "done"
    caplog.set_level(logging.INFO)
    try:
        worker.start()
        task_id = recorder.submit(
            TaskSpec(
                title="chatty",
                kind=TaskKind.COMMAND,
                payload={"command": [sys.executable, "-c", CHATTY, str(go), str(done)]},
            )
        )

        def lines() -> list[str]:
            with observer.reading() as session:
                return [a.message for a in history.activity(session, task_id)]

        wait_until(lambda: len(lines()) >= 50, 30, "the first 50 lines")
        outage_began = len(caplog.records)
        proxy.cut()
        go.touch()  # 600 more lines, all printed while the database is away
        wait_until(done.exists, 30, "the command to print everything")
        # It ran through its output and ended during the outage: keep the database away a little longer so
        # that every loop (flush, heartbeat, claim poll, sweeps, report runner) meets it a few times.
        deadline = time.monotonic() + 2.0
        wait_until(lambda: time.monotonic() >= deadline, 10, "two seconds of outage")
        assert len(lines()) < 650, "written while the database was away?"
        proxy.restore()

        wait_until(
            lambda: load_task(observer, task_id).status == TaskStatus.COMPLETED.value,
            60,
            "the task to complete after the outage",
        )
        assert lines() == [f"line {i}" for i in range(650)]
        with observer.reading() as session:
            assert session.scalar(select(func.count()).select_from(Task)) == 1
    finally:
        worker.stop(timeout=10)
        db.dispose()
        observer.dispose()
    during = caplog.records[outage_began:]
    messages = [r.getMessage() for r in during if r.levelno >= logging.WARNING]
    down = [m for m in messages if m.startswith("database unavailable")]
    up = [m for m in messages if m.startswith("database available again")]
    assert len(down) == 1 and len(up) == 1, messages
    assert "ops held by" in up[0]
    tracebacks = [f"{r.name}: {r.getMessage()}" for r in during if r.exc_info]
    assert not tracebacks, tracebacks
    assert len(messages) <= 6, messages


SLOW = r"""
import os, sys, time
go = sys.argv[1]
print("before", flush=True)
while not os.path.exists(go):
    time.sleep(0.01)
for i in range(20):
    print(f"during {i}", flush=True)
print("after", flush=True)
"""


def test_an_outage_longer_than_the_lease_does_not_cost_the_running_task(
    proxied_pg: tuple[DbProxy, str, str], tmp_path: Path
) -> None:
    """Nobody could renew a lease while the database was away: after it, workers renew before they sweep, so
    the running command is neither killed nor run again, and its lines all arrive."""
    proxy, url, direct = proxied_pg
    db = open_database(url)
    hub = Hub()
    recorder = Recorder(db, hub)
    # The sweep looks far more often than the heartbeat renews: without a grace period it would win the race.
    settings = Settings(
        database_url=url, heartbeat_seconds=1.0, lease_seconds=2, sweep_seconds=0.1, poll_seconds=0.5
    )
    worker = Worker(settings, db, recorder, hub)
    observer = open_database(direct)
    go = tmp_path / "go"
    try:
        worker.start()
        task_id = recorder.submit(
            TaskSpec(
                title="long",
                kind=TaskKind.COMMAND,
                payload={"command": [sys.executable, "-c", SLOW, str(go)]},
                max_attempts=3,
            )
        )

        def lines() -> list[str]:
            with observer.reading() as session:
                return [a.message for a in history.activity(session, task_id)]

        wait_until(lambda: lines() == ["before"], 30, "the first line")
        proxy.cut()
        go.touch()
        # Away for more than a lease: every lease in the database has lapsed by the time it is back.
        with observer.reading() as session:
            expires = session.scalar(select(Task.lease_expires_at).where(Task.id == task_id))
        assert expires is not None

        def lapsed() -> bool:
            with observer.reading() as session:
                return bool(session.scalar(select(func.now() > expires)))

        wait_until(lapsed, 30, "the lease to lapse")
        proxy.restore()
        wait_until(
            lambda: load_task(observer, task_id).status == TaskStatus.COMPLETED.value,
            60,
            "the task to complete after the outage",
            describe=lambda: f"task is {load_task(observer, task_id).status}, lines {lines()}",
        )
        task = load_task(observer, task_id)
        assert task.attempt == 1, "run again after the outage"
        assert lines() == ["before", *(f"during {i}" for i in range(20)), "after"]
    finally:
        worker.stop(timeout=10)
        db.dispose()
        observer.dispose()


# ---- the change feed's LISTEN connection -------------------------------------------------------------------
def test_listen_reconnects_say_one_line_per_outage(
    proxied_pg: tuple[DbProxy, str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """It used to log a traceback on every reconnect attempt (every 0.5–10 s for as long as the outage lasts);
    now one line when the connection is lost and one when it is back, and wake-ups resume."""
    import threading

    from db.core.engine import normalize_url, psycopg_dsn
    from db.live.changefeed import PgListener

    proxy, url, _direct = proxied_pg
    caplog.set_level(logging.INFO, logger="db.live.changefeed")
    hub, stop = Hub(), threading.Event()
    listener = PgListener(psycopg_dsn(normalize_url(url)), hub, stop)
    listener.start()
    try:
        wait_until(listener.connected.is_set, what="LISTEN to connect")
        proxy.cut()
        wait_until(lambda: not listener.connected.is_set(), what="the listener to notice")
        # Several reconnect attempts go by (after 0.5 s, 1 s, 2 s…) while the database is away.
        stop.wait(4.0)
        proxy.restore()
        wait_until(listener.connected.is_set, timeout=30, what="LISTEN to reconnect")
    finally:
        stop.set()
        listener.join(timeout=5)
    records = [r for r in caplog.records if r.name == "db.live.changefeed"]
    assert not any(r.exc_info for r in records), [r.getMessage() for r in records]
    messages = [r.getMessage() for r in records]
    assert len([m for m in messages if "LISTEN connection lost" in m]) == 1, messages
    assert len([m for m in messages if "LISTEN connection back" in m]) == 1, messages
