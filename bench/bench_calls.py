"""Benchmarks: GET /api/v1/calls over 200,000 calls (2,000 tasks, 90 days) on SQLite and PostgreSQL — read
latency p50/p95 of the first page newest-first, of a rare model's calls (0.1 % of them), of a common model's,
of the second page by cursor and of a task's calls — with migration 0021's ix_invocations_model_started and
without it (dropped, the planner's statistics refreshed, then restored).

    python bench/bench_calls.py                 # both databases
    python bench/bench_calls.py --db sqlite --calls 50000 --repeat 20

The API runs in this process (the real app through Flask's test client: routing, validation, the read, the
JSON), so the figures are the server's time without the network. Figures are printed, nothing is asserted."""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

from common import check_postgres, db_kinds, fresh_database, machine_line, percentile, table  # noqa: E402

INDEX = "ix_invocations_model_started"
RARE = "rare-model"
MODELS = (("gpt-4.1", 0.45), ("claude-sonnet", 0.35), ("haiku", 0.199), (RARE, 0.001))


def seed(url: str, calls: int, tasks: int) -> int:
    """`tasks` tasks and `calls` calls spread over the last 90 days; returns a task id with calls."""
    from sqlalchemy import insert

    from db.core.engine import open_database
    from db.core.models import Invocation
    from db.core.timeutil import utcnow
    from db.domain.ops import TaskSpec
    from db.domain.states import TaskKind
    from db.write.writes import insert_tasks

    rng = random.Random(16)
    db = open_database(url)
    now = utcnow()
    with db.writing() as session:
        specs = [TaskSpec(title=f"bench {n}", kind=TaskKind.EXTERNAL) for n in range(tasks)]
        task_ids = insert_tasks(session, specs, actor="bench", now=now - timedelta(days=91))
    names = [name for name, _ in MODELS]
    weights = [weight for _, weight in MODELS]
    chunk = 10_000
    for start in range(0, calls, chunk):
        rows: list[dict[str, Any]] = []
        for n in range(start, min(calls, start + chunk)):
            at = now - timedelta(seconds=rng.uniform(0, 90 * 86400))
            model = rng.choices(names, weights)[0]
            tool = rng.random() < 0.3
            rows.append(
                {
                    "id": f"c{n:07d}",
                    "task_id": rng.choice(task_ids),
                    "role": "planner",
                    "provider": "p",
                    "model": "" if tool else model,
                    "name": "search_web" if tool else "",
                    "kind": "tool" if tool else "llm",
                    "status": "completed",
                    "started_at": at,
                    "completed_at": at + timedelta(seconds=rng.uniform(0.1, 30)),
                    "input_tokens": rng.randint(10, 5000),
                    "output_tokens": rng.randint(10, 2000),
                    "cache_read_tokens": 0,
                    "cost_usd": round(rng.uniform(0, 0.2), 4),
                    "placeholder": False,
                }
            )
        with db.writing() as session:
            session.execute(insert(Invocation), rows)
    db.dispose()
    return task_ids[0]


def analyze(url: str) -> None:
    from sqlalchemy import text

    from db.core.engine import open_database

    db = open_database(url)
    with db.writing() as session:
        session.execute(text("ANALYZE"))
    db.dispose()


def set_index(url: str, present: bool) -> None:
    from sqlalchemy import text

    from db.core.engine import open_database

    db = open_database(url)
    with db.writing() as session:
        if present:
            session.execute(text(f"CREATE INDEX IF NOT EXISTS {INDEX} ON invocations (model, started_at)"))
        else:
            session.execute(text(f"DROP INDEX IF EXISTS {INDEX}"))
    db.dispose()
    analyze(url)


def measure(url: str, task_id: int, repeat: int) -> dict[str, tuple[float, float]]:
    """p50 and p95 in ms of each read, `repeat` times each after one warm-up."""
    from config import Settings
    from dashboard.bridge import ChangeFeed
    from dashboard.server import create_app
    from dashboard.services import Services
    from db.core.engine import open_database
    from db.live.changefeed import Hub
    from db.write.recorder import Recorder

    db = open_database(url)
    recorder = Recorder(db, Hub())
    svc = Services(Settings(database_url=url), db, recorder, ChangeFeed(db, recorder.hub))
    client = create_app(svc).server.test_client()
    api = "/api/v1/calls"

    def get(path: str) -> dict[str, Any]:
        response = client.get(path)
        assert response.status_code == 200, response.get_data(as_text=True)[:300]
        body: dict[str, Any] = response.get_json()
        return body

    second = get(f"{api}?limit=50")["next_cursor"]
    reads: dict[str, Callable[[], Any]] = {
        "newest 50": lambda: get(f"{api}?limit=50"),
        "rare model, newest 50": lambda: get(f"{api}?model={RARE}&limit=50"),
        "common model, newest 50": lambda: get(f"{api}?model=gpt-4.1&limit=50"),
        "page 2 by cursor": lambda: get(f"{api}?limit=50&cursor={second}"),
        "one task's calls": lambda: get(f"{api}?task={task_id}&limit=50"),
        "costliest 50, 7d": lambda: get(f"{api}?range=7d&sort=-cost_usd&limit=50"),
    }
    out = {}
    for name, read in reads.items():
        read()
        took = []
        for _ in range(repeat):
            began = time.perf_counter()
            read()
            took.append((time.perf_counter() - began) * 1000)
        out[name] = (percentile(took, 50), percentile(took, 95))
    db.dispose()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--calls", type=int, default=200_000)
    parser.add_argument("--tasks", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=40)
    args = parser.parse_args()
    print(machine_line())
    print(f"load average at start: {os.getloadavg()}")
    for kind in db_kinds(args.db):
        if kind == "postgresql" and (problem := check_postgres()):
            print(f"postgresql: skipped ({problem})")
            continue
        with fresh_database(kind) as url:
            began = time.perf_counter()
            task_id = seed(url, args.calls, args.tasks)
            analyze(url)
            print(
                f"\n{kind}: {args.calls:,} calls, {args.tasks:,} tasks seeded in {time.perf_counter() - began:.0f} s"
            )
            with_index = measure(url, task_id, args.repeat)
            set_index(url, False)
            without = measure(url, task_id, args.repeat)
            set_index(url, True)
            rows = [
                (name, f"{p50:.1f}", f"{p95:.1f}", f"{without[name][0]:.1f}", f"{without[name][1]:.1f}")
                for name, (p50, p95) in with_index.items()
            ]
            print(table(("read", "p50 ms", "p95 ms", "p50 no index", "p95 no index"), rows))
    print(f"\nload average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
