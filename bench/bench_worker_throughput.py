"""Bench: how fast the worker drains a deep queue of tiny tasks, next to Celery 5 + Redis on the same machine.

For each queue depth D: D tasks are queued first (python `worker.examples:noop`), then the workers start; the
rate is taken over completions `--skip` .. `--skip + --window` (so start-up is not in it) from the database's
own `completed_at`. `--celery` runs the same tiny task through a real `celery worker -c 4` on the local Redis
(a private db, flushed before and after) with the same D queued, counting completions in Redis. Every round
is repeated `--repeat` times and interleaved (TaskLens, Celery, TaskLens, …) so both see the same load; the
table shows medians and every run, and the ratio of the medians.

    python bench/bench_worker_throughput.py --depths 5000,100000 --celery
    python bench/bench_worker_throughput.py --db postgresql --workers 2 --depths 5000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

from common import (  # noqa: E402
    fresh_database,
    median,
    start_worker_process,
    stop_processes,
    table,
    verdict,
    wait_workers_online,
)

CHUNK = 5_000


def queue_tasks(url: str, depth: int) -> None:
    from db.core.engine import open_database
    from db.domain.ops import TaskSpec
    from db.domain.states import TaskKind
    from db.write.recorder import Recorder

    db = open_database(url)
    try:
        recorder = Recorder(db)
        spec = TaskSpec(title="tiny", kind=TaskKind.PYTHON, payload={"callable": "worker.examples:noop"})
        for start in range(0, depth, CHUNK):
            recorder.submit_many([spec] * min(CHUNK, depth - start), actor="bench")
    finally:
        db.dispose()


def completed_count(db: object) -> int:
    from sqlalchemy import func, select

    from db.core.models import Task

    with db.reading() as session:  # type: ignore[attr-defined]
        return int(
            session.execute(
                select(func.count()).select_from(Task).where(Task.status == "completed")
            ).scalar_one()
        )


def window_rate(db: object, skip: int, window: int) -> float:
    """Tasks/s between the skip-th and (skip+window)-th completion, by the database's completed_at."""
    from sqlalchemy import select

    from db.core.models import Task

    with db.reading() as session:  # type: ignore[attr-defined]
        times = list(
            session.execute(
                select(Task.completed_at)
                .where(Task.status == "completed")
                .order_by(Task.completed_at)
                .offset(skip)
                .limit(window + 1)
            ).scalars()
        )
    span = (times[-1] - times[0]).total_seconds()
    return (len(times) - 1) / span if span > 0 else float("nan")


def events_complete(db: object) -> bool:
    """Every completed task has its created, queued→running and running→completed events."""
    from sqlalchemy import func, select

    from db.core.models import Task, TaskEvent

    with db.reading() as session:  # type: ignore[attr-defined]
        done = session.execute(
            select(func.count()).select_from(Task).where(Task.status == "completed")
        ).scalar_one()
        ends = session.execute(
            select(func.count()).select_from(TaskEvent).where(TaskEvent.to_status == "completed")
        ).scalar_one()
        starts = session.execute(
            select(func.count()).select_from(TaskEvent).where(TaskEvent.to_status == "running")
        ).scalar_one()
    return bool(ends == done and starts >= done)


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds of these processes so far, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def checkpoint(url: str) -> None:
    """Settle the setup before the workers start: SQLite folds the queueing's WAL into the file; PostgreSQL
    gets statistics for the table just filled (without them, autovacuum's analyze lands mid-run and the rate
    fell with depth: 229/s at 5,000 queued, 88/s at 20,000; analysed first, 164 and 186)."""
    if url.startswith("postgresql"):
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE tasks")
    if url.startswith("sqlite:///"):
        import sqlite3

        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def run_tasklens(kind: str, depth: int, args: argparse.Namespace) -> tuple[float, float, bool]:
    """Tasks/s over the window (database timestamps) and tasks per CPU-second of the worker processes."""
    from db.core.engine import open_database

    with fresh_database(kind) as url:
        queue_tasks(url, depth)
        checkpoint(url)
        need = min(depth, args.skip + args.window)
        skip = min(args.skip, need // 4)
        with tempfile.TemporaryFile() as log:
            procs = [
                start_worker_process(url, log, concurrency=args.concurrency) for _ in range(args.workers)
            ]
            db = open_database(url)
            try:
                wait_workers_online(url, args.workers, procs)
                pids = [p.pid for p in procs]
                deadline = time.monotonic() + args.timeout
                start: tuple[int, float] | None = None
                end: tuple[int, float] = (0, 0.0)
                while time.monotonic() < deadline:
                    done = completed_count(db)
                    if start is None and done >= skip:
                        start = (done, cpu_seconds(pids))
                    if done >= need:
                        end = (done, cpu_seconds(pids))
                        break
                    time.sleep(0.05)
                stop_processes(procs)
                rate = window_rate(db, skip, need - skip - 1)
                per_cpu = (
                    (end[0] - start[0]) / (end[1] - start[1]) if start and end[1] > start[1] else float("nan")
                )
                return rate, per_cpu, events_complete(db)
            finally:
                stop_processes(procs)
                db.dispose()


def run_celery(depth: int, args: argparse.Namespace) -> float:
    import redis

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import celery_tiny

    client = redis.Redis.from_url(celery_tiny.BROKER)
    client.flushdb()
    try:
        sig = celery_tiny.tiny.s()
        with celery_tiny.app.producer_or_acquire() as producer:
            for _ in range(depth):
                sig.apply_async(producer=producer)
        need = min(depth, args.skip + args.window)
        skip = min(args.skip, need // 4)
        env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent))
        with tempfile.TemporaryFile() as log:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "celery_tiny",
                    "worker",
                    "-c",
                    str(args.concurrency),
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "-l",
                    "warning",
                ],
                cwd=Path(__file__).resolve().parent,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            try:
                deadline = time.monotonic() + args.timeout
                t0 = t1 = None
                while time.monotonic() < deadline:
                    done = int(client.get(celery_tiny.DONE_KEY) or 0)
                    now = time.monotonic()
                    if t0 is None and done >= skip:
                        t0, d0 = now, done
                    if done >= need:
                        t1, d1 = now, done
                        break
                    time.sleep(0.01)
                if t0 is None or t1 is None or t1 <= t0:
                    return float("nan")
                return (d1 - d0) / (t1 - t0)
            finally:
                stop_processes([proc])
    finally:
        client.flushdb()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--depths", default="5000,20000", help="queue depths, comma-separated")
    p.add_argument("--workers", type=int, default=1, help="TaskLens worker processes")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--skip", type=int, default=300, help="completions left out at the start")
    p.add_argument("--window", type=int, default=3000, help="completions the rate is taken over")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument(
        "--celery", action="store_true", help="also run the same tiny tasks through Celery + Redis"
    )
    args = p.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} CPUs", flush=True)
    rows = []
    medians: list[tuple[int, float, float, float]] = []  # depth, TaskLens, Celery, TaskLens per CPU-s
    for depth in [int(d) for d in args.depths.split(",")]:
        ours: list[float] = []
        cpu: list[float] = []
        theirs: list[float] = []
        logged = True
        for i in range(args.repeat):
            rate, per_cpu, ok = run_tasklens(args.db, depth, args)
            ours.append(rate)
            cpu.append(per_cpu)
            logged = logged and ok
            print(
                f"  depth {depth:,} run {i + 1}: TaskLens {rate:,.1f}/s, {per_cpu:,.0f} per worker CPU-s "
                f"(events complete: {ok})",
                flush=True,
            )
            if args.celery:
                theirs.append(run_celery(depth, args))
                print(f"  depth {depth:,} run {i + 1}: Celery {theirs[-1]:,.1f}/s", flush=True)
        ratio = median(ours) / median(theirs) if theirs else float("nan")
        medians.append((depth, median(ours), median(theirs), median(cpu)))
        rows.append(
            [
                f"{depth:,} queued",
                median(ours),
                " ".join(f"{r:.0f}" for r in ours),
                median(cpu),
                median(theirs),
                " ".join(f"{r:.0f}" for r in theirs),
                f"{ratio:.2f}" if theirs else "-",
                "yes" if logged else "NO",
            ]
        )
    print()
    print(
        f"{args.db}, {args.workers} worker process(es) x concurrency {args.concurrency}; "
        f"load average now {os.getloadavg()[0]:.2f}"
    )
    print(table(["depth", "TaskLens/s", "runs", "per CPU-s", "Celery/s", "runs", "ratio", "events"], rows))
    if args.celery and medians:
        print(f"target TaskLens >= Celery at every depth: {verdict(all(o >= c for _, o, c, _ in medians))}")
    if len(medians) > 1:
        shallow, deep = medians[0], medians[-1]
        # "The same rate": within the noise of a shared machine, judged as 10 %.
        flat = deep[1] >= 0.9 * shallow[1]
        print(
            f"target flat with depth: {deep[1]:,.0f}/s at {deep[0]:,} vs {shallow[1]:,.0f}/s at {shallow[0]:,} "
            f"({deep[1] / shallow[1]:.2f}): {verdict(flat)}; per worker CPU-second, which the machine's load "
            f"moves much less: {deep[3]:,.0f} vs {shallow[3]:,.0f} ({deep[3] / shallow[3]:.2f})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
