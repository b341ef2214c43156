"""Data layer: when the database cannot be used — one classification of failures (the database is away, or its
storage is full) and, per open Database, a DatabaseHealth that remembers the outage, paces retries with
exponential backoff and logs one line when an outage begins and one when it ends."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import psycopg
from sqlalchemy import Engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, ExceptionContext
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

# Seconds a client is told to wait (Retry-After). A lock clears in moments; a server restarts in seconds; a
# full disk needs a person.
RETRY_LOCKED, RETRY_DATABASE, RETRY_STORAGE = 2, 5, 60
# Retries of a worker: 50 ms, doubling, at most 5 s apart (each jittered down to half, so N workers spread out).
FIRST_DELAY, MAX_DELAY = 0.05, 5.0
# A write that failed for lack of space is remembered this long (or until a write succeeds): a process that
# writes nothing more would otherwise call the storage full forever.
REMEMBER_STORAGE_SECONDS = 60.0
# An SQLite file's filesystem with less free space than this is full: the next checkpoint or WAL growth fails.
MIN_FREE_BYTES = 1 << 20

_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_IOERR, _SQLITE_FULL, _SQLITE_CANTOPEN = 5, 6, 10, 13, 14
_PG_STATES = {
    "57P01": "the database server is shutting down",  # admin_shutdown
    "57P02": "the database server crashed",  # crash_shutdown
    "57P03": "the database server is starting up",  # cannot_connect_now
    "53300": "the database server has too many connections",  # too_many_connections
}
_PG_DISK_FULL = "53100"
_NO_SPACE = ("No space left on device", "could not extend file")


DATABASE_ERRORS: tuple[type[BaseException], ...] = (sa_exc.SQLAlchemyError, sqlite3.Error, psycopg.Error)
NOTED = "_tasklens_noted"  # set on a database error once DatabaseHealth has counted it


class OutageKind(StrEnum):
    DATABASE = "database_unavailable"
    STORAGE = "storage_full"


@dataclass(frozen=True)
class Outage:
    """Why the database cannot be used now. `reason` is a short phrase safe to show any client; `detail` is
    the driver's own first line, for the log only (it may name hosts and files)."""

    kind: OutageKind
    reason: str
    retry_after: int
    detail: str = ""

    @property
    def status(self) -> int:
        """503 Service Unavailable, or 507 Insufficient Storage for a full disk."""
        return 507 if self.kind is OutageKind.STORAGE else 503

    @property
    def message(self) -> str:
        if self.kind is OutageKind.STORAGE:
            return f"the database cannot store more data ({self.reason}); retry after {self.retry_after} s"
        return f"the database is unavailable ({self.reason}); retry after {self.retry_after} s"


def classify(exc: BaseException) -> Outage | None:
    """Is `exc` (a SQLAlchemy error, a driver's error, or an OSError) the database being away or out of
    space? None for anything else — a bad statement, a constraint, a bug — which stays an error."""
    for e in _chain(exc):
        found = _classify_one(e)
        if found is not None:
            return found
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return _database("the connection to the database was lost", exc)
    return None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, the driver's error it wraps (`orig`) and explicit causes — not `__context__`, which may
    be an unrelated error that was being handled when this one happened."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo and len(seen) < 8:
        e = todo.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        for nxt in (getattr(e, "orig", None), e.__cause__):
            if isinstance(nxt, BaseException):
                todo.append(nxt)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def _database(reason: str, exc: BaseException, retry_after: int = RETRY_DATABASE) -> Outage:
    return Outage(OutageKind.DATABASE, reason, retry_after, _first_line(exc))


def _storage(reason: str, exc: BaseException) -> Outage:
    return Outage(OutageKind.STORAGE, reason, RETRY_STORAGE, _first_line(exc))


def _classify_one(e: BaseException) -> Outage | None:
    if isinstance(e, sa_exc.TimeoutError):  # the pool had no free connection in time: busy, not broken
        return _database("no free database connection", e)
    if isinstance(e, sqlite3.Error):
        return _sqlite(e)
    if isinstance(e, psycopg.Error):
        return _postgres(e)
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
        return _storage("no space left on device", e)
    return None


def _sqlite(e: sqlite3.Error) -> Outage | None:
    code = getattr(e, "sqlite_errorcode", None)
    primary = code & 0xFF if isinstance(code, int) else None
    text = str(e)
    if primary == _SQLITE_FULL or "database or disk is full" in text:
        return _storage("database or disk is full", e)
    if primary in (_SQLITE_BUSY, _SQLITE_LOCKED) or "database is locked" in text:
        # Another writer held the lock for longer than the busy timeout: transient, so 503 and retry.
        return _database("the database is locked by another writer", e, RETRY_LOCKED)
    if primary == _SQLITE_IOERR or "disk I/O error" in text:
        return _database("disk I/O error", e)
    if primary == _SQLITE_CANTOPEN or "unable to open database file" in text:
        return _database("cannot open the database file", e)
    return None


def _postgres(e: psycopg.Error) -> Outage | None:
    state = e.sqlstate
    text = str(e)
    if state == _PG_DISK_FULL or any(marker in text for marker in _NO_SPACE):
        return _storage("the database server's disk is full", e)
    if state in _PG_STATES:
        return _database(_PG_STATES[state], e)
    if state is not None and state.startswith("08"):  # class 08: connection exception
        return _database("the connection to the database failed", e)
    if state is None and isinstance(e, psycopg.OperationalError):
        # No SQLSTATE: libpq could not connect, or the socket broke under a statement.
        if "refused" in text:
            return _database("connection refused", e)
        if "timeout" in text or "timed out" in text:
            return _database("connection timed out", e)
        return _database("the connection to the database was lost", e)
    if isinstance(e, psycopg.InterfaceError) and "connection" in text.lower():
        return _database("the connection to the database was lost", e)
    return None


def backoff(failures: int, first: float = FIRST_DELAY, cap: float = MAX_DELAY) -> float:
    """Seconds to wait after the `failures`-th failure in a row: first, doubling, capped, and jittered down
    to between half and all of that so that many waiters do not come back in step."""
    delay: float = min(cap, first * 2.0 ** min(max(failures, 1) - 1, 30))
    return delay * random.uniform(0.5, 1.0)


def free_bytes(url: URL) -> int | None:
    """Free space (for an unprivileged user) of the filesystem holding an SQLite file; None for PostgreSQL,
    whose disk a client cannot see, and for an in-memory database."""
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    folder = os.path.dirname(os.path.abspath(url.database))
    st = os.statvfs(folder)
    return st.f_bavail * st.f_frsize


class DatabaseHealth:
    """What this process last learnt about one database: whether it is in an outage (and which), since when,
    and when to try it next. Fed by the engines' own events (watch), so every caller of the database — web
    requests, the worker's flushes and jobs — reports to it without saying so; read by the web layer (/ready)
    and by the worker's loops (may_try: wait out the backoff instead of hammering a database that is away).
    Logs ONE line when an outage begins, one if its kind changes, and one when it ends."""

    def __init__(
        self,
        *,
        first_delay: float = FIRST_DELAY,
        max_delay: float = MAX_DELAY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.first_delay, self.max_delay, self._clock = first_delay, max_delay, clock
        self._lock = threading.Lock()
        self._outage: Outage | None = None
        self._since = 0.0
        self._last_failure = 0.0
        self._failures = 0
        self._next_try = 0.0
        self._held: dict[Hashable, int] = {}
        self._recovered_at: float | None = None

    # what happened -------------------------------------------------------------------------------------
    def failed(self, exc: BaseException) -> Outage | None:
        """An operation failed with `exc`: its outage, if it is one. A database's error is noted (and pushes
        the next try back) once, however many callers report it: the engine's hook sees the driver's error
        first, the caller then reports SQLAlchemy's wrapper of it. A full disk met outside the database (an
        OSError writing a file) is returned but not noted: that is not this database's storage."""
        outage = classify(exc)
        if outage is None or not isinstance(exc, DATABASE_ERRORS):
            return outage
        root = getattr(exc, "orig", None) or exc
        with self._lock:
            if getattr(root, NOTED, False):
                return outage
            # Marked on the error itself, not remembered by its id(): a failure freed before the next is
            # raised may leave its address to it, which then counted as reported (the backoff stood still and
            # every caller retried at once), and keeping the error would keep its frames (a connection) alive.
            with contextlib.suppress(AttributeError, TypeError):
                setattr(root, NOTED, True)
        self.note(outage)
        return outage

    def note(self, outage: Outage) -> None:
        with self._lock:
            now = self._clock()
            before = self._outage
            if before is None:
                self._since, self._failures = now, 0
                log.warning("database unavailable: %s (%s)", outage.reason, outage.detail)
            elif before.kind is not outage.kind:
                log.warning(
                    "database unavailable: %s (%s; before: %s)", outage.reason, outage.detail, before.reason
                )
            self._outage = outage
            self._last_failure = now
            if now >= self._next_try:
                # A failed try: the next waits longer. Failures of callers that do not wait for their turn
                # (a web request, a periodic job) do not push the schedule further out.
                self._failures += 1
                self._next_try = now + backoff(self._failures, self.first_delay, self.max_delay)

    def holding(self, holder: Hashable, count: int) -> None:
        """`holder` keeps `count` ops back until the database is usable again (said in the recovery line)."""
        with self._lock:
            if count:
                self._held[holder] = count
            else:
                self._held.pop(holder, None)

    def succeeded(self) -> None:
        """A write committed: whatever the outage was, it is over."""
        if self._outage is not None:  # read without the lock: the common case costs one attribute read
            self._recover(storage_too=True)

    def answered(self) -> None:
        """A statement ran: the server is reachable again, though a full disk may still refuse writes."""
        outage = self._outage
        if outage is not None and outage.kind is OutageKind.DATABASE:
            self._recover(storage_too=False)

    def _recover(self, *, storage_too: bool) -> None:
        with self._lock:
            outage = self._outage
            if outage is None or (outage.kind is OutageKind.STORAGE and not storage_too):
                return
            down, failures = self._clock() - self._since, self._failures
            held, holders = sum(self._held.values()), len(self._held)
            self._outage, self._failures, self._next_try = None, 0, 0.0
            self._held.clear()
            self._recovered_at = self._clock()
        log.warning(
            "database available again after %.1f s (was: %s); %d failed tries; %d ops held by %d tasks",
            down,
            outage.reason,
            failures,
            held,
            holders,
        )

    # what callers ask ----------------------------------------------------------------------------------
    @property
    def outage(self) -> Outage | None:
        return self._outage

    def may_try(self) -> bool:
        """False while an outage's backoff runs: callers keep their work and try again later."""
        return self._outage is None or self._clock() >= self._next_try

    def wait_seconds(self) -> float:
        """Seconds until the next try is due (0 when it is)."""
        if self._outage is None:
            return 0.0
        return max(0.0, self._next_try - self._clock())

    def down_for(self) -> float:
        return self._clock() - self._since if self._outage is not None else 0.0

    def settling(self, seconds: float) -> bool:
        """True during an outage and for `seconds` after it: time for everyone cut off to catch up (renew
        leases, beat their hearts) before anything is judged by what they could not write."""
        if self._outage is not None:
            return True
        return self._recovered_at is not None and self._clock() - self._recovered_at < seconds

    def storage_full(self, within: float = REMEMBER_STORAGE_SECONDS) -> Outage | None:
        """The storage outage, if a write failed for lack of space within `within` seconds and none
        committed since."""
        outage = self._outage
        if outage is None or outage.kind is not OutageKind.STORAGE:
            return None
        return outage if self._clock() - self._last_failure <= within else None

    # how it learns -------------------------------------------------------------------------------------
    def watch(self, engines: tuple[Engine, ...], writes: sessionmaker[Session]) -> None:
        """Listen to the engines (a failing statement or connection; a statement that ran) and to the write
        sessions (a commit)."""
        for engine in dict.fromkeys(engines):  # PostgreSQL's read and write engine are one
            event.listen(engine, "handle_error", self._on_error)
            event.listen(engine, "after_cursor_execute", self._on_statement)
        event.listen(writes, "after_commit", self._on_commit)

    def _on_error(self, context: ExceptionContext) -> None:
        if context.is_pre_ping:  # a stale pooled connection: the pool just opens a new one
            return
        self.failed(context.original_exception)

    def _on_statement(self, *_args: Any) -> None:
        if self._outage is not None:
            self.answered()

    def _on_commit(self, _session: Session) -> None:
        if self._outage is not None:
            self.succeeded()
