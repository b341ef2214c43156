"""Tests: the data lifecycle as the worker and the CLI run it — the retention job runs on one worker of two
(a lease) and prunes; a scheduled backup is made once per period across the fleet and audited; `archive`
then `import` through the CLI gives equal counts in a fresh database and `restore` refuses one in use.
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import bindparam, text

from app import main
from config import Settings
from db.access import audit
from db.analytics import rollups
from db.core.engine import Database, open_database
from db.core.timecol import UtcDateTime
from db.core.timeutil import utcnow
from db.live.changefeed import Hub
from db.write.recorder import Recorder
from tests.conftest import sqlite_database
from worker import jobs
from worker.history import generate_history
from worker.worker import Worker

TABLES = ("tasks", "task_events", "invocations", "activity", "task_tags")


def workers(db_url: str, **settings: object) -> list[Worker]:
    made = []
    for name in ("alpha", "beta"):
        database = open_database(db_url)
        hub = Hub()
        config = Settings(database_url=db_url, worker_name=name).with_(**settings)
        made.append(Worker(config, database, Recorder(database, hub), hub))
    return made


def counts(db: Database) -> dict[str, int]:
    with db.read_engine.connect() as conn:
        return {t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in TABLES}


@pytest.fixture
def old_history(db: Database) -> Database:
    now = utcnow()
    generate_history(db, 80, days=20, seed=9, now=now - timedelta(hours=1))
    with db.writing() as s:
        rollups.refresh(s, now)
    return db


def test_retention_job_runs_on_one_worker(old_history: Database, db_url: str) -> None:
    alpha, beta = workers(db_url, retain_days=7)
    try:
        before = counts(old_history)["tasks"]
        first = jobs.apply_retention(alpha)
        assert first is not None and first.rows["tasks"] > 0
        assert jobs.apply_retention(beta) is None  # alpha holds the lease
        again = jobs.apply_retention(alpha)
        assert again is not None and "tasks" not in again.rows
        assert counts(old_history)["tasks"] == before - first.rows["tasks"]
    finally:
        for w in (alpha, beta):
            w.db.dispose()


def test_scheduled_backup_once_per_period(db: Database, db_url: str, tmp_path: Path) -> None:
    (tmp_path / "backups").write_text("a file where the folder should be")
    alpha, beta = workers(db_url, backup_dir=str(tmp_path / "backups"), backup_keep=2)
    try:
        with pytest.raises(OSError):
            jobs.scheduled_backup(alpha)  # fails, and leaves the period to the next try
        (tmp_path / "backups").unlink()
        made = jobs.scheduled_backup(beta)  # another worker takes the period up
        assert made is not None and made.is_file()
        assert jobs.scheduled_backup(beta) is None and jobs.scheduled_backup(alpha) is None  # once a period
        assert [p.name for p in (tmp_path / "backups").iterdir()] == [made.name]
        with db.reading() as s:
            (entry,) = audit.entries(s, action="data.backup")
        assert entry.actor.startswith("worker:") and entry.details["bytes"] == made.stat().st_size
    finally:
        for w in (alpha, beta):
            w.db.dispose()


def test_cli_archive_import_and_restore(
    old_history: Database, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cutoff = (utcnow() - timedelta(days=7)).date().isoformat()
    assert main(["--db", db_url, "archive", "--before", cutoff, "--out", str(tmp_path / "arch")]) == 0
    said = capsys.readouterr().out
    archived = int(said.split()[1].replace(",", ""))
    assert archived > 0 and said.startswith("archived")
    (tmp_path / "fresh").mkdir()
    fresh = sqlite_database(tmp_path / "fresh")
    for _ in range(2):
        assert main(["--db", fresh, "import", str(tmp_path / "arch")]) == 0
    assert "imported 0 tasks" in capsys.readouterr().out.splitlines()[-1]
    target = open_database(fresh)
    try:
        got = counts(target)
        with old_history.read_engine.connect() as conn:
            want = {
                t: int(
                    conn.execute(
                        text(
                            f"SELECT count(*) FROM {t} WHERE "
                            + ("" if t == "tasks" else "task_id IN (SELECT id FROM tasks WHERE ")
                            + "status IN ('completed','failed','cancelled','timed_out') AND last_updated_at < :c"
                            + ("" if t == "tasks" else ")")
                        ).bindparams(bindparam("c", type_=UtcDateTime())),
                        {"c": cutoff},
                    ).scalar_one()
                )
                for t in TABLES
            }
        assert got == want and got["tasks"] == archived
    finally:
        target.dispose()

    out = tmp_path / "b.backup"
    assert main(["--db", db_url, "backup", "--out", str(out)]) == 0
    assert main(["--db", db_url, "restore", str(out)]) == 1
    assert "restore needs an empty database" in capsys.readouterr().err
