"""Reports layer: the CSV exports of a period — its tasks, its calls and its daily cost lines, one file each —
streamed from the database (db/reporting/queries.py reads in chunks) straight to disk. A large period's exports
run in worker processes (each with its own connections), its calls split into time slices written to part
files and joined in order, so formatting the rows uses every CPU instead of one interpreter's GIL."""

from __future__ import annotations

import multiprocessing
import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.core.engine import Database, open_database
from db.core.models import Invocation
from db.read.scope import Scope
from db.reporting import queries as rq
from reports.render_csv import counted_chunks

RowSource = Callable[[Session, Scope], Iterator[tuple[Any, ...]]]
EXPORTS: dict[str, tuple[tuple[str, ...], RowSource]] = {
    "tasks": (rq.TASK_EXPORT_COLUMNS, rq.iter_tasks),
    "invocations": (rq.INVOCATION_EXPORT_COLUMNS, rq.iter_invocations),
    "costs": (rq.COST_LINE_COLUMNS, rq.iter_cost_lines),
}
# Calls in the period (an index range count, filters ignored) above which the exports run in processes.
PROCESS_THRESHOLD = 200_000
SLICES_PER_PROCESS = 3
I = Invocation.__table__.c  # noqa: E741


def write_csv(db: Database, scope: Scope, name: str, path: Path, *, header: bool = True) -> int:
    """Export `name` (a key of EXPORTS) of the scope to `path`; returns the number of data rows. Without
    `header` only the rows are written (a part of a file split by time)."""
    columns, source = EXPORTS[name]
    rows = 0
    with db.reading() as session, path.open("wb") as out:
        for count, chunk in counted_chunks(columns if header else None, source(session, scope)):
            rows += count
            out.write(chunk)
    return rows


def write_csvs(
    db: Database,
    scope: Scope,
    paths: dict[str, Path],
    *,
    process_threshold: int = PROCESS_THRESHOLD,
    workers: int | None = None,
) -> None:
    """Writes each export named in `paths` (keys of EXPORTS) to its path. A small period: one thread and read
    session per file. A large one (more than `process_threshold` calls): worker processes."""
    calls = _calls_in_range(db, scope)
    if calls <= process_threshold:
        # The database works (and releases the GIL) on one export's rows while Python formats another's.
        with ThreadPoolExecutor(max_workers=len(paths), thread_name_prefix="csv-export") as pool:
            futures = [pool.submit(write_csv, db, scope, name, path) for name, path in paths.items()]
            for f in futures:
                f.result()
        return
    _write_in_processes(db, scope, paths, calls, workers or max(2, min(4, os.cpu_count() or 2)))


def _calls_in_range(db: Database, scope: Scope) -> int:
    with db.reading() as session:
        in_range = (I.started_at >= scope.start, I.started_at < scope.end)
        return int(session.scalar(select(func.count()).select_from(Invocation).where(*in_range)) or 0)


def _cut_points(db: Database, scope: Scope, calls: int, slices: int) -> list[datetime]:
    """Start times splitting the period's calls into `slices` parts of about equal counts (ascending, distinct,
    inside the period)."""
    cuts: list[datetime] = []
    with db.reading() as session:
        for k in range(1, slices):
            at = session.scalar(
                select(I.started_at)
                .where(I.started_at >= scope.start, I.started_at < scope.end)
                .order_by(I.started_at)
                .offset(calls * k // slices)
                .limit(1)
            )
            if at is not None and at > (cuts[-1] if cuts else scope.start):
                cuts.append(at)
    return cuts


def _write_in_processes(db: Database, scope: Scope, paths: dict[str, Path], calls: int, workers: int) -> None:
    url = db.url.render_as_string(hide_password=False)
    parts: list[Path] = []
    # spawn: a child starts a fresh interpreter, so it never inherits this process's open connections.
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
    try:
        # The whole exports first (the processes start meanwhile), then the calls in time slices, several per
        # process: whichever process is free takes the next slice, so they finish together.
        futures: list[Future[int]] = [
            pool.submit(_export_job, url, name, scope, path, True)
            for name, path in paths.items()
            if name != "invocations"
        ]
        if "invocations" in paths:
            target = paths["invocations"]
            bounds = [scope.start, *_cut_points(db, scope, calls, SLICES_PER_PROCESS * workers), scope.end]
            for k, (start, end) in enumerate(pairwise(bounds)):
                part = target if k == 0 else target.with_name(f"{target.name}.part{k}")
                parts.append(part)
                sliced = replace(scope, start=start, end=end)
                futures.append(pool.submit(_export_job, url, "invocations", sliced, part, k == 0))
        for f in futures:
            f.result()  # a child's exception is raised here, as the run's error
        if parts:
            _append(parts[0], parts[1:])
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # after a failure, the slices not yet started never run
        for part in parts[1:]:
            part.unlink(missing_ok=True)


def _export_job(url: str, name: str, scope: Scope, path: Path, header: bool) -> int:
    """In a worker process: one export (or one time slice of one) on the process's own connections."""
    db = open_database(url, pool_size=1)
    try:
        return write_csv(db, scope, name, path, header=header)
    finally:
        db.dispose()


def _append(path: Path, parts: Sequence[Path]) -> None:
    """The parts' bytes added to the end of `path`, copied by the kernel where it can."""
    with path.open("r+b", buffering=0) as out:
        out.seek(0, os.SEEK_END)
        for part in parts:
            with part.open("rb", buffering=0) as src:
                left = os.fstat(src.fileno()).st_size
                try:
                    while left > 0 and (n := os.copy_file_range(src.fileno(), out.fileno(), left)):
                        left -= n
                except OSError:
                    pass  # not between these files: the rest through Python (both offsets are where it stopped)
                shutil.copyfileobj(src, out, 1 << 22)
