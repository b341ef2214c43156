"""Data layer: online backup and restore. SQLite: the sqlite3 online backup API (one step, so one read snapshot
while writers keep committing in WAL mode) into a database file. PostgreSQL: a logical dump — COPY of every
table of the schema in one REPEATABLE READ, read-only transaction — into one tar.gz with a manifest (schema
revision, row counts, sequence values). Restore goes into an empty database of the same kind."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import tarfile
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from db.access import audit
from db.core.engine import Database, psycopg_dsn
from db.core.models import Base

PG_FORMAT = "tasklens.pgdump/1"
SQLITE_MAGIC = b"SQLite format 3\x00"
# Rows that say a database is in use: a restore refuses a database holding any. (Migrations seed report
# schedules and alert rules; those the restore replaces with the backup's.)
EPOCH = datetime(1970, 1, 1)
IN_USE = ("tasks", "task_events", "audit_log", "workers")


class BackupError(RuntimeError):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass
class Manifest:
    format: str
    dialect: str
    revision: str | None
    created_at: str
    rows: dict[str, int] = field(default_factory=dict)
    sequences: dict[str, int] = field(default_factory=dict)
    max_seq: int = 0

    def as_json(self) -> str:
        return json.dumps(self.__dict__, indent=1, sort_keys=True)


def _sqlite_file(db: Database) -> Path:
    if not db.url.database:
        raise BackupError("an in-memory SQLite database cannot be backed up")
    return Path(db.url.database)


def _sqlite_counts(conn: sqlite3.Connection) -> tuple[dict[str, int], str | None, int]:
    names = [
        r[0]
        for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            "AND name NOT LIKE 'call_search_%' ORDER BY name"
        )
    ]
    rows = {n: int(conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0]) for n in names}
    revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    max_seq = conn.execute("SELECT coalesce(max(seq), 0) FROM task_events").fetchone()[0]
    return rows, revision[0] if revision else None, int(max_seq)


def backup(db: Database, out: Path, now: datetime) -> Manifest:
    """A consistent copy of the whole database at `out` (written beside it, then renamed into place)."""
    out = out.expanduser().resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    try:
        manifest = _sqlite_backup(db, part, now) if db.is_sqlite else _pg_backup(db, part, now)
        os.replace(part, out)
    finally:
        part.unlink(missing_ok=True)
    return manifest


def _sqlite_backup(db: Database, out: Path, now: datetime) -> Manifest:
    source = sqlite3.connect(_sqlite_file(db), timeout=30)
    target = sqlite3.connect(out)
    try:
        # pages=-1: every page in one step, so the copy is one snapshot; in WAL mode writers go on meanwhile.
        source.backup(target, pages=-1)
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        rows, revision, max_seq = _sqlite_counts(target)
    finally:
        target.close()
        source.close()
    return Manifest("sqlite", "sqlite", revision, now.isoformat(), rows, {}, max_seq)


def _pg_tables(conn: psycopg.Connection[Any]) -> list[str]:
    names = [
        str(r[0])
        for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
        ).fetchall()
    ]
    # Parents before children (the models' foreign keys), so a restore's COPY never meets a missing parent.
    order = [t.name for t in Base.metadata.sorted_tables]
    return sorted(names, key=lambda n: (order.index(n) if n in order else len(order), n))


def _pg_backup(db: Database, out: Path, now: datetime) -> Manifest:
    with psycopg.connect(psycopg_dsn(db.url)) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        with conn.transaction(), tempfile.TemporaryDirectory(dir=out.parent) as scratch:
            tables = _pg_tables(conn)
            revision_row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            manifest = Manifest(
                PG_FORMAT, "postgresql", revision_row[0] if revision_row else None, now.isoformat()
            )
            for name in tables:
                path = Path(scratch) / f"{name}.copy"
                with path.open("wb") as sink, conn.cursor() as cur:
                    with cur.copy(sql.SQL("COPY {} TO STDOUT").format(sql.Identifier(name))) as copy:
                        for chunk in copy:
                            sink.write(chunk)
                    count = cur.execute(
                        sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(name))
                    ).fetchone()
                manifest.rows[name] = int(count[0]) if count else 0
            max_seq = conn.execute("SELECT coalesce(max(seq), 0) FROM task_events").fetchone()
            manifest.max_seq = int(max_seq[0]) if max_seq else 0
            for seq_name, value in conn.execute(
                "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = current_schema()"
            ).fetchall():
                if value is not None:
                    manifest.sequences[str(seq_name)] = int(value)
            with tarfile.open(out, "w:gz") as tar:
                _add_bytes(tar, "manifest.json", manifest.as_json().encode())
                for name in tables:
                    tar.add(Path(scratch) / f"{name}.copy", arcname=f"data/{name}.copy")
    return manifest


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def kind_of(path: Path) -> str:
    with path.open("rb") as f:
        head = f.read(16)
    if head == SQLITE_MAGIC:
        return "sqlite"
    if head[:2] == b"\x1f\x8b":
        return "postgresql"
    raise BackupError(f"{path} is neither a TaskLens SQLite backup nor a PostgreSQL dump")


def in_use(db: Database) -> dict[str, int]:
    """Rows of the tables that say a database is in use (a restore refuses any)."""
    found: dict[str, int] = {}
    with db.read_engine.connect() as conn:
        for table in IN_USE:
            n = int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())
            if n:
                found[table] = n
    return found


def restore(db: Database, source: Path) -> Manifest:
    """Loads a backup into `db`, which must be empty (migrated, nothing recorded) and of the backup's kind.
    The caller migrates it afterwards (a SQLite backup of an older version is brought up to date)."""
    kind = kind_of(source)
    if kind != db.dialect:
        raise BackupError(f"{source.name} is a {kind} backup; restore it into a {kind} database")
    busy = in_use(db)
    if busy:
        held = ", ".join(f"{n} {t}" for t, n in busy.items())
        raise BackupError(f"the database is not empty ({held}): restore needs an empty database")
    return _sqlite_restore(db, source) if kind == "sqlite" else _pg_restore(db, source)


def _sqlite_restore(db: Database, source: Path) -> Manifest:
    db.dispose()  # our pooled connections must not hold the file while its pages are replaced
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(_sqlite_file(db), timeout=30)
    try:
        src.backup(dst, pages=-1)
        rows, revision, max_seq = _sqlite_counts(dst)
    finally:
        dst.close()
        src.close()
    return Manifest("sqlite", "sqlite", revision, "", rows, {}, max_seq)


def _pg_restore(db: Database, source: Path) -> Manifest:
    with tarfile.open(source, "r:gz") as tar:
        manifest_file = tar.extractfile("manifest.json")
        if manifest_file is None:
            raise BackupError(f"{source.name} has no manifest.json: not a TaskLens PostgreSQL dump")
        manifest = Manifest(**json.loads(manifest_file.read()))
        if manifest.format != PG_FORMAT:
            raise BackupError(f"{source.name}: unknown dump format {manifest.format!r}")
        with psycopg.connect(psycopg_dsn(db.url)) as conn, conn.transaction():
            current = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            if (current[0] if current else None) != manifest.revision:
                raise BackupError(
                    f"the dump is of schema {manifest.revision}, the database is at {current[0] if current else None}: "
                    "restore with the TaskLens version that made it, then upgrade"
                )
            tables = [t for t in _pg_tables(conn) if t in manifest.rows and t != "alembic_version"]
            conn.execute(
                sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(
                    sql.SQL(", ").join(sql.Identifier(t) for t in tables)
                )
            )
            for name in tables:
                member = tar.extractfile(f"data/{name}.copy")
                if member is None:
                    continue
                with (
                    conn.cursor() as cur,
                    cur.copy(sql.SQL("COPY {} FROM STDIN").format(sql.Identifier(name))) as copy,
                ):
                    while chunk := member.read(1 << 20):
                        copy.write(chunk)
            for seq_name, value in manifest.sequences.items():
                conn.execute("SELECT setval(%s, %s)", (seq_name, value))
    return manifest


def audited(db: Database, path: Path, actor: str, now: datetime) -> Manifest:
    """A backup with its audit row (file, size, last event seq)."""
    manifest = backup(db, path, now)
    with db.writing() as session:
        details = {"file": path.name, "bytes": path.stat().st_size, "max_seq": manifest.max_seq}
        audit.record(session, actor, "data.backup", path.name, details, now=now)
    return manifest


def rotate(folder: Path, keep: int, suffix: str) -> list[Path]:
    """Deletes all but the newest `keep` backups (by name: they carry their UTC time) in `folder`."""
    made = sorted(folder.glob(f"tasklens-*{suffix}"))
    gone = made[:-keep] if keep else []
    for path in gone:
        path.unlink(missing_ok=True)
    return gone


def file_name(db: Database, now: datetime) -> str:
    return f"tasklens-{now:%Y%m%dT%H%M%SZ}" + (".db" if db.is_sqlite else ".tar.gz")


def period_key(now: datetime, every: timedelta) -> str:
    """The key of the backup period `now` falls in (a zero-padded count of periods), for leases.mark_once."""
    return f"{int((now - EPOCH).total_seconds() // every.total_seconds()):012d}"
