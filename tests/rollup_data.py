"""Test support: the fixed ten-day analytics data set (several kinds, every final status, retried tasks, four
workers, three roles, tool lines, runs that cross hour and day boundaries and range edges, work in the hour in
progress) written through the real write path, and `same`, the comparison of two answers."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import insert
from sqlalchemy.orm import Session

from db.core.engine import Database
from db.core.models import (
    CreatedHourly,
    EventsHourly,
    HistogramDaily,
    HistogramHourly,
    TaskDaily,
    TaskHourly,
    ToolDaily,
    ToolHourly,
    UsageDaily,
    UsageHourly,
    Worker,
    WorkerHourly,
)
from db.domain.ops import ActivityLine, InvocationFinished, InvocationStarted, Op, TaskSpec, Transition, Usage
from db.domain.states import ActivityType, TaskKind, TaskStatus
from db.write.writes import apply_ops, insert_tasks

NOW = datetime(2026, 3, 10, 12, 30)  # a Tuesday, half-way through an hour
S = timedelta(seconds=1)
H = timedelta(hours=1)
CUSTOM = "?from=2026-03-04T05:20&to=2026-03-08T17:45"
QUERIES = [
    "?range=24h",
    "?range=24h&kind=demo&kind=python",
    "?range=7d",
    "?range=7d&kind=command",
    "?range=30d",
    CUSTOM,
    CUSTOM + "&kind=command",
]
# Filters the rollups do not keep (all raw: trivially equal) or keep only in usage_hourly (roles).
ROLE_QUERIES = ["?range=7d&role=planner", "?range=30d&model=claude&kind=demo"]
WORKERS = ("w1", "w2", "w3", "w4")
CALLS = (("planner", "gpt-4.1"), ("builder", "claude"), ("tester", "haiku"))
TOOL_LINES = ("read_file a.py", "bash ls -la", "  grep -r x src", "web_search rollups", "read_file b.py")
PAYLOAD = {
    TaskKind.DEMO: {},
    TaskKind.COMMAND: {"command": "true"},
    TaskKind.PYTHON: {"callable": "pkg.mod:func"},
}
ROLLUPS = (
    UsageHourly,
    TaskHourly,
    CreatedHourly,
    WorkerHourly,
    ToolHourly,
    EventsHourly,
    HistogramHourly,
    HistogramDaily,
    UsageDaily,
    TaskDaily,
    ToolDaily,
)


# --- the data set --------------------------------------------------------------------------------------------


@dataclass
class Run:
    """One attempt: started at `start`, ending at `end` in `status` (None: still running)."""

    start: datetime
    end: datetime | None
    status: TaskStatus | None
    worker: str
    calls: list[tuple[str, str, datetime, datetime | None, bool, float]] = field(default_factory=list)
    tools: list[tuple[datetime, str, ActivityType]] = field(default_factory=list)


@dataclass
class Plan:
    created: datetime
    kind: TaskKind
    runs: list[tuple[datetime, Run]]  # (the time it became claimable, the run)
    cancel_at: datetime | None = None  # cancelled while queued
    tags: tuple[str, ...] = ()


def lognormal(rng: random.Random, median: float, sigma: float, cap: float) -> float:
    return min(cap, rng.lognormvariate(math.log(median), sigma))


def make_run(rng: random.Random, start: datetime, end: datetime | None, status: TaskStatus | None) -> Run:
    run = Run(start, end, status, rng.choice(WORKERS))
    stop = end or NOW - S
    for _ in range(rng.choice((0, 1, 1, 2, 3))):
        role, model = rng.choice(CALLS)
        at = start + (stop - start) * rng.random() * 0.5
        done: datetime | None = at + timedelta(seconds=lognormal(rng, 8, 1.4, 1800))
        if done is not None and done > stop:  # still open while the task runs, else cut at its end
            done = None if end is None else stop
        run.calls.append((role, model, at, done, rng.random() > 0.15, round(rng.uniform(0.001, 0.4), 4)))
    for _ in range(rng.choice((0, 1, 2, 4))):
        at = start + (stop - start) * rng.random()
        kind = ActivityType.TOOL_EXEC if rng.random() > 0.2 else ActivityType.OUTPUT
        run.tools.append((at, rng.choice(TOOL_LINES), kind))
    return run


def random_plan(rng: random.Random) -> Plan:
    created = NOW - timedelta(seconds=rng.randint(120, 10 * 86_400), milliseconds=rng.randint(0, 999))
    kind = rng.choice((TaskKind.DEMO, TaskKind.DEMO, TaskKind.COMMAND, TaskKind.PYTHON))
    fate = rng.choices(
        ("completed", "failed", "timed_out", "cancelled", "queued", "running", "retried", "cancel_queued"),
        weights=(45, 12, 5, 6, 4, 5, 18, 5),
    )[0]
    plan = Plan(created, kind, [], tags=("x",) if rng.random() < 0.2 else ())
    if fate == "queued":
        return plan
    if fate == "cancel_queued":
        plan.cancel_at = min(created + timedelta(seconds=lognormal(rng, 600, 1.5, 86_400)), NOW - S)
        return plan
    claimable = created
    attempts = rng.choice((2, 2, 3)) if fate == "retried" else 1
    for attempt in range(attempts):
        start = claimable + timedelta(
            seconds=lognormal(rng, 20, 1.5, 3600), microseconds=rng.randint(0, 999_999)
        )
        end = start + timedelta(
            seconds=lognormal(rng, 90, 1.6, 5 * 3600), microseconds=rng.randint(0, 999_999)
        )
        last = attempt == attempts - 1
        if start >= NOW - S:  # would start in the future: it is still waiting
            return plan
        if end >= NOW - S or (last and fate == "running"):
            plan.runs.append((claimable, make_run(rng, start, None, None)))
            return plan
        if not last:
            status = rng.choice((TaskStatus.FAILED, TaskStatus.TIMED_OUT))
        elif fate == "retried":
            status = rng.choice((TaskStatus.COMPLETED, TaskStatus.COMPLETED, TaskStatus.FAILED))
        else:
            status = TaskStatus(fate)
        plan.runs.append((claimable, make_run(rng, start, end, status)))
        # A retry some seconds to hours later, claimable after a back-off.
        claimable = end + timedelta(seconds=lognormal(rng, 300, 1.5, 6 * 3600)) + timedelta(seconds=30)
    return plan


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def fixed_plans() -> list[Plan]:
    """Runs ending on both sides of every range edge: the 7 d range starts at 03-03 12:30, the custom one
    runs from 03-04 05:20 to 03-08 17:45; work in the hour in progress (12:00–12:30 on 03-10); a task running
    for days and one queued for days."""

    def done(
        created: str, start_s: float, run_s: float, kind: TaskKind, status: TaskStatus, worker: str
    ) -> Plan:
        c = at(created)
        run = Run(c + start_s * S, c + (start_s + run_s) * S, status, worker)
        run.calls.append(("builder", "claude", c + (start_s + 1) * S, c + (start_s + 3) * S, True, 0.05))
        run.tools.append((c + (start_s + 2) * S, "read_file edge.py", ActivityType.TOOL_EXEC))
        return Plan(c, kind, [(c, run)])

    C, D, P = TaskKind.COMMAND, TaskKind.DEMO, TaskKind.PYTHON
    ok, failed = TaskStatus.COMPLETED, TaskStatus.FAILED
    return [
        done("2026-03-03 12:05:00", 10, 300, D, ok, "w1"),  # ends 12:10:10, before the 7 d range
        done("2026-03-03 12:29:00", 5, 60, C, ok, "w2"),  # created before, ends inside
        done("2026-03-03 12:40:00", 10, 600, D, failed, "w3"),  # created and ends inside the edge hour
        done("2026-03-04 05:00:00", 4, 300, C, ok, "w1"),  # ends 05:05, before the custom range
        done("2026-03-04 05:10:00", 4, 1200, D, ok, "w2"),  # ends 05:30, inside
        done("2026-03-04 23:58:00", 2, 180, P, ok, "w4"),  # crosses midnight into 03-05
        done("2026-03-08 17:20:00", 20, 700, C, failed, "w3"),  # ends 17:31:40, inside
        done("2026-03-08 17:40:00", 20, 700, D, ok, "w1"),  # ends 17:51:40, after the custom range
        done("2026-03-10 11:50:00", 30, 900, P, ok, "w2"),  # ends 12:05:30, in the hour in progress
        done("2026-03-10 12:05:00", 5, 1000, D, failed, "w4"),  # all of it in the hour in progress
        # Running since 03-05 with a call still open, and queued since 03-06.
        Plan(
            at("2026-03-05 08:00:00"),
            D,
            [
                (
                    at("2026-03-05 08:00:00"),
                    Run(
                        at("2026-03-05 08:00:30"),
                        None,
                        None,
                        "w3",
                        calls=[("planner", "gpt-4.1", at("2026-03-05 08:01:00"), None, True, 0.2)],
                    ),
                )
            ],
        ),
        Plan(at("2026-03-06 09:00:00"), C, []),
    ]


def all_plans(n_random: int = 100) -> list[Plan]:
    rng = random.Random(20260310)
    return fixed_plans() + [random_plan(rng) for _ in range(n_random)]


def add_workers(s: Session) -> None:
    for n, wid in enumerate(WORKERS):
        s.execute(
            insert(Worker).values(
                id=wid,
                name=f"worker-{wid}",
                host="h",
                pid=100 + n,
                concurrency=2,
                running_count=0,
                status="online",
                started_at=NOW - 12 * 24 * H,
                last_seen_at=NOW - S,
                stopped_at=None,
            )
        )


def write(s: Session, plan: Plan, n: int) -> int:
    spec = TaskSpec(
        title=f"task {n}", kind=plan.kind, tags=plan.tags, payload=PAYLOAD[plan.kind], max_attempts=3
    )
    [task_id] = insert_tasks(s, [spec], actor="test", now=plan.created)

    def ops(when: datetime, *items: Op) -> None:
        apply_ops(s, task_id, list(items), actor="t", now=when)

    if plan.cancel_at is not None:
        ops(plan.cancel_at, Transition(TaskStatus.CANCELLED, reason="cancelled"))
    for attempt, (claimable, run) in enumerate(plan.runs):
        if attempt:  # a retry of the failed run before it, claimable after a back-off
            retry_at = claimable - timedelta(seconds=30)
            ops(
                retry_at,
                Transition(TaskStatus.QUEUED, reason="retry", next_attempt=True, available_at=claimable),
            )
        ops(run.start, Transition(TaskStatus.RUNNING, worker_id=run.worker, lease_until=run.start + H))
        timeline: list[tuple[datetime, int, Op]] = []
        for k, (role, model, started, finished, ok, cost) in enumerate(run.calls):
            call = f"{task_id}-{attempt}-{k}"
            timeline.append((started, 0, InvocationStarted(call, role=role, provider="p", model=model)))
            timeline.append((started, 1, Usage(model, 100 + k, 10, 5, cost, call)))
            if finished is not None:
                timeline.append((finished, 2, InvocationFinished(call, ok=ok, error=None if ok else "boom")))
        for when, message, kind in run.tools:
            timeline.append((when, 3, ActivityLine(message, kind)))
        batch: list[Op] = []
        for n, (when, _, op) in enumerate(ordered := sorted(timeline, key=lambda t: (t[0], t[1]))):
            batch.append(op)  # ops at the same moment go in one call, as a worker's flush would write them
            if n + 1 == len(ordered) or ordered[n + 1][0] != when:
                ops(when, *batch)
                batch = []
        if run.end is not None and run.status is not None:
            error = None if run.status is TaskStatus.COMPLETED else "boom"
            ops(run.end, Transition(run.status, error=error, reason="error" if error else None))
    return task_id


def build(db: Database, n_random: int = 100) -> dict[str, int]:
    """Writes every plan in one transaction; returns the ids of tasks the incremental test changes: an old
    task that failed on its only attempt, an old one still queued, and one running for days."""
    plans = all_plans(n_random)
    with db.writing() as s:
        add_workers(s)
        ids = [write(s, plan, n) for n, plan in enumerate(plans)]
    picks: dict[str, int] = {}
    for task_id, plan in zip(ids, plans, strict=True):
        runs = plan.runs
        last = runs[-1][1] if runs else None
        old = plan.created < NOW - 3 * 24 * H
        if old and len(runs) == 1 and last is not None and last.status is TaskStatus.FAILED:
            picks.setdefault("old_failed", task_id)
        if old and plan.cancel_at is None and not runs:
            picks.setdefault("old_queued", task_id)
        if old and last is not None and last.end is None:
            picks.setdefault("old_running", task_id)
    return picks


def same(a: Any, b: Any, path: str = "") -> None:
    """Equal, floats to 1e-9 relative (sums added in another order), NaN equal to NaN."""
    if isinstance(a, pd.DataFrame):
        assert isinstance(b, pd.DataFrame), path
        assert list(a.columns) == list(b.columns), path
        same(a.to_dict("records"), b.to_dict("records"), path)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and sorted(a, key=str) == sorted(b, key=str), (path, a, b)
        for k in a:
            same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), (path, a, b)
        for n, (x, y) in enumerate(zip(a, b, strict=True)):
            same(x, y, f"{path}[{n}]")
    elif isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            assert a is None and b is None, (path, a, b)
        elif math.isnan(float(a)) or math.isnan(float(b)):
            assert math.isnan(float(a)) and math.isnan(float(b)), (path, a, b)
        else:
            assert math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-6), (path, a, b)
    else:
        assert a == b, (path, a, b)
