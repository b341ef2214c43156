"""Benchmark: alerting — (1) condition true → notification delivered: `python app.py` (web + worker, a real
subprocess) with TASKLENS_STUCK_AFTER_SECONDS and TASKLENS_ALERT_WEBHOOK_URL at a local receiver; silent command
tasks become stuck at a known moment (their start + the threshold) and the receiver notes when each "firing"
POST lands; cancelling each task starts the clock for its "resolved" POST. (2) The evaluator's cost per cycle
over a big history (--history tasks, default 1,000,000, generated into a temp SQLite file, or --url): every
built-in rule evaluated (the slow kinds forced every cycle), wall time and database time (SQLAlchemy cursor
events), per rule kind. Prints figures; asserts nothing.

    python bench/bench_alerts.py [--tasks 20] [--history 1000000] [--cycles 30] [--skip-delivery|--skip-cost]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import UTC
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

from common import (  # noqa: E402
    ROOT,
    free_port,
    fresh_database,
    machine_line,
    percentile,
    stop_processes,
    table,
    wait_up,
)


class _Receiver(ThreadingHTTPServer):
    def __init__(self) -> None:
        self.arrivals: list[tuple[float, dict[str, Any]]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                owner.arrivals.append((time.time(), json.loads(body)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)


def delivery(tasks: int, stuck_after: float, kind: str = "sqlite") -> None:
    from db.core.engine import open_database
    from db.domain.ops import TaskSpec
    from db.domain.states import TaskKind
    from db.read.tasks.detail import task_record
    from db.write.recorder import Recorder

    receiver = _Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    with fresh_database(kind) as url:
        port = free_port()
        env = {
            **os.environ,
            "TASKLENS_STUCK_AFTER_SECONDS": str(stuck_after),
            "TASKLENS_ALERT_WEBHOOK_URL": hook,
            "TASKLENS_WORKER_CONCURRENCY": str(tasks),
            "TASKLENS_LOG_LEVEL": "WARNING",
        }
        folder = Path(tempfile.mkdtemp(prefix="tasklens-bench-alerts-"))
        log = (folder / "app.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "--db", url, "--port", str(port)],
            cwd=ROOT,
            env={**env, "TASKLENS_DATA_DIR": str(folder)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        db = open_database(url)
        recorder = Recorder(db)
        try:
            wait_up(f"http://127.0.0.1:{port}", proc)
            ids = []
            for i in range(tasks):
                spec = TaskSpec(title=f"silent {i}", kind=TaskKind.COMMAND, payload={"command": "sleep 600"})
                ids.append(recorder.submit(spec))
                time.sleep(0.25)  # spread the moments they become stuck over the evaluator's period
            deadline = time.monotonic() + 60 + stuck_after
            while sum(1 for _, b in receiver.arrivals if b["event"] == "firing") < tasks:
                if time.monotonic() > deadline:
                    raise TimeoutError("not every firing notification arrived")
                time.sleep(0.05)
            cancelled: dict[int, float] = {}
            for task_id in ids:
                cancelled[task_id] = time.time()
                recorder.cancel(task_id, actor="bench")
                time.sleep(0.25)
            deadline = time.monotonic() + 60
            while sum(1 for _, b in receiver.arrivals if b["event"] == "resolved") < tasks:
                if time.monotonic() > deadline:
                    raise TimeoutError("not every resolved notification arrived")
                time.sleep(0.05)
            firing, resolved = [], []
            with db.reading() as session:
                stuck_at = {}
                for task_id in ids:
                    task = task_record(session, task_id)
                    assert task is not None and task.started_at is not None
                    stuck_at[task_id] = task.started_at.replace(tzinfo=UTC).timestamp() + stuck_after
            for at, body in receiver.arrivals:
                task_id = body["task"]["id"]
                if body["event"] == "firing":
                    firing.append(at - stuck_at[task_id])
                else:
                    resolved.append(at - cancelled[task_id])
        finally:
            stop_processes([proc])
            log.close()
            db.dispose()
            receiver.shutdown()
            shutil.rmtree(folder, ignore_errors=True)
    print(
        f"\nCondition true → webhook delivered ({tasks} stuck tasks, stuck after {stuck_after:g} s, {kind}):"
    )
    rows = [
        ["stuck → firing POST", len(firing), percentile(firing, 50), percentile(firing, 95), max(firing)],
        [
            "cancel → resolved POST",
            len(resolved),
            percentile(resolved, 50),
            percentile(resolved, 95),
            max(resolved),
        ],
    ]
    print(table(["path", "n", "p50 s", "p95 s", "max s"], rows))


# SQLite keeps a time as integer microseconds since 1970 (db/core/timecol.py).
SYNTHETIC_TASKS = """
INSERT INTO tasks (id, title, kind, payload, status, priority, tags, created_by, attempt, max_attempts,
    current_iteration, progress, cancel_requested, available_at, created_at, started_at, completed_at,
    last_updated_at, last_activity_at, update_count, invocation_count, activity_count, input_tokens,
    output_tokens, cache_read_tokens, cost_usd)
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :count),
t(i, at) AS (SELECT i, CAST(((julianday('now') - 2440587.5) * 86400 - (:count - i) * 7776 / (:count / 1000))
                            * 1000000 AS INTEGER) FROM n)
SELECT i, 'synthetic ' || i, CASE i % 3 WHEN 0 THEN 'demo' WHEN 1 THEN 'command' ELSE 'python' END, '{}',
       CASE WHEN i % 12 = 0 THEN 'failed' WHEN i % 50 = 0 THEN 'cancelled' ELSE 'completed' END, 0,
       CASE WHEN i % 10 = 0 THEN '["research"]' ELSE '[]' END, 'bench', 1, 1, 1, 1.0, 0, at, at, at, at, at, at,
       3, 1, 0, 100, 20, 0, 0.002
FROM t
"""
SYNTHETIC_CALLS = """
INSERT INTO invocations (id, task_id, role, provider, model, status, started_at, completed_at, input_tokens,
    output_tokens, cache_read_tokens, cost_usd)
SELECT 'c' || id, id, CASE id % 2 WHEN 0 THEN 'planner' ELSE 'builder' END, 'acme',
       CASE id % 3 WHEN 0 THEN 'claude' ELSE 'gpt' END, 'completed', started_at, completed_at, 100, 20, 0, 0.002
FROM tasks
"""
SYNTHETIC_TAGS = "INSERT INTO task_tags (task_id, tag) SELECT id, 'research' FROM tasks WHERE id % 10 = 0"
SYNTHETIC_TASKS_PG = """
INSERT INTO tasks (id, title, kind, payload, status, priority, tags, created_by, attempt, max_attempts,
    current_iteration, progress, cancel_requested, available_at, created_at, started_at, completed_at,
    last_updated_at, last_activity_at, update_count, invocation_count, activity_count, input_tokens,
    output_tokens, cache_read_tokens, cost_usd)
SELECT i, 'synthetic ' || i, CASE i % 3 WHEN 0 THEN 'demo' WHEN 1 THEN 'command' ELSE 'python' END, '{}'::json,
       CASE WHEN i % 12 = 0 THEN 'failed' WHEN i % 50 = 0 THEN 'cancelled' ELSE 'completed' END, 0,
       (CASE WHEN i % 10 = 0 THEN '["research"]' ELSE '[]' END)::json, 'bench', 1, 1, 1, 1.0, false,
       at, at, at, at, at, at, 3, 1, 0, 100, 20, 0, 0.002
FROM (SELECT i, (now() AT TIME ZONE 'utc') - make_interval(secs => (:count - i) * 7776.0 / (:count / 1000))
      AS at FROM generate_series(1, :count) AS i) AS t
"""


def _synthetic_pg(db: Any, count: int) -> None:
    from sqlalchemy import text

    with db.write_engine.begin() as conn:
        conn.execute(text(SYNTHETIC_TASKS_PG), {"count": count})
        conn.execute(text("SELECT setval(pg_get_serial_sequence('tasks', 'id'), :n)"), {"n": count})
        conn.execute(text(SYNTHETIC_CALLS))
        conn.execute(text(SYNTHETIC_TAGS))
    with db.write_engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))


def _synthetic(db: Any, count: int) -> None:
    """`count` finished tasks over 90 days, one call each, a tenth tagged: rows of the shape the evaluator
    reads (outcomes, times, spend), inserted by SQLite itself in seconds (the history generator's full tasks
    with activity take tens of minutes and ~15 GB at a million)."""
    from sqlalchemy import text

    with db.write_engine.begin() as conn:
        conn.execute(text(SYNTHETIC_TASKS), {"count": count})
        conn.execute(text(SYNTHETIC_CALLS))
        conn.execute(text(SYNTHETIC_TAGS))
        conn.execute(text("ANALYZE"))


def evaluator_cost(url: str | None, history: int, cycles: int, synthetic: bool = False) -> None:
    from sqlalchemy import event

    from config import Settings
    from db.alerts.rules import create_rule
    from db.analytics import budgets, rollups
    from db.core.engine import open_database
    from db.core.migrate import upgrade
    from db.core.timeutil import utcnow
    from db.domain.ops import TaskSpec
    from db.domain.states import TaskKind
    from db.write.recorder import Recorder
    from worker.alerting import Evaluator

    folder = None
    if synthetic:
        if url is None:
            folder = tempfile.mkdtemp(prefix="tasklens-bench-alerts-")
            url = f"sqlite:///{folder}/bench.db"
        db = open_database(url)
        upgrade(db)
        started = time.monotonic()
        (_synthetic_pg if db.is_postgres else _synthetic)(db, history)
        with db.writing() as session:
            rollups.rebuild(session, None)
            rollups.refresh(session, utcnow())
        print(
            f"inserted {history:,} tasks and calls (synthetic) and the rollups in {time.monotonic() - started:.0f}s"
        )
    elif url is None:
        folder = tempfile.mkdtemp(prefix="tasklens-bench-alerts-")
        url = f"sqlite:///{folder}/bench.db"
        db = open_database(url)
        upgrade(db)
        from worker.history import generate_history

        started = time.monotonic()
        stats = generate_history(db, history, days=90, seed=1)
        with db.writing() as session:
            rollups.rebuild(session, None)
            rollups.refresh(session, utcnow())
        print(
            f"generated {stats.tasks:,} tasks and the rollups in {time.monotonic() - started:.0f}s",
            flush=True,
        )
    else:
        db = open_database(url)
        upgrade(db)
    recorder = Recorder(db)
    with db.writing() as session:
        budgets.add_budget(session, "bench all", "month", 1000.0)
        budgets.add_budget(session, "bench tag", "month", 100.0, "tag", "research")
        # Besides the built-ins, one rule of each other kind.
        for values in (
            {"name": "b failed", "kind": "task_failed", "window_seconds": 900, "pattern": "timeout"},
            {"name": "b slow", "kind": "response_time", "threshold": 5, "window_seconds": 600},
            {"name": "b fleet", "kind": "workers_unavailable", "threshold": 0.5, "window_seconds": 3600},
        ):
            create_rule(session, values, utcnow())
    for i in range(50):  # some running tasks for the stuck rule to look at, half of them claimed
        recorder.submit(TaskSpec(title=f"running {i}", kind=TaskKind.COMMAND, payload={"command": "true"}))
    for _ in range(25):
        recorder.claim("bench-worker", [TaskKind.COMMAND], 3600.0)

    spent: dict[str, float] = defaultdict(float)
    current = ["other"]

    @event.listens_for(db.read_engine, "before_cursor_execute")
    def _before(conn: Any, *_: Any) -> None:
        conn.info["bench_t"] = time.perf_counter()

    @event.listens_for(db.read_engine, "after_cursor_execute")
    def _after(conn: Any, *_: Any) -> None:
        spent[current[0]] += time.perf_counter() - conn.info.pop("bench_t", time.perf_counter())

    evaluator = Evaluator(Settings(database_url=url), recorder, "bench")
    conditions = dict(evaluator.conditions)
    for kind, condition in conditions.items():

        def timed(session: Any, rule: Any, now: Any, _c: Any = condition, _k: str = kind.value) -> Any:
            current[0] = _k
            try:
                return _c(session, rule, now)
            finally:
                current[0] = "other"

        evaluator.conditions[kind] = timed
    walls, db_times, per_kind = [], [], defaultdict(list)
    evaluator.cycle()  # warm caches and the first alerts' writes
    for _ in range(cycles):
        evaluator._slow.clear()  # budgets and spend every cycle too (they normally run every 30 s)
        spent.clear()
        t0 = time.perf_counter()
        evaluator.cycle()
        walls.append((time.perf_counter() - t0) * 1000)
        db_times.append(sum(spent.values()) * 1000)
        for k, v in spent.items():
            per_kind[k].append(v * 1000)
    print(f"\nEvaluator cycle over {db.dialect} ({history:,}-task history when generated), {cycles} cycles:")
    print(
        table(
            ["", "p50 ms", "p95 ms"],
            [
                ["wall", percentile(walls, 50), percentile(walls, 95)],
                ["database", percentile(db_times, 50), percentile(db_times, 95)],
            ],
        )
    )
    print(
        table(
            ["rule kind (db time)", "p50 ms", "p95 ms"],
            [[k, percentile(v, 50), percentile(v, 95)] for k, v in sorted(per_kind.items())],
        )
    )
    db.dispose()
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=20, help="stuck tasks timed (default 20)")
    parser.add_argument(
        "--stuck-after", type=float, default=2.0, help="TASKLENS_STUCK_AFTER_SECONDS (default 2)"
    )
    parser.add_argument("--history", type=int, default=1_000_000, help="tasks generated for the cost part")
    parser.add_argument("--url", help="measure the evaluator over this database instead of a generated one")
    parser.add_argument(
        "--synthetic",
        action="store_true",
        help="insert --history plain finished tasks instead of a history (into --url, which must be empty)",
    )
    parser.add_argument(
        "--pg", action="store_true", help="with --synthetic: into a throw-away PostgreSQL database"
    )
    parser.add_argument("--cycles", type=int, default=30)
    parser.add_argument("--skip-delivery", action="store_true")
    parser.add_argument("--skip-cost", action="store_true")
    args = parser.parse_args()
    print(machine_line())
    if not args.skip_delivery:
        delivery(args.tasks, args.stuck_after, "postgresql" if args.pg else "sqlite")
    if not args.skip_cost:
        if args.pg:
            with fresh_database("postgresql") as url:
                evaluator_cost(url, args.history, args.cycles, synthetic=True)
        else:
            evaluator_cost(args.url, args.history, args.cycles, args.synthetic)


if __name__ == "__main__":
    main()
