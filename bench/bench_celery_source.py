"""Benchmark: the Celery source keeping up — Celery task events recorded per second through one TaskLens
process (`python app.py celery --broker URL`, a child process on a fresh SQLite file). Prints figures;
asserts nothing.

    python bench/bench_celery_source.py [--brokers redis,rabbitmq] [--real 3000] [--rate 2500] [--seconds 8]
                                        [--keep FILE]

For each broker (the local Redis, database --redis-db, flushed before and after; the local RabbitMQ, a vhost of
its own made and deleted with rabbitmqctl):
a) real: a real `celery worker -c 4 -E` (prefork) drains --real no-op tasks sent at once; TaskLens records
   them. Prints Celery's rate (first start to last end, by Celery's clocks, as recorded), and TaskLens's:
   tasks and events recorded per second from the first send to the last task recorded complete, and the lag
   (last task recorded complete − its Celery end).
b) flood: Celery is the bottleneck in a) (~550–600 tiny tasks/s here), so a publisher process sends Celery's
   own events through `app.events.Dispatcher` as four prefork workers would (task-sent, task-received,
   task-started, task-succeeded per task — one in 20 task-failed with a traceback — buffered 100 to a message)
   at --rate tasks/s for --seconds; prints tasks and events recorded per second, the lag after the last send,
   and the consumer's tasks per CPU-second. --keep FILE floods into that SQLite file and keeps it (100,000
   Celery-recorded tasks for bench_vs_flower.py --tl-db).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path
from typing import Any

for _path in (Path(__file__).resolve().parent.parent, Path(__file__).resolve().parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from common import ROOT, fresh_database, machine_line, stop_processes, table  # noqa: E402

TARGET = 2_000.0  # Celery tasks/s of events through one TaskLens process (issue 18)
FAILED_TRACEBACK = (
    'Traceback (most recent call last):\n  File "proj/tasks.py", line 9, in noop\nValueError: bench\n'
)


# ---- brokers ---------------------------------------------------------------------------------------------
@contextmanager
def redis_broker(db: int) -> Iterator[str]:
    import redis

    url = f"redis://127.0.0.1:6379/{db}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()


@contextmanager
def rabbit_broker() -> Iterator[str]:
    ctl = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    vhost = f"tasklens-bench-{uuid.uuid4().hex[:8]}"
    subprocess.run([ctl, "add_vhost", vhost], check=True, capture_output=True)
    try:
        subprocess.run(
            [ctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"], check=True, capture_output=True
        )
        yield f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
    finally:
        subprocess.run([ctl, "delete_vhost", vhost], capture_output=True)


# ---- TaskLens --------------------------------------------------------------------------------------------
class TaskLens:
    """`python app.py celery` on a fresh SQLite file, and reads of what it recorded."""

    def __init__(self, url: str, broker: str, log: Any) -> None:
        from db.core.engine import open_database

        env = {k: v for k, v in os.environ.items() if not k.startswith("TASKLENS_")}
        env.update(TASKLENS_DATABASE_URL=url, TASKLENS_LOG_LEVEL="WARNING")
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "celery", "--broker", broker],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.db = open_database(url)

    def completed(self) -> int:
        from sqlalchemy import func, select

        from db.core.models import Task

        with self.db.reading() as s:
            return int(
                s.scalar(select(func.count()).select_from(Task).where(Task.status == "completed")) or 0
            )

    def ended(self) -> int:
        from sqlalchemy import func, select

        from db.core.models import Task

        with self.db.reading() as s:
            return int(
                s.scalar(select(func.count()).select_from(Task).where(Task.completed_at.is_not(None))) or 0
            )

    def events(self) -> int:
        from sqlalchemy import func, select

        from db.core.models import IngestedEvent

        with self.db.reading() as s:
            return int(s.scalar(select(func.count()).select_from(IngestedEvent)) or 0)

    def span(self) -> tuple[Any, Any]:
        """Celery's first start and last end, as recorded."""
        from sqlalchemy import func, select

        from db.core.models import Task

        with self.db.reading() as s:
            return s.execute(select(func.min(Task.started_at), func.max(Task.completed_at))).one()

    def workers_seen(self) -> int:
        from sqlalchemy import func, select

        from db.core.models import Worker

        with self.db.reading() as s:
            return int(s.scalar(select(func.count()).select_from(Worker)) or 0)

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def wait(self, what: Any, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while not what():
            if self.proc.poll() is not None:
                raise RuntimeError("python app.py celery exited (see its log)")
            if time.monotonic() > deadline:
                raise TimeoutError("TaskLens did not record everything in time")
            time.sleep(0.05)
        return time.monotonic()

    def close(self) -> None:
        stop_processes([self.proc])
        self.db.dispose()


# ---- a) a real Celery worker -----------------------------------------------------------------------------
def run_real(broker: str, count: int, log: Any) -> list[Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKLENS_")}
    env["TASKLENS_BENCH_CELERY_BROKER"] = broker
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "celery_noop",
            "worker",
            "-c",
            "4",
            "-E",
            "-l",
            "warning",
            "-n",
            f"bench-{uuid.uuid4().hex[:6]}@%h",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=Path(__file__).resolve().parent,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    from celery import Celery

    app = Celery("celery_noop", broker=broker, set_as_current=False)
    app.conf.update(task_ignore_result=True, task_send_sent_event=True)
    with fresh_database("sqlite") as url:
        tl = TaskLens(url, broker, log)
        try:
            tl.wait(lambda: tl.workers_seen() > 0, 120)  # consuming: the worker's heartbeat was recorded
            start = time.monotonic()
            with app.producer_or_acquire() as producer:
                for _ in range(count):
                    app.send_task("noop", producer=producer)
            done = tl.wait(lambda: tl.completed() >= count, 600)
            first, last = tl.span()
            celery_rate = count / max((last - first).total_seconds(), 1e-9)
            seconds = done - start
            # The lag: from Celery's last end (its clock, this machine's) to the moment it was seen recorded.
            lag = time.time() - (time.monotonic() - done) - last.replace(tzinfo=UTC).timestamp()
            return [count, celery_rate, count / seconds, tl.events() / seconds, lag]
        finally:
            tl.close()
            stop_processes([worker])


# ---- b) a flood of Celery's own events -------------------------------------------------------------------
def publish(broker: str, rate: float, seconds: float) -> None:
    """Sends Celery events like four prefork workers at `rate` tasks/s (run in its own process)."""
    from celery import Celery

    app = Celery("bench-publisher", broker=broker, set_as_current=False)
    hosts = [f"celery@bench-{i}" for i in range(4)]
    with app.connection_for_write() as conn:
        ds = [app.events.Dispatcher(conn, hostname=h, buffer_group=["task"], buffer_limit=100) for h in hosts]
        for d in ds:
            d.send("worker-online", freq=2.0)
        total = int(rate * seconds)
        start = time.monotonic()
        for i in range(total):
            d = ds[i % len(ds)]
            u = str(uuid.uuid4())
            t = time.time()
            d.send(
                "task-sent",
                uuid=u,
                name="proj.noop",
                args="()",
                kwargs="{}",
                queue="celery",
                routing_key="celery",
                exchange="",
                retries=0,
                timestamp=t,
            )
            d.send(
                "task-received",
                uuid=u,
                name="proj.noop",
                args="()",
                kwargs="{}",
                retries=0,
                timestamp=t + 1e-4,
            )
            d.send("task-started", uuid=u, timestamp=t + 2e-4)
            if i % 20 == 19:  # one in 20 fails with a traceback, as in bench_vs_flower.py's Flower fill
                d.send(
                    "task-failed",
                    uuid=u,
                    exception="ValueError('bench')",
                    traceback=FAILED_TRACEBACK,
                    timestamp=t + 3e-4,
                )
            else:
                d.send("task-succeeded", uuid=u, result="None", runtime=1e-4, timestamp=t + 3e-4)
            ahead = (i + 1) / rate - (time.monotonic() - start)
            if ahead > 0.01:
                for x in ds:
                    x.flush()
                time.sleep(ahead)
        for d in ds:
            d.flush()


@contextmanager
def flood_database(keep: str | None) -> Iterator[str]:
    """A fresh SQLite file, or with `keep` that file (migrated, made if missing), left in place afterwards."""
    if keep is None:
        with fresh_database("sqlite") as url:
            yield url
        return
    from db.core.engine import open_database
    from db.core.migrate import upgrade

    url = f"sqlite:///{Path(keep).resolve()}"
    db = open_database(url)
    upgrade(db)
    db.dispose()
    yield url


def run_flood(broker: str, rate: float, seconds: float, log: Any, keep: str | None = None) -> list[Any]:
    count = int(rate * seconds)
    with flood_database(keep) as url:
        tl = TaskLens(url, broker, log)
        try:
            ctx = multiprocessing.get_context("spawn")
            # Redis keeps no event for a consumer that is not listening yet: beat until one is recorded.
            from celery import Celery

            app = Celery("bench-probe", broker=broker, set_as_current=False)
            with app.connection_for_write() as conn:
                probe = app.events.Dispatcher(conn, hostname="celery@bench-probe")
                tl.wait(lambda: probe.send("worker-heartbeat", active=0) or tl.workers_seen() > 0, 120)
            base_done, cpu0 = tl.ended(), tl.cpu_seconds()
            start = time.monotonic()
            sender = ctx.Process(target=publish, args=(broker, rate, seconds))
            sender.start()
            sender.join()
            sent = time.monotonic()
            try:
                done = tl.wait(lambda: tl.ended() - base_done >= count, 300)
            except TimeoutError:
                done = time.monotonic()
            recorded = tl.ended() - base_done
            cpu = tl.cpu_seconds() - cpu0
            wall = done - start
            return [
                count,
                recorded,
                recorded / wall,
                4 * recorded / wall,
                done - sent,
                recorded / max(cpu, 1e-9),
            ]
        finally:
            tl.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--brokers", default="redis,rabbitmq")
    parser.add_argument("--redis-db", type=int, default=15)
    parser.add_argument("--real", type=int, default=3000, help="tasks through a real Celery worker (0: skip)")
    parser.add_argument("--rate", type=float, default=2500.0, help="flood: Celery tasks/s of events sent")
    parser.add_argument("--seconds", type=float, default=8.0, help="flood: for this long")
    parser.add_argument(
        "--keep",
        metavar="FILE",
        help="flood into this SQLite file and keep it (e.g. 100,000 tasks for bench_vs_flower)",
    )
    args = parser.parse_args()
    print(machine_line(), "| load", os.getloadavg())
    log = open(Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-celery-source-{os.getpid()}.log", "w+")  # noqa: SIM115
    real_rows: list[list[Any]] = []
    flood_rows: list[list[Any]] = []
    for name in [b.strip() for b in args.brokers.split(",") if b.strip()]:
        broker_cm = redis_broker(args.redis_db) if name == "redis" else rabbit_broker()
        with broker_cm as broker:
            if args.real:
                real_rows.append([name, *run_real(broker, args.real, log)])
                print(
                    table(
                        ["broker", "tasks", "Celery tasks/s", "recorded tasks/s", "events/s", "lag s"],
                        real_rows[-1:],
                    )
                )
            flood_rows.append([name, *run_flood(broker, args.rate, args.seconds, log, args.keep)])
            print(
                table(
                    ["broker", "sent", "recorded", "tasks/s", "events/s", "lag s", "tasks/CPU-s"],
                    flood_rows[-1:],
                )
            )
    print("\na) a real Celery worker (-c 4, prefork), one TaskLens process recording")
    print(table(["broker", "tasks", "Celery tasks/s", "recorded tasks/s", "events/s", "lag s"], real_rows))
    print(f"\nb) Celery's events at {args.rate:,.0f} tasks/s for {args.seconds:g} s, one TaskLens process")
    print(table(["broker", "sent", "recorded", "tasks/s", "events/s", "lag s", "tasks/CPU-s"], flood_rows))
    best = max((r[3] for r in flood_rows), default=0.0)
    print(
        f"target ≥ {TARGET:,.0f} Celery tasks/s of events: best {best:,.0f} tasks/s",
        "(load",
        os.getloadavg(),
        ")",
    )
    print(f"logs: {log.name}")


if __name__ == "__main__":
    main()
