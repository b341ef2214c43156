"""Data layer: engines and sessions for SQLite (WAL, BEGIN IMMEDIATE writers) and PostgreSQL (psycopg 3)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from db.core.unavailable import DatabaseHealth
from db.core.writelock import GatedConnection, begin_immediate, gate_for
from db.core.writestats import CommitStats
from db.write.redact import INFO_KEY, Redactor

SQLITE_BUSY_TIMEOUT_MS = 30_000
WAL_LIMIT_BYTES = 64 * 1024 * 1024
POOL_TIMEOUT_SECONDS = 10.0
# JSON columns (payloads, results, tags) without json.dumps's blanks after ',' and ':': the same value, ~2 bytes
# less per key in every stored row (issue 17); readers parse it alike.
COMPACT_JSON = partial(json.dumps, separators=(",", ":"))


@dataclass
class Database:
    """Both engines of one database. On SQLite readers and writers get separate pools so that a
    dashboard read never takes the write lock; on PostgreSQL they share one engine."""

    url: URL
    write_engine: Engine
    read_engine: Engine
    write_session: sessionmaker[Session]
    read_session: sessionmaker[Session]
    stats: CommitStats
    # Whether the database is in an outage as this process sees it (db/core/unavailable.py); fed by the engines.
    health: DatabaseHealth = field(default_factory=DatabaseHealth)

    @property
    def dialect(self) -> str:
        return self.write_engine.dialect.name

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """One write transaction: commits on success, rolls back on any exception."""
        with self.write_session.begin() as session:
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        with self.read_session() as session:
            yield session

    def dispose(self) -> None:
        self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            self.read_engine.dispose()


def normalize_url(raw: str) -> URL:
    url = make_url(raw)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def psycopg_dsn(url: URL) -> str:
    """A libpq connection string for raw psycopg connections (LISTEN)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def open_database(
    raw_url: str,
    *,
    pool_size: int = 10,
    max_overflow: int = 5,
    busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
    redact: Sequence[str] = (),
) -> Database:
    """Both engines of the database at `raw_url`. On PostgreSQL the process opens at most
    pool_size + max_overflow connections (TASKLENS_DB_POOL_SIZE, TASKLENS_DB_MAX_OVERFLOW); a request that
    finds them all busy waits for one, up to POOL_TIMEOUT_SECONDS. On SQLite a writer waits up to
    `busy_timeout_ms` for the write lock, then fails with "database is locked"."""
    url = normalize_url(raw_url)
    stats = CommitStats()
    if url.get_backend_name() == "sqlite":
        write_engine = _sqlite_engine(url, immediate=True, busy_timeout_ms=busy_timeout_ms)
        read_engine = _sqlite_engine(url, immediate=False, busy_timeout_ms=busy_timeout_ms)
    elif url.get_backend_name() == "postgresql":
        write_engine = create_engine(
            url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            pool_timeout=POOL_TIMEOUT_SECONDS,
            pool_pre_ping=True,
            pool_recycle=1800,
            json_serializer=COMPACT_JSON,
        )
        event.listen(write_engine, "before_cursor_execute", _without_nul, retval=True)
        read_engine = write_engine
    else:
        raise ValueError(f"unsupported database {url.get_backend_name()!r}: use sqlite or postgresql")
    # TASKLENS_REDACT rides on every write session, where the write path (db/write/writes.py) applies it once.
    info = {INFO_KEY: Redactor(redact)} if redact else {}
    write_session = sessionmaker(write_engine, expire_on_commit=False, info=info)
    read_session = sessionmaker(read_engine, expire_on_commit=False)
    stats.attach(write_session)
    health = DatabaseHealth()
    health.watch((write_engine, read_engine), write_session)
    return Database(url, write_engine, read_engine, write_session, read_session, stats, health)


def _sqlite_engine(url: URL, *, immediate: bool, busy_timeout_ms: int) -> Engine:
    on_disk = bool(url.database) and url.database != ":memory:"
    if on_disk:
        Path(str(url.database)).parent.mkdir(parents=True, exist_ok=True)
    # Writers to a file take its lock through this process's gate (db/core/writelock.py), never through SQLite's
    # busy handler, whose sleeps grow to 100 ms: with another process writing, a worker flush waited 593 ms
    # behind transactions that held the lock for 474 ms at most (bench/bench_latency_contended.py).
    gated = immediate and on_disk
    connect_args: dict[str, Any] = {"timeout": busy_timeout_ms / 1000, "check_same_thread": False}
    if gated:
        connect_args["factory"] = GatedConnection
    engine = create_engine(
        url, connect_args=connect_args, pool_size=8, max_overflow=16, json_serializer=COMPACT_JSON
    )
    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the driver so that we can say BEGIN IMMEDIATE ourselves:
        # a deferred BEGIN that later writes fails with "database is locked" under concurrent writers.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        # Before the first table exists (a new file) this makes pages freed by pruning returnable to the file
        # system a few at a time (db/lifecycle/retention.py runs incremental_vacuum); an older file keeps its mode until
        # `python app.py vacuum`.
        if cur.execute("PRAGMA page_count").fetchone()[0] == 0:  # on a file in use it would wait for the lock
            cur.execute("PRAGMA auto_vacuum=INCREMENTAL")
        cur.execute("PRAGMA journal_mode=WAL")
        # Each time the WAL restarts from its beginning (after a complete checkpoint), the file is cut back to
        # this size: without it a WAL that once grew under load (522 MB seen) never shrank (db/lifecycle/walcheck.py).
        cur.execute(f"PRAGMA journal_size_limit={WAL_LIMIT_BYTES}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        # Page cache per connection: 16 MB for writers; 4 MB for readers, of which a web process may hold a
        # dozen at once (analytics read small rollups; the OS caches the file anyway). Large sorts spill to
        # temporary files rather than RAM (the default), which keeps a web process small.
        cur.execute(f"PRAGMA cache_size=-{16000 if immediate else 4000}")
        # A gated writer's tries at the lock must answer at once (begin_immediate waits between them); the
        # pragmas above, which may need the lock on a new file, still had the busy timeout.
        cur.execute(f"PRAGMA busy_timeout={0 if gated else busy_timeout_ms}")
        if gated:  # it checkpoints after letting go of the gate instead (db/core/writelock.py)
            cur.execute("PRAGMA wal_autocheckpoint=0")
        cur.close()

    if gated:
        gate, timeout = gate_for(str(url.database)), busy_timeout_ms / 1000

        @event.listens_for(engine, "begin")
        def _on_begin_gated(conn: Any) -> None:
            begin_immediate(conn, gate, timeout)

    else:

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql(begin)

    return engine


# PostgreSQL text cannot hold NUL (U+0000): a title, an output line or a filter containing one would make the
# statement fail. Every string parameter has it replaced by U+FFFD on the way in, reads included, so a filter
# matches what was stored. SQLite keeps NUL as it is. (NUL inside JSON text is the escape \u0000, which
# PostgreSQL's json type stores as it is.)
NUL, REPLACEMENT = "\x00", "\ufffd"


def _without_nul(
    _conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _executemany: bool
) -> tuple[str, Any]:
    if _has_nul(parameters):
        parameters = _replace_nul(parameters)
    return statement, parameters


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(_has_nul(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


def _replace_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace(NUL, REPLACEMENT)
    if isinstance(value, dict):
        return {k: _replace_nul(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_nul(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_replace_nul(v) for v in value)
    return value
