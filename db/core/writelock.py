"""Data layer: SQLite's write lock taken without oversleeping — the writers of one process queue on one
process-local lock per database file, and the writer at its front retries BEGIN IMMEDIATE every few
milliseconds instead of sleeping in SQLite's busy handler.

Why: SQLite's busy handler (sqlite3_busy_timeout, which Python's `timeout=` sets) sleeps 1, 2, 5, 10, 15, 20,
25, 25, 25, 50, 50 and then 100 ms at a time, and never hears the lock being released. A writer that has waited
a quarter of a second then finds the lock only at its next 100 ms wake-up, often after a newer waiter (still
polling every few ms) has taken it again: with the all-in-one's threads and a second process writing, a worker
flush waited 593 ms behind transactions that held the lock for 474 ms at most, and a periodic job 1.4 s.
Here the threads of one process wait on a threading.Lock, which hands over at once, and only the one at its
front asks SQLite, with sleeps never longer than MAX_SLEEP_SECONDS; other processes are still kept out by
SQLite's own lock."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from typing import Any

from sqlalchemy import Connection

BEGIN_IMMEDIATE = "BEGIN IMMEDIATE"
# Between two tries at another process's lock: short enough that a lock released by another process is ours
# within a couple of milliseconds, long enough that a waiting process costs ~1% of a core (a try is a few
# file-lock system calls).
FIRST_SLEEP_SECONDS = 0.000_25
MAX_SLEEP_SECONDS = 0.002
# A gated writer's connection does not checkpoint inside its COMMIT (SQLite's automatic checkpoint runs there,
# after the write lock is free, but it would keep this process's gate and so its other writers waiting for
# the fsyncs): it checkpoints (PASSIVE: never waits, never blocks a writer) after letting go, every so many
# commits or seconds per file and process (a small commit writes 2-4 pages: about SQLite's 1,000-page default).
CHECKPOINT_EVERY_COMMITS = 400
CHECKPOINT_EVERY_SECONDS = 0.5


class WriteGate:
    """The write lock of one SQLite file within this process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._next_checkpoint = 0.0
        self._commits = 0

    def checkpoint_due(self) -> bool:
        """Called after each commit (racing callers at worst checkpoint twice)."""
        self._commits += 1
        now = time.monotonic()
        if now < self._next_checkpoint and self._commits < CHECKPOINT_EVERY_COMMITS:
            return False
        self._next_checkpoint, self._commits = now + CHECKPOINT_EVERY_SECONDS, 0
        return True

    def acquire(self, timeout: float) -> bool:
        return self._lock.acquire(timeout=max(timeout, 0.0))

    def release(self) -> None:
        self._lock.release()


_gates: dict[str, WriteGate] = {}
_gates_lock = threading.Lock()


def gate_for(path: str) -> WriteGate:
    """One gate per file and process, shared by every engine on it (tests and the CLI open several)."""
    key = os.path.realpath(path)
    with _gates_lock:
        gate = _gates.get(key)
        if gate is None:
            gate = _gates[key] = WriteGate()
        return gate


class GatedConnection(sqlite3.Connection):
    """A writer's sqlite3 connection (passed to sqlite3.connect as its factory) that lets go of its file's
    gate when its transaction ends: after COMMIT or ROLLBACK, which SQLAlchemy (and its pool's reset) always
    sends, or when the connection is closed."""

    _gate: WriteGate | None = None
    _holding = False

    def commit(self) -> None:
        held = self._holding
        try:
            super().commit()
        finally:
            # A COMMIT that failed leaves the transaction open; the ROLLBACK that follows ends it.
            if not self.in_transaction:
                self.let_go()
        if held and self._gate is not None and self._gate.checkpoint_due():
            with contextlib.suppress(sqlite3.Error):  # the commit stands; a later one checkpoints
                self.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.let_go()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.let_go()

    def hold(self, gate: WriteGate) -> None:
        self._gate, self._holding = gate, True

    def let_go(self) -> None:
        if self._holding and self._gate is not None:
            self._holding = False
            self._gate.release()


def is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    return "database is locked" in str(exc)


def begin_immediate(conn: Connection, gate: WriteGate, timeout: float) -> None:
    """BEGIN IMMEDIATE on `conn` (the engine's "begin" hook), within `timeout` seconds: first this process's
    gate, then SQLite's lock, tried again every MAX_SLEEP_SECONDS at most. The connection's own busy timeout
    must be 0 so that a try answers at once. Giving up, the statement is sent once more through SQLAlchemy,
    which raises its OperationalError ("database is locked") as a busy timeout always did."""
    deadline = time.monotonic() + timeout
    raw: Any = conn.connection.dbapi_connection
    if not isinstance(raw, GatedConnection) or not gate.acquire(timeout):
        conn.exec_driver_sql(BEGIN_IMMEDIATE)
        return
    try:
        sleep = FIRST_SLEEP_SECONDS
        while True:
            try:
                raw.execute(BEGIN_IMMEDIATE)
                break
            except sqlite3.OperationalError as exc:
                if not is_busy(exc) or time.monotonic() + sleep > deadline:
                    conn.exec_driver_sql(BEGIN_IMMEDIATE)  # raises it as SQLAlchemy's error (or gets in)
                    break
            time.sleep(sleep)
            sleep = min(sleep * 2, MAX_SLEEP_SECONDS)
    except BaseException:
        gate.release()
        raise
    raw.hold(gate)
