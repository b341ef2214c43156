"""Data layer: keeps SQLite's WAL file bounded and returns pruned pages to the file system. Writers run PASSIVE
checkpoints (db/core/writelock.py), which never wait and so never restart the WAL while readers come and go; this
periodic TRUNCATE checkpoint waits a moment for a gap between readers, after which the WAL is empty (0 bytes),
and incremental_vacuum gives back the free pages retention left (a few thousand pages per transaction)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from db.core.engine import Database

# How long the checkpoint may hold off new writers while it waits for readers to leave the WAL.
WAIT_MS = 50
EVERY_SECONDS = 30.0  # the worker job's period (worker/jobs.py checkpoint-wal)
VACUUM_PAGES = 2000  # 8 MB of 4 KB pages per write transaction


@dataclass(frozen=True)
class Checkpoint:
    busy: bool  # a reader (or writer) stayed: the WAL was checkpointed as far as it could, not emptied
    wal_bytes: int  # the WAL file's size afterwards


def wal_path(db: Database) -> Path | None:
    if not db.is_sqlite or not db.url.database or db.url.database == ":memory:":
        return None
    return Path(f"{db.url.database}-wal")


def truncate_wal(db: Database) -> Checkpoint | None:
    """One TRUNCATE checkpoint on a connection of its own (outside the engines: a pragma that must not run in
    a transaction); None on PostgreSQL."""
    path = wal_path(db)
    if path is None:
        return None
    conn = sqlite3.connect(str(db.url.database), timeout=WAIT_MS / 1000, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout={WAIT_MS}")
        busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    except sqlite3.OperationalError:  # locked past WAIT_MS: the next run tries again
        busy = 1
    finally:
        conn.close()
    return Checkpoint(bool(busy), path.stat().st_size if path.exists() else 0)


def vacuum_free_pages(db: Database) -> int:
    """Gives the file's free pages back to the file system (SQLite in auto_vacuum=INCREMENTAL mode), at most
    VACUUM_PAGES per write transaction; returns the pages freed. PostgreSQL reuses its own space (autovacuum)."""
    path = wal_path(db)
    if path is None:
        return 0
    # Its own connection, each pragma its own short write transaction: Python's sqlite3 steps a statement
    # without result columns once (one page), executescript steps it to the end.
    conn = sqlite3.connect(str(db.url.database), timeout=30, isolation_level=None)
    freed = 0
    try:
        if int(conn.execute("PRAGMA auto_vacuum").fetchone()[0]) != 2:
            return 0
        while free := int(conn.execute("PRAGMA freelist_count").fetchone()[0]):
            conn.executescript(f"PRAGMA incremental_vacuum({min(free, VACUUM_PAGES)});")
            left = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
            if left >= free:
                break  # nothing moved (another connection holds pages): the next prune tries again
            freed += free - left
    finally:
        conn.close()
    return freed


def vacuum_all(db: Database) -> None:
    """`python app.py vacuum`: SQLite — switches an older file to incremental auto-vacuum and rewrites it (a
    full VACUUM: writers wait until it is done); PostgreSQL — VACUUM ANALYZE."""
    if db.is_sqlite:
        conn = sqlite3.connect(str(db.url.database), timeout=30, isolation_level=None)
        try:
            conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
            conn.execute("VACUUM")
        finally:
            conn.close()
        truncate_wal(db)
    else:
        with db.write_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as pg:
            pg.exec_driver_sql("VACUUM ANALYZE")
