"""Command-line layer: the data lifecycle commands — `python app.py prune | archive | import | backup | restore` — their
arguments and what each does; every one leaves an audit row as the CLI's."""

from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TextIO

from db.access import audit
from db.analytics import rollups
from db.analytics.rollcut import refreshed_until
from db.core.engine import Database
from db.core.timeutil import utcnow
from db.lifecycle import archive, backup, erase, retention, walcheck
from db.lifecycle.retention import Policy as RetentionPolicy

ACTOR = "cli"


class Settings(Protocol):
    """What these commands read of the app's settings (config.Settings; the data layer does not import it)."""

    def retention(self) -> RetentionPolicy: ...

    @property
    def reports_path(self) -> Path: ...


IMPORT_BATCH = 200


def _date(raw: str) -> datetime:
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {raw!r} (YYYY-MM-DD or an ISO time, UTC)") from None
    return value.replace(tzinfo=None)


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "prune",
        parents=[common],
        help="apply the retention settings now (what the worker's retention job does)",
        description="Prunes finished tasks with nothing recorded for TASKLENS_RETAIN_DAYS days (or --days), "
        "after making the analytics rollups complete, and audit rows and report runs past their own periods. "
        "With TASKLENS_ARCHIVE_DIR set, pruned tasks are archived first.",
    )
    p.add_argument("--days", type=float, default=None, help="keep this many days of tasks (over the setting)")
    p = sub.add_parser(
        "archive",
        parents=[common],
        help="write finished tasks to gzip JSON Lines files, one per day (nothing is deleted)",
    )
    p.add_argument("--before", type=_date, required=True, help="tasks with nothing recorded since (UTC)")
    p.add_argument("--out", type=Path, required=True, help="folder of the archive files (appended to)")
    p = sub.add_parser(
        "import",
        parents=[common],
        help="load archive files (a file or a folder) into this database; tasks already here are skipped",
    )
    p.add_argument("source", type=Path, metavar="FILE|DIR", help="an archive file or a folder of them")
    p = sub.add_parser(
        "erase",
        parents=[common],
        help="delete a person's tasks (or one task) with their prompts, responses and messages",
        description="Erasure: finished tasks and everything under them are deleted; an audit row records that "
        "it happened, by whom and how much (the person only as a hash). Unfinished tasks are listed, not "
        "touched: cancel them, then erase again.",
    )
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--created-by", dest="created_by", help="every task created by this person")
    who.add_argument("--task", dest="task_id", type=int, help="one task")
    sub.add_parser(
        "vacuum",
        parents=[common],
        help="SQLite: rewrite the file in incremental auto-vacuum mode (writers wait); PostgreSQL: VACUUM ANALYZE",
    )
    p = sub.add_parser("backup", parents=[common], help="a consistent online copy of the whole database")
    p.add_argument("--out", type=Path, required=True, help="the backup file to write")
    p = sub.add_parser("restore", parents=[common], help="load a backup into an empty database")
    p.add_argument("source", type=Path, metavar="FILE", help="a file made by `backup`")


def run(args: argparse.Namespace, settings: Settings, db: Database, out: TextIO | None = None) -> int:
    handler = {
        "prune": _prune,
        "archive": _archive,
        "import": _import,
        "backup": _backup,
        "erase": _erase,
        "vacuum": _vacuum,
    }[args.command]
    return handler(args, settings, db, out or sys.stdout)


def _prune(args: argparse.Namespace, settings: Settings, db: Database, out: TextIO) -> int:
    policy = settings.retention()
    if args.days is not None:
        policy = replace(policy, tasks_days=args.days or None)
    if not policy.active:
        print("nothing to prune: set TASKLENS_RETAIN_DAYS (or --days)", file=out)
        return 0
    try:
        result = retention.prune(db.writing, db.reading, utcnow(), policy, actor=ACTOR)
    except retention.RetentionError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for run_id in result.report_runs:  # their files (reports/runner.run_dir's layout: one folder per run)
        shutil.rmtree(settings.reports_path / str(run_id), ignore_errors=True)
    freed = walcheck.vacuum_free_pages(db) if result.rows else 0
    rows = ", ".join(f"{n:,} {t}" for t, n in sorted(result.rows.items())) or "nothing"
    if freed:
        print(f"gave {freed:,} free pages back to the file system", file=out)
    mean = result.batch_ms / result.batches if result.batches else 0.0
    timing = f"{result.batches} batches (mean {mean:.0f} ms, longest {result.longest_batch_ms:.0f} ms)"
    print(f"pruned {rows} in {timing}", file=out)
    if result.archived:
        print(f"archived into {len(result.archived)} files in {policy.archive_dir}", file=out)
    return 0


def _archive(args: argparse.Namespace, settings: Settings, db: Database, out: TextIO) -> int:
    after, tasks, names = 0, 0, set[str]()
    while True:
        with db.reading() as session:
            ids = archive.finished_before(session, args.before, after)
            items = archive.records(session, ids)
        if not ids:
            break
        after = ids[-1]
        written = archive.write(args.out, items)
        tasks += sum(written.values())
        names.update(p.name for p in written)
    with db.writing() as session:
        details = {"before": args.before.isoformat(), "tasks": tasks, "files": len(names)}
        audit.record(session, ACTOR, "data.archive", str(args.out.name), details, now=utcnow())
    print(f"archived {tasks:,} tasks into {len(names)} files in {args.out}", file=out)
    return 0


def _import(args: argparse.Namespace, settings: Settings, db: Database, out: TextIO) -> int:
    if not args.source.exists():
        print(f"error: {args.source} does not exist", file=sys.stderr)
        return 2
    result = archive.ImportResult()
    for path in archive.files(args.source):
        batch: list[dict[str, Any]] = []
        for item in archive.read(path):
            batch.append(item)
            if len(batch) >= IMPORT_BATCH:
                _load(db, batch, result)
                batch = []
        _load(db, batch, result)
    refold(db, result.oldest)
    with db.writing() as session:
        details = {"tasks": result.tasks, "skipped": result.skipped, "rows": result.rows}
        audit.record(session, ACTOR, "data.import", str(args.source.name), details, now=utcnow())
    print(f"imported {result.tasks:,} tasks ({result.skipped:,} already here)", file=out)
    return 0


def _load(db: Database, batch: list[dict[str, Any]], result: archive.ImportResult) -> None:
    if batch:
        with db.writing() as session:
            archive.load(session, batch, result)
            archive.advance_sequences(session)


def refold(db: Database, oldest: datetime | None) -> None:
    """Imported tasks are old: the incremental refresh would not look at their hours, so rebuild the rollups
    from the oldest one up to the last refresh, a week per transaction (never before the retention horizon)."""
    if oldest is None:
        return
    with db.reading() as session:
        until = refreshed_until(session)
    if until is None:
        return  # no refresh yet: the first one builds everything
    start = rollups.floor_day(oldest)
    while start < until:
        end = min(start + rollups.BUILD_STEP, until)
        with db.writing() as session:
            rollups.rebuild_windows(session, [(start, end)], [(start, rollups.floor_day(end))])
        start = end


def _erase(args: argparse.Namespace, settings: Settings, db: Database, out: TextIO) -> int:
    with db.writing() as session:
        done = erase.erase(
            session, actor=ACTOR, now=utcnow(), created_by=args.created_by, task_id=args.task_id
        )
    rows = ", ".join(f"{n:,} {t}" for t, n in sorted(done.rows.items())) or "nothing"
    print(f"erased {len(done.erased):,} tasks ({rows})", file=out)
    if done.unfinished:
        listed = ", ".join(map(str, done.unfinished))
        print(
            f"error: not finished, left as they are: {listed} — cancel them, then erase again",
            file=sys.stderr,
        )
        return 1
    if not done.erased and args.task_id is not None:
        print(f"error: no task {args.task_id}", file=sys.stderr)
        return 1
    return 0


def _vacuum(args: argparse.Namespace, settings: Settings, db: Database, out: TextIO) -> int:
    walcheck.vacuum_all(db)
    print("vacuumed", file=out)
    return 0


def _backup(args: argparse.Namespace, settings: Settings, db: Database, out: TextIO) -> int:
    manifest = take_backup(db, args.out, ACTOR)
    total = sum(manifest.rows.values())
    print(
        f"backed up {total:,} rows of {len(manifest.rows)} tables (event seq up to {manifest.max_seq}) to {args.out}",
        file=out,
    )
    return 0


def take_backup(db: Database, path: Path, actor: str) -> backup.Manifest:
    return backup.audited(db, path, actor, utcnow())


def restore(args: argparse.Namespace, settings: Settings, db: Database, out: TextIO | None = None) -> int:
    """`restore` runs before the usual start-up migration: the target is migrated first (so an empty file
    or database has the schema to compare with), and again after a SQLite restore of an older backup."""
    from db.core.migrate import upgrade

    if not args.source.is_file():
        print(f"error: {args.source} is not a file", file=sys.stderr)
        return 2
    upgrade(db)
    try:
        manifest = backup.restore(db, args.source)
    except backup.BackupError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    upgrade(db)
    with db.writing() as session:
        details = {"file": args.source.name, "rows": sum(manifest.rows.values()), "max_seq": manifest.max_seq}
        audit.record(session, ACTOR, "data.restore", args.source.name, details, now=utcnow())
    print(
        f"restored {sum(manifest.rows.values()):,} rows (event seq up to {manifest.max_seq})",
        file=out or sys.stdout,
    )
    return 0
