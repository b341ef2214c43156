"""Benchmark: bulk history generation (worker.history.generate_history) — tasks/s, events/s, rows, database
size and peak memory, on a freshly migrated database.

    python bench/bench_history.py                          # 200,000 tasks into a temporary SQLite file
    python bench/bench_history.py --db postgresql --count 50000   # a throw-away PostgreSQL database
    python bench/bench_history.py --url sqlite:///var/big.db --count 1000000
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text

from db.core.engine import open_database
from db.core.migrate import upgrade
from worker.history import generate_history

PG_ADMIN_DSN = os.environ.get("TASKLENS_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
TARGET_SQLITE_TASKS_PER_S = 10_000


@contextmanager
def database_url(args: argparse.Namespace) -> Iterator[str]:
    """The URL to load: `--url` as given, else a temporary SQLite file or a PostgreSQL database that is
    created here and dropped afterwards."""
    if args.url:
        yield args.url
    elif args.db == "sqlite":
        folder = tempfile.mkdtemp(prefix="tasklens-history-")
        try:
            yield f"sqlite:///{folder}/history.db"
        finally:
            if not args.keep:
                shutil.rmtree(folder, ignore_errors=True)
    else:
        import psycopg

        name = f"tasklens_history_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield PG_ADMIN_DSN.rsplit("/", 1)[0] + "/" + name
        finally:
            if not args.keep:
                with psycopg.connect(PG_ADMIN_DSN, autocommit=True, connect_timeout=5) as admin:
                    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="database to load (migrated first); default: a fresh temporary one")
    parser.add_argument(
        "--db",
        choices=("sqlite", "postgresql"),
        default="sqlite",
        help="kind of temporary database when --url is not given",
    )
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--chunk", type=int, default=5_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", action="store_true", help="keep the temporary database")
    args = parser.parse_args()

    with database_url(args) as url:
        db = open_database(url)
        try:
            upgrade(db)
            began = time.perf_counter()
            step = max(args.chunk, args.count // 10)

            def report(done: int) -> None:
                if done % step < args.chunk or done == args.count:
                    elapsed = time.perf_counter() - began
                    rate = done / elapsed
                    print(f"  {done:>10,} tasks  {elapsed:7.1f} s  {rate:9,.0f} tasks/s", flush=True)

            print(f"generating {args.count:,} tasks over {args.days} days into {db.dialect} ({url})")
            stats = generate_history(
                db, args.count, days=args.days, seed=args.seed, chunk=args.chunk, progress=report
            )
            size = 0
            with db.reading() as session:
                tags = session.execute(text("SELECT count(*) FROM task_tags")).scalar_one()
                if db.is_postgres:
                    size = session.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
            if db.is_sqlite:
                path = Path(str(db.url.database))
                with db.write_engine.connect() as conn:  # settle the WAL into the file before measuring it
                    # On the raw connection: a checkpoint cannot run inside the engine's BEGIN IMMEDIATE.
                    raw: Any = conn.connection.dbapi_connection
                    raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                size = sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())
        finally:
            db.dispose()

    rows = stats.tasks + stats.events + stats.invocations + stats.activity + tags
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print()
    print(f"database            {db.dialect}")
    print(f"tasks               {stats.tasks:>14,}")
    print(f"events              {stats.events:>14,}  ({stats.events / max(1, stats.tasks):.1f} per task)")
    print(f"invocations         {stats.invocations:>14,}")
    print(f"activity lines      {stats.activity:>14,}")
    print(f"task_tags           {tags:>14,}")
    print(f"total rows          {rows:>14,}")
    print(f"seconds             {stats.seconds:>14.1f}")
    print(f"tasks/s             {stats.tasks / stats.seconds:>14,.0f}")
    print(f"events/s            {stats.events / stats.seconds:>14,.0f}")
    print(f"rows/s              {rows / stats.seconds:>14,.0f}")
    per_task = size / max(1, stats.tasks)
    print(f"database size       {size / 2**20:>14,.1f} MiB  ({per_task:,.0f} bytes per task)")
    print(f"peak RSS            {own:>14,.1f} MiB  (generator subprocess: {child:,.1f} MiB)")
    print(f"cpus                {os.cpu_count():>14}  load average {os.getloadavg()[0]:.2f}")
    if db.is_sqlite:
        rate = stats.tasks / stats.seconds
        verdict = "meets" if rate >= TARGET_SQLITE_TASKS_PER_S else "MISSES"
        print(f"target              {verdict} {TARGET_SQLITE_TASKS_PER_S:,} tasks/s on SQLite")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
