"""Benchmark: recorded events per second through the ONE write path (db.write.recorder.Recorder), on SQLite and
PostgreSQL — single ops, worker-sized batches, full task lifecycles, several writer processes, and real
worker processes end to end. Each figure is the median of several runs.

    python bench/bench_recorder.py [--db sqlite|postgresql|both] [--seconds 2] [--repeat 3]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The project (db, worker) and the helpers beside this file, however the script is started. `common` is
# imported by its plain name because bench/ is a folder of scripts, not a package.
for _path in (Path(__file__).resolve().parent.parent, Path(__file__).resolve().parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from common import (  # noqa: E402
    check_postgres,
    db_kinds,
    fresh_database,
    machine_line,
    median,
    rss_mb,
    start_worker_process,
    stop_processes,
    table,
    verdict,
    wait_workers_online,
)

TARGET_SQLITE_EVENTS = 5_000
BATCH = 50
TASKS_PER_WRITER = 10
LINE = "bench: tool_exec read_file src/app/module.py (412 lines) -> ok in 3 ms"


@dataclass
class Result:
    """One measurement: its runs (a rate each) and what the rate counts."""

    label: str
    unit: str
    runs: list[float] = field(default_factory=list)
    extra: dict[str, list[float]] = field(default_factory=dict)

    @property
    def value(self) -> float:
        return median(self.runs)

    def add(self, rate: float, per_cpu_second: float) -> None:
        """A run's rate by the wall clock, and by this process's CPU time (what it would be on an idle core)."""
        self.runs.append(rate)
        self.extra.setdefault("per CPU-s", []).append(per_cpu_second)


# ---- in-process writers ------------------------------------------------------------------------------
class Writer:
    """A Recorder with its own running tasks, as one worker process holds them."""

    def __init__(self, url: str, name: str) -> None:
        from db.core.engine import open_database
        from db.domain.states import TaskKind
        from db.live.changefeed import Hub
        from db.write.recorder import Recorder
        from db.write.workers import WorkerIdentity

        self.db = open_database(url)
        self.recorder = Recorder(self.db, Hub())
        self.kinds = frozenset({TaskKind.PYTHON})
        self.worker_id = f"bench-{name}"
        self.actor = f"worker:{self.worker_id}"
        self.recorder.register_worker(WorkerIdentity(self.worker_id, name, "bench", 0, 4))
        self.task_ids = [self.own_running_task() for _ in range(TASKS_PER_WRITER)]

    def spec(self) -> Any:
        from db.domain.ops import TaskSpec
        from db.domain.states import TaskKind

        return TaskSpec(
            title="bench task",
            kind=TaskKind.PYTHON,
            payload={"callable": "worker.examples:count_to", "n": 1, "delay": 0},
        )

    def own_running_task(self) -> int:
        """A task running under this writer. Started by id rather than claimed, so that writers in other
        processes (which claim nothing) never take each other's tasks."""
        from datetime import timedelta

        from db.core.timeutil import utcnow
        from db.domain.ops import Transition
        from db.domain.states import TaskStatus

        task_id = self.recorder.submit(self.spec(), actor="bench")
        start = Transition(
            TaskStatus.RUNNING, worker_id=self.worker_id, lease_until=utcnow() + timedelta(hours=1)
        )
        self.recorder.record(task_id, start, actor=self.actor)
        return task_id

    def lifecycle_start(self) -> int:
        """Submit a task and claim it, as a worker does (2 transactions, 2 events). Only for a writer alone
        on its database: a claim takes whichever task is first in the queue."""
        self.recorder.submit(self.spec(), actor="bench")
        claimed = self.recorder.claim(self.worker_id, self.kinds, 3600.0)
        if claimed is None:
            raise RuntimeError("the task just submitted was not claimable")
        return claimed.id

    def single(self, seconds: float) -> tuple[int, float, float]:
        """One ActivityLine per transaction, round-robin over this writer's tasks: (events, elapsed)."""
        from db.domain.ops import ActivityLine

        op = ActivityLine(LINE)
        ids, record, actor, owner = self.task_ids, self.recorder.record, self.actor, self.worker_id
        n = 0
        c0, t0 = time.process_time(), time.perf_counter()
        deadline = t0 + seconds
        while True:
            record(ids[n % len(ids)], op, actor=actor, owner=owner)
            n += 1
            now = time.perf_counter()
            if now >= deadline:
                return n, now - t0, time.process_time() - c0

    def batched(self, seconds: float) -> tuple[int, float, float]:
        """BATCH ActivityLines per transaction, as the worker's OpSink flushes them."""
        from db.domain.ops import ActivityLine

        ops = [ActivityLine(f"{LINE} #{i}") for i in range(BATCH)]
        ids, record, actor, owner = self.task_ids, self.recorder.record, self.actor, self.worker_id
        n = 0
        c0, t0 = time.process_time(), time.perf_counter()
        deadline = t0 + seconds
        while True:
            record(ids[n % len(ids)], *ops, actor=actor, owner=owner)
            n += 1
            now = time.perf_counter()
            if now >= deadline:
                return n * BATCH, now - t0, time.process_time() - c0

    def lifecycles(self, seconds: float) -> tuple[int, float, float]:
        """submit -> claim -> progress -> completed, one transaction each. Returns (tasks, elapsed)."""
        from db.domain.ops import Progress, Transition
        from db.domain.states import TaskStatus

        progress = Progress(iteration=1, max_iterations=1, message="halfway")
        done = Transition(TaskStatus.COMPLETED, result={"ok": True}, has_result=True)
        record, actor, owner = self.recorder.record, self.actor, self.worker_id
        n = 0
        c0, t0 = time.process_time(), time.perf_counter()
        deadline = t0 + seconds
        while True:
            task_id = self.lifecycle_start()
            record(task_id, progress, actor=actor, owner=owner)
            record(task_id, done, actor=actor, owner=owner)
            n += 1
            now = time.perf_counter()
            if now >= deadline:
                return n, now - t0, time.process_time() - c0

    def close(self) -> None:
        self.db.dispose()


def bench_in_process(url: str, seconds: float, repeat: int) -> list[Result]:
    writer = Writer(url, "solo")
    single = Result("a) 1 process, 1 event / transaction", "events/s")
    batched = Result(f"b) 1 process, {BATCH} events / transaction", "events/s")
    life_tasks = Result("c) full lifecycles (submit, claim, progress, completed)", "tasks/s")
    # Per lifecycle: created, queued->running, progress, running->completed.
    life_transitions = Result("c)   ... status transitions (queued->running->completed)", "transitions/s")
    life_events = Result("c)   ... events (4 per task, 4 transactions)", "events/s")
    try:
        for _ in range(repeat):
            n, dt, cpu = writer.single(seconds)
            single.add(n / dt, n / cpu)
            n, dt, cpu = writer.batched(seconds)
            batched.add(n / dt, n / cpu)
            n, dt, cpu = writer.lifecycles(seconds)
            life_tasks.add(n / dt, n / cpu)
            life_transitions.add(2 * n / dt, 2 * n / cpu)
            life_events.add(4 * n / dt, 4 * n / cpu)
    finally:
        writer.close()
    return [single, batched, life_tasks, life_transitions, life_events]


# ---- several writer processes ------------------------------------------------------------------------
def _writer_process(
    url: str, name: str, modes: list[str], seconds: float, repeat: int, barrier: Any, results: Any
) -> None:
    writer = Writer(url, name)
    results.put("ready")
    try:
        for mode in modes:
            run: Callable[[float], tuple[int, float, float]] = (
                writer.single if mode == "single" else writer.batched
            )
            for _ in range(repeat):
                barrier.wait()
                n, dt, _cpu = run(seconds)
                results.put(n / dt)
    finally:
        writer.close()


def _get(results: Any, procs: list[Any], timeout: float = 300.0) -> Any:
    """The next message from the writer processes; fails at once when one of them died."""
    import queue

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return results.get(timeout=0.5)
        except queue.Empty:
            dead = [p for p in procs if p.exitcode not in (None, 0)]
            if dead:
                raise RuntimeError(
                    f"writer process {dead[0].pid} died (exit code {dead[0].exitcode})"
                ) from None
    raise TimeoutError("writer processes sent nothing")


def bench_processes(url: str, seconds: float, repeat: int, counts: tuple[int, ...]) -> list[Result]:
    ctx = mp.get_context("spawn")
    modes = ["single", "batched"]
    out: list[Result] = []
    for count in counts:
        barrier = ctx.Barrier(count + 1)
        results = ctx.Queue()
        procs = [
            ctx.Process(
                target=_writer_process,
                args=(url, f"p{count}-{i}", modes, seconds, repeat, barrier, results),
                daemon=True,
            )
            for i in range(count)
        ]
        for p in procs:
            p.start()
        try:
            for _ in range(count):
                _get(results, procs)  # "ready": setup done, so the barrier below cannot wait for a dead child
            for mode in modes:
                label = "1 event / tx" if mode == "single" else f"{BATCH} events / tx"
                result = Result(f"d) {count} process{'es' if count > 1 else ''}, {label}", "events/s total")
                for _ in range(repeat):
                    barrier.wait(timeout=60)
                    result.runs.append(sum(_get(results, procs) for _ in range(count)))
                out.append(result)
        finally:
            for p in procs:
                p.join(timeout=30)
                if p.is_alive():
                    p.terminate()
    return out


# ---- real worker processes ---------------------------------------------------------------------------
TASK_SPECS: dict[str, dict[str, Any]] = {
    "python": {"callable": "worker.examples:count_to", "n": 1, "delay": 0},
    "command": {"command": "true"},
}


def _run_batch(url: str, kind: str, tasks: int, timeout: float = 300.0) -> dict[str, float]:
    """Submit `tasks` tasks at once and wait until all ended; rates from the database's own timestamps."""
    from sqlalchemy import func, select

    from db.core.engine import open_database
    from db.core.models import Task, TaskEvent
    from db.domain.ops import TaskSpec
    from db.domain.states import TERMINAL, EventType, TaskKind
    from db.live.changefeed import Hub
    from db.write.recorder import Recorder

    db = open_database(url)
    try:
        recorder = Recorder(db, Hub())
        specs = [
            TaskSpec(title=f"bench {kind} {i}", kind=TaskKind(kind), payload=TASK_SPECS[kind])
            for i in range(tasks)
        ]
        ids = recorder.submit_many(specs, actor="bench")
        lo, hi = min(ids), max(ids)
        in_batch = Task.id.between(lo, hi)
        terminal = [s.value for s in TERMINAL]
        deadline = time.monotonic() + timeout
        while True:
            with db.reading() as session:
                ended = session.execute(
                    select(func.count()).where(in_batch, Task.status.in_(terminal))
                ).scalar_one()
            if ended >= tasks:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {ended}/{tasks} tasks ended in {timeout:.0f}s")
            time.sleep(0.05)
        with db.reading() as session:
            first, last, completed = session.execute(
                select(
                    func.min(Task.created_at),
                    func.max(Task.completed_at),
                    func.count().filter(Task.status == "completed"),
                ).where(in_batch)
            ).one()
            in_events = TaskEvent.task_id.between(lo, hi)
            events = session.execute(select(func.count()).where(in_events)).scalar_one()
            transitions = session.execute(
                select(func.count()).where(in_events, TaskEvent.type == EventType.TRANSITION.value)
            ).scalar_one()
        if first is None or last is None:
            raise RuntimeError("the batch has no created_at / completed_at to measure")
        span = (last - first).total_seconds()
        return {
            "tasks/s": completed / span,
            "transitions/s": transitions / span,
            "events/s": events / span,
            "failed": float(tasks - completed),
        }
    finally:
        db.dispose()


def bench_workers(
    kind_db: str, kinds: list[str], workers: tuple[int, ...], tasks: int, repeat: int
) -> list[Result]:
    out: list[Result] = []
    for k in workers:
        with fresh_database(kind_db) as url, tempfile.TemporaryFile() as log:
            procs = [start_worker_process(url, log, concurrency=4) for _ in range(k)]
            try:
                wait_workers_online(url, k, procs)
                for kind in kinds:
                    what = "python count_to(n=1)" if kind == "python" else "command `true`"
                    label = f"e) {k} worker process{'es' if k > 1 else ''} x4, {tasks} {what}"
                    res = {
                        unit: Result(label if unit == "tasks/s" else "e)   ...", unit)
                        for unit in ("tasks/s", "transitions/s", "events/s")
                    }
                    failed = 0.0
                    for _ in range(repeat):
                        figures = _run_batch(url, kind, tasks)
                        for unit, r in res.items():
                            r.runs.append(figures[unit])
                        failed += figures["failed"]
                    if failed:
                        res["tasks/s"].label += f" ({failed:.0f} not completed!)"
                    rss = [rss_mb(p.pid) for p in procs]
                    res["events/s"].extra["worker RSS MiB"] = rss
                    out.extend(res.values())
            finally:
                stop_processes(procs)
                for p in procs:
                    if p.returncode not in (0, None):
                        log.seek(0)
                        print(log.read().decode(errors="replace")[-3000:], file=sys.stderr)
                        break
    return out


# ---- main --------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=2.0, help="length of one measurement (default 2)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the median is shown")
    parser.add_argument("--processes", default="1,2,4", help="writer process counts for d) (default 1,2,4)")
    parser.add_argument("--workers", default="1,2", help="worker process counts for e) (default 1,2)")
    parser.add_argument("--worker-tasks", type=int, default=400, help="tasks per e) run (default 400)")
    parser.add_argument(
        "--worker-kind",
        choices=["python", "command", "both"],
        default="both",
        help="task kind for e) (default both)",
    )
    parser.add_argument(
        "--skip", default="", help="comma-separated sections to skip, of a,b,c,d,e (a, b and c run together)"
    )
    args = parser.parse_args(argv)
    skip = set(args.skip.split(",")) - {""}
    counts = tuple(int(c) for c in args.processes.split(","))
    workers = tuple(int(c) for c in args.workers.split(","))
    kinds = ["python", "command"] if args.worker_kind == "both" else [args.worker_kind]

    print(
        f"bench_recorder: {machine_line()}; {args.seconds:g}s per measurement, median of {args.repeat}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    results: dict[str, list[Result]] = {}
    for kind_db in db_kinds(args.db):
        if kind_db == "postgresql" and (why := check_postgres()):
            print(f"postgresql: skipped ({why})")
            continue
        started = time.monotonic()
        print(f"\n[{kind_db}] running ...", flush=True)
        rows: list[Result] = []
        if not {"a", "b", "c"} <= skip:
            with fresh_database(kind_db) as url:
                rows += bench_in_process(url, args.seconds, args.repeat)
        if "d" not in skip:
            with fresh_database(kind_db) as url:
                rows += bench_processes(url, args.seconds, args.repeat, counts)
        if "e" not in skip:
            rows += bench_workers(kind_db, kinds, workers, args.worker_tasks, args.repeat)
        results[kind_db] = rows
        print(
            f"[{kind_db}] done in {time.monotonic() - started:.0f}s, load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )
        print(_section(kind_db, rows), flush=True)

    print("\nSummary (medians)")
    kinds_run = list(results)
    first = results[kinds_run[0]] if kinds_run else []
    summary = []
    for i, r in enumerate(first):
        summary.append([r.label, r.unit, *[results[k][i].value for k in kinds_run]])
    print(table(["measurement", "unit", *kinds_run], summary))
    if "sqlite" in results and results["sqlite"] and results["sqlite"][0].label.startswith("a)"):
        value = results["sqlite"][0].value
        cpu = median(results["sqlite"][0].extra["per CPU-s"])
        print(
            f"\nTarget: >= {TARGET_SQLITE_EVENTS:,} recorded events/s on SQLite from one process "
            f"(one event per transaction): {value:,.0f} -> {verdict(value >= TARGET_SQLITE_EVENTS)} "
            f"(by the writer's CPU time, i.e. on an idle core: {cpu:,.0f} -> "
            f"{verdict(cpu >= TARGET_SQLITE_EVENTS)})"
        )
        batched = results["sqlite"][1].value
        print(
            f"        the same with worker-sized batches ({BATCH} per transaction): {batched:,.0f} -> "
            f"{verdict(batched >= TARGET_SQLITE_EVENTS)}"
        )
    return 0


def _note(key: str, values: list[float]) -> str:
    if key == "per CPU-s":
        return f"{median(values):,.0f} per CPU-second"
    return f"{key}: " + ", ".join(f"{v:.0f}" for v in values)


def _section(kind_db: str, rows: list[Result]) -> str:
    body = []
    for r in rows:
        runs = " / ".join(f"{x:,.0f}" for x in r.runs)
        note = "  ".join(_note(k, vs) for k, vs in r.extra.items())
        target = ""
        if kind_db == "sqlite" and r.label.startswith(("a)", "b)")):
            target = f">= {TARGET_SQLITE_EVENTS:,} {verdict(r.value >= TARGET_SQLITE_EVENTS)}"
        body.append([r.label, r.unit, r.value, runs, target, note])
    return table(["measurement", "unit", "median", "runs", "target", "note"], body)


if __name__ == "__main__":
    sys.exit(main())
