"""Data layer: the task archive — finished tasks with their events, calls, activity, tags and ingested event ids
as gzip JSON Lines, one file per UTC day of creation, and the import that loads such files into any TaskLens
database (idempotent: a task whose id is already there is skipped). Schema in README "Data lifecycle"."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Column, Table, bindparam, func, insert, select, text
from sqlalchemy.orm import Session

from db.core.models import Activity, IngestedEvent, Invocation, Task, TaskEvent, TaskTag
from db.core.timecol import UtcDateTime
from db.domain import liveness
from db.domain.states import TERMINAL
from db.read import search
from db.write import messages as packing

SCHEMA = "tasklens.archive/1"
T = cast(Table, Task.__table__)
E = cast(Table, TaskEvent.__table__)
I = cast(Table, Invocation.__table__)  # noqa: E741
A = cast(Table, Activity.__table__)
G = cast(Table, TaskTag.__table__)
N = cast(Table, IngestedEvent.__table__)
FINISHED = sorted(s.value for s in TERMINAL)
# Children of a task and the key they go under in an archive line; `seq` and activity ids are the source
# database's (kept for reference and order); an import gives them new ones.
CHILDREN: tuple[tuple[str, Table, Any], ...] = (
    ("events", E, E.c.seq),
    ("calls", I, I.c.started_at),
    ("activity", A, A.c.id),
    ("ingested_events", N, N.c.event_id),
)


def _plain(table: Table, row: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for column in table.columns:
        value = row._mapping[column.name]
        if column.name == "last_activity_at" and table is I:
            # Not stored for a finished call (its end); archived as the API shows it, so the format stays.
            value = liveness.call_activity_value(value, row._mapping["completed_at"])
        if column.name == "messages" and table is I:
            value = packing.unpack(value) if value else None  # stored packed; archived as readable JSON
        elif isinstance(value, datetime):
            value = value.isoformat()
        out[column.name] = value
    return out


def _typed(table: Table, record: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in record.items():
        column = cast(Column[Any], table.columns.get(name))
        if column is None:
            continue  # a column of a newer schema than this database's: dropped, not an error
        if value is not None and isinstance(column.type, UtcDateTime):
            value = datetime.fromisoformat(value)
        elif name == "messages" and table is I:
            value = packing.pack(value) if value else None
        out[name] = value
    if table is I and "last_activity_at" in out:
        out["last_activity_at"] = liveness.call_activity_stored(
            out["last_activity_at"], out.get("completed_at")
        )
    return out


def records(session: Session, task_ids: Sequence[int]) -> list[dict[str, Any]]:
    """One archive record per task: `{"schema", "task", "tags", "events", "calls", "activity",
    "ingested_events"}`, in the order of `task_ids`."""
    if not task_ids:
        return []
    ids = list(task_ids)
    by_id: dict[int, dict[str, Any]] = {}
    for row in session.execute(select(T).where(T.c.id.in_(ids))):
        task = _plain(T, row)
        by_id[int(row.id)] = {"schema": SCHEMA, "task": task, "tags": []}
        for key, _, _ in CHILDREN:
            by_id[int(row.id)][key] = []
    for task_id, tag in session.execute(select(G.c.task_id, G.c.tag).where(G.c.task_id.in_(ids))):
        by_id[int(task_id)]["tags"].append(tag)
    for key, table, order in CHILDREN:
        for row in session.execute(select(table).where(table.c.task_id.in_(ids)).order_by(order)):
            by_id[int(row.task_id)][key].append(_plain(table, row))
    return [by_id[i] for i in ids if i in by_id]


def finished_before(session: Session, before: datetime, after_id: int = 0, limit: int = 500) -> list[int]:
    """Ids of finished tasks with nothing recorded since `before` (last_updated_at), from `after_id` up."""
    query = (
        select(T.c.id)
        .where(T.c.status.in_(FINISHED), T.c.last_updated_at < before, T.c.id > after_id)
        .order_by(T.c.id)
        .limit(limit)
    )
    return [int(i) for i in session.scalars(query)]


def day_file(folder: Path, day: date) -> Path:
    return folder / f"tasks-{day.isoformat()}.jsonl.gz"


def write(folder: Path, items: Iterable[dict[str, Any]]) -> dict[Path, int]:
    """Appends each record to its creation day's file (a new gzip member per call: concatenated members are
    one valid gzip stream, so an archive can grow batch by batch). Returns records written per file."""
    folder.mkdir(parents=True, exist_ok=True)
    by_day: dict[date, list[str]] = {}
    for item in items:
        day = datetime.fromisoformat(item["task"]["created_at"]).date()
        by_day.setdefault(day, []).append(
            json.dumps(item, separators=(",", ":"), ensure_ascii=False, default=str)
        )
    written: dict[Path, int] = {}
    for day, lines in sorted(by_day.items()):
        path = day_file(folder, day)
        with gzip.open(path, "at", encoding="utf-8", compresslevel=6) as out:
            out.write("\n".join(lines) + "\n")
        written[path] = len(lines)
    return written


def read(path: Path) -> Iterator[dict[str, Any]]:
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            item = json.loads(line)
            if item.get("schema") != SCHEMA:
                raise ValueError(f"{path}:{number}: not a {SCHEMA} record (schema {item.get('schema')!r})")
            yield item


def files(source: Path) -> list[Path]:
    """The archive files of a folder (by name, so by day), or the one file given."""
    return sorted(source.glob("tasks-*.jsonl.gz")) if source.is_dir() else [source]


@dataclass
class ImportResult:
    tasks: int = 0
    skipped: int = 0  # already in the database (an import run twice, or an overlap)
    rows: dict[str, int] = field(default_factory=dict)
    oldest: datetime | None = None


def load(session: Session, items: Sequence[dict[str, Any]], result: ImportResult) -> None:
    """Inserts the records' tasks (ids kept) and their children (new event seqs and activity ids, in the
    archived order; call ids kept), in the caller's transaction. Tasks whose id exists are skipped."""
    wanted = [int(item["task"]["id"]) for item in items]
    present = set(session.scalars(select(T.c.id).where(T.c.id.in_(wanted)))) if wanted else set()
    fresh = [item for item in items if int(item["task"]["id"]) not in present]
    result.skipped += len(items) - len(fresh)
    if not fresh:
        return
    call_ids = [c["id"] for item in fresh for c in item["calls"]]
    taken = set(session.scalars(select(I.c.id).where(I.c.id.in_(call_ids)))) if call_ids else set()
    tasks = [_typed(T, item["task"]) for item in fresh]
    session.execute(insert(T), tasks)
    tags = [{"task_id": int(item["task"]["id"]), "tag": tag} for item in fresh for tag in item["tags"]]
    batches: dict[str, list[dict[str, Any]]] = {"tags": tags}
    for key, table, _ in CHILDREN:
        rows = []
        for item in fresh:
            for record in item[key]:
                row = _typed(table, record)
                if table is E:
                    row.pop("seq", None)
                elif table is A:
                    row.pop("id", None)
                elif table is I and row["id"] in taken:
                    continue
                rows.append(row)
        batches[key] = rows
    if tags:
        session.execute(insert(G), tags)
    for key, table, _ in CHILDREN:
        if batches[key]:
            session.execute(insert(table), batches[key])
    search.add(
        session,
        [
            (int(c["task_id"]), str(c["id"]), found)
            for c in batches["calls"]
            if c.get("messages") and (found := search.index_text(packing.unpack(c["messages"])))
        ],
    )
    result.tasks += len(fresh)
    for key, rows in batches.items():
        result.rows[key] = result.rows.get(key, 0) + len(rows)
    oldest = min(t["created_at"] for t in tasks)
    result.oldest = oldest if result.oldest is None else min(result.oldest, oldest)


def advance_sequences(session: Session) -> None:
    """PostgreSQL: a task inserted with its own id does not move the id sequence, so the next new task would
    collide; set it past the largest id. SQLite picks max(rowid) + 1 by itself."""
    if session.get_bind().dialect.name != "postgresql":
        return
    top = session.scalar(select(func.max(T.c.id)))
    if top is not None:
        session.execute(
            # nextval - 1: never below where the sequence already is (the newest tasks may have been deleted).
            text(
                "SELECT setval(pg_get_serial_sequence('tasks', 'id'), "
                "GREATEST(:v, nextval(pg_get_serial_sequence('tasks', 'id')) - 1))"
            ).bindparams(bindparam("v")),
            {"v": int(top)},
        )
