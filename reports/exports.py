"""Reports layer: the CSV exports of a period — its tasks, its calls and its daily cost lines, one file each —
streamed from the database (db/report_queries.py reads in chunks) straight to disk."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from db import report_queries as rq
from db.engine import Database
from db.scope import Scope
from reports.render_csv import csv_chunks

RowSource = Callable[[Session, Scope], Iterator[tuple[Any, ...]]]
EXPORTS: dict[str, tuple[tuple[str, ...], RowSource]] = {
    "tasks": (rq.TASK_EXPORT_COLUMNS, rq.iter_tasks),
    "invocations": (rq.INVOCATION_EXPORT_COLUMNS, rq.iter_invocations),
    "costs": (rq.COST_LINE_COLUMNS, rq.iter_cost_lines),
}


def write_csv(db: Database, scope: Scope, name: str, path: Path) -> int:
    """Export `name` (a key of EXPORTS) of the scope to `path`; returns the number of data rows."""
    header, source = EXPORTS[name]
    rows = 0

    def counted(it: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
        nonlocal rows
        for values in it:
            rows += 1
            yield values

    with db.reading() as session, path.open("wb") as out:
        for chunk in csv_chunks(header, counted(source(session, scope))):
            out.write(chunk)
    return rows
