"""Benchmark: bytes on disk per task and per LLM call, per table (data and indexes), on SQLite and PostgreSQL.

Two workloads on a fresh migrated database each:
  history  demo-history tasks (worker.history.generate_history: ~23 events, ~5 calls, ~4 activity lines each)
  calls    external LLM calls as an agent reports them: start (with a prompt), usage, finish (with a response),
           one task per 10 calls, through the write path (db/write/recorder.py)
then compacts the finished tasks' events as retention would and reports what the file keeps (on SQLite also
after `python app.py vacuum`, which rewrites the part-empty pages compaction leaves).

    python bench/bench_storage.py                       # both databases, 5,000 tasks and 5,000 calls
    python bench/bench_storage.py --db sqlite --tasks 20000 --calls 20000
"""

from __future__ import annotations

import argparse
import sqlite3
import sys
from datetime import timedelta
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

from common import db_kinds, fresh_database, table  # noqa: E402
from sqlalchemy import text  # noqa: E402

from db.analytics import rollups  # noqa: E402
from db.core.engine import Database, open_database  # noqa: E402
from db.core.timeutil import utcnow  # noqa: E402
from db.domain.ops import InvocationFinished, InvocationStarted, TaskSpec, Transition, Usage  # noqa: E402
from db.domain.states import TaskKind, TaskStatus  # noqa: E402
from db.lifecycle import compaction, retention, walcheck  # noqa: E402
from db.write.recorder import Recorder  # noqa: E402
from worker.history import generate_history  # noqa: E402

SOURCE = ("tasks", "task_events", "invocations", "activity", "task_tags", "ingested_events")
SEARCH = ("call_search", "call_search_rows")
PROMPT = "You are the planner. Read the repository layout and propose the next step for: {goal}. " * 3
# Issue 17's targets on SQLite, bytes per unit (tables and indexes).
TARGETS = {"history task, events compacted": 3000, "LLM call + events": 2000}
RESPONSE = (
    "Plan: 1) read db/core/models.py 2) add an index on (task_id, seq) 3) run the tests. Done: {n}. " * 3
)


def table_bytes(db: Database, full: bool = False) -> dict[str, int]:
    """Bytes per table including its indexes (SQLite dbstat pages, after a checkpoint; PostgreSQL's
    pg_total_relation_size after a VACUUM so dead tuples are not counted)."""
    sizes: dict[str, int] = {}
    if db.is_sqlite:
        conn = sqlite3.connect(str(db.url.database))  # outside the engine: no transaction around the pragma
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            owner = dict(conn.execute("SELECT name, tbl_name FROM sqlite_master").fetchall())
            for name, size in conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
                table = str(owner.get(name, name))
                if table.startswith("call_search"):
                    table = "call_search"
                sizes[table] = sizes.get(table, 0) + int(size)
        finally:
            conn.close()
    else:
        with db.write_engine.connect().execution_options(isolation_level="AUTOCOMMIT") as pg:
            # VACUUM FULL after a compaction: PostgreSQL keeps freed space inside its files for new rows (the
            # tables stop growing) rather than giving it back; the rewrite shows what the rows take.
            pg.exec_driver_sql("VACUUM FULL ANALYZE" if full else "VACUUM ANALYZE")
            for name, size in pg.execute(
                text(
                    "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
                    "JOIN pg_namespace n ON n.oid = c.relnamespace "
                    "WHERE c.relkind = 'r' AND n.nspname = current_schema()"
                )
            ):
                sizes[str(name)] = int(size)
    return sizes


def file_bytes(db: Database) -> int:
    with db.read_engine.connect() as conn:
        if db.is_sqlite:
            pages = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
            return int(pages) * int(conn.exec_driver_sql("PRAGMA page_size").scalar_one())
        return int(conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one())


def source_bytes(sizes: dict[str, int]) -> int:
    return sum(sizes.get(t, 0) for t in (*SOURCE, "call_search"))


def report_calls(db: Database, n: int) -> None:
    r = Recorder(db)
    for start in range(0, n, 10):
        task = r.submit(TaskSpec(title=f"agent run {start}", kind=TaskKind.EXTERNAL), actor="bench")
        r.record(task, Transition(TaskStatus.RUNNING))
        for k in range(start, min(start + 10, n)):
            call = f"call-{k:08d}"
            r.record(
                task,
                InvocationStarted(
                    call, role="planner", provider="openai", model="gpt-4.1", prompt=PROMPT.format(goal=k)
                ),
                Usage(
                    model="gpt-4.1", input_tokens=1200, output_tokens=300, invocation_id=call, cost_usd=0.004
                ),
                InvocationFinished(call, response=RESPONSE.format(n=k)),
            )
        r.record(task, Transition(TaskStatus.COMPLETED))


def measure(kind: str, tasks: int, calls: int) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    with fresh_database(kind) as url:
        db = open_database(url)
        try:
            generate_history(db, tasks, days=30, seed=1)
            with db.writing() as s:
                rollups.refresh(s, utcnow())
            sizes = table_bytes(db)
            per_task = source_bytes(sizes) / tasks
            rows.append(
                (kind, "history task", f"{tasks:,}", f"{per_task:,.0f}", f"{file_bytes(db) / tasks:,.0f}")
            )
            detail = {t: sizes.get(t, 0) / tasks for t in (*SOURCE, "call_search")}
            print(kind, "bytes per history task by table:", {t: round(v) for t, v in detail.items() if v})
            # Then the finished tasks' derived events compacted (TASKLENS_COMPACT_EVENTS_DAYS) and the freed
            # pages given back (SQLite), as retention would.
            compaction.compact(db.writing, db.reading, utcnow(), 0, retention.PruneResult())
            walcheck.vacuum_free_pages(db)
            sizes = table_bytes(db, full=True)
            rows.append(
                (
                    kind,
                    "history task, events compacted",
                    f"{tasks:,}",
                    f"{source_bytes(sizes) / tasks:,.0f}",
                    f"{file_bytes(db) / tasks:,.0f}",
                )
            )
            detail = {t: sizes.get(t, 0) / tasks for t in (*SOURCE, "call_search")}
            print(kind, "after compaction:", {t: round(v) for t, v in detail.items() if v})
            if db.is_sqlite:
                # Compaction leaves its pages part-empty (SQLite merges a page only below a third full); what
                # `python app.py vacuum` gives back, as PostgreSQL's VACUUM FULL above.
                walcheck.vacuum_all(db)
                sizes = table_bytes(db)
                rows.append(
                    (
                        kind,
                        "… then `app.py vacuum`",
                        f"{tasks:,}",
                        f"{source_bytes(sizes) / tasks:,.0f}",
                        f"{file_bytes(db) / tasks:,.0f}",
                    )
                )
        finally:
            db.dispose()
    with fresh_database(kind) as url:
        db = open_database(url)
        try:
            before = source_bytes(table_bytes(db))
            report_calls(db, calls)
            sizes = table_bytes(db)
            per_call = (source_bytes(sizes) - before) / calls
            rows.append(
                (
                    kind,
                    "LLM call + events",
                    f"{calls:,}",
                    f"{per_call:,.0f}",
                    f"{file_bytes(db) / calls:,.0f}",
                )
            )
            detail = {t: sizes.get(t, 0) / calls for t in (*SOURCE, "call_search")}
            print(kind, "bytes per reported call by table:", {t: round(v) for t, v in detail.items() if v})
            compaction.compact(
                db.writing, db.reading, utcnow() + timedelta(days=1), 0, retention.PruneResult()
            )
            walcheck.vacuum_free_pages(db)
            sizes = table_bytes(db, full=True)
            per_call = (source_bytes(sizes) - before) / calls
            rows.append(
                (
                    kind,
                    "LLM call, events compacted",
                    f"{calls:,}",
                    f"{per_call:,.0f}",
                    f"{file_bytes(db) / calls:,.0f}",
                )
            )
        finally:
            db.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--tasks", type=int, default=5000)
    parser.add_argument("--calls", type=int, default=5000)
    args = parser.parse_args()
    rows: list[tuple[str, ...]] = []
    for kind in db_kinds(args.db):
        rows += measure(kind, args.tasks, args.calls)
    print(
        table(("database", "unit", "count", "bytes/unit (tables+indexes)", "bytes/unit (whole file)"), rows)
    )
    for db_kind, unit, _, per_unit, _ in rows:
        if db_kind == "sqlite" and unit in TARGETS:
            got, limit = float(per_unit.replace(",", "")), TARGETS[unit]
            print(f"target, SQLite {unit}: {got:,.0f} B, ≤ {limit:,}: {'met' if got <= limit else 'NOT met'}")


if __name__ == "__main__":
    main()
