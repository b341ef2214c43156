"""Worker layer: generates realistic historical tasks (events, invocations, activity, tokens, cost) in bulk,
written with the raw driver — multi-row INSERT on SQLite, COPY on PostgreSQL — one transaction per chunk."""

from __future__ import annotations

import io
import json
import math
import os
import pickle
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, bindparam, text

from db.core.engine import Database
from db.core.timecol import UtcDateTime, from_micros, to_micros
from db.core.timeutil import to_naive_utc, utcnow
from worker.simulation import (
    CREATORS,
    FAILURE_MESSAGES,
    GOALS,
    PROFILES,
    ROLES,
    TAGS,
    failing_call,
    plan_call,
    tool_line,
    work_plan,
)

# Columns that are always NULL here (external_id, lease_expires_at, archived_at, correlation_id, stream) are
# left out: every value costs time to ship and bind. task_events.seq and activity.id are left to the database:
# inside our write transaction it numbers them max + 1, ... in insertion order — exactly what reading max()
# and pre-assigning would give — and nothing references them. Task ids ARE pre-assigned: rows point at them.
TASK_COLUMNS = (
    "id",
    "title",
    "kind",
    "payload",
    "status",
    "priority",
    "tags",
    "created_by",
    "attempt",
    "max_attempts",
    "current_iteration",
    "max_iterations",
    "progress",
    "progress_message",
    "result",
    "error_message",
    "failure_reason",
    "timeout_seconds",
    "cancel_requested",
    "worker_id",
    "available_at",
    "created_at",
    "started_at",
    "completed_at",
    "last_updated_at",
    "last_activity_at",
    "update_count",
    "invocation_count",
    "activity_count",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cost_usd",
)
TAG_COLUMNS = ("task_id", "tag")
EVENT_COLUMNS = ("task_id", "type", "from_status", "to_status", "actor", "payload", "at")
INVOCATION_COLUMNS = (
    "id",
    "task_id",
    "iteration",
    "role",
    "provider",
    "model",
    "status",
    "started_at",
    "completed_at",
    "last_activity_at",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cost_usd",
    "prompt",
    "response",
    "error",
)
ACTIVITY_COLUMNS = ("task_id", "invocation_id", "type", "message", "at")
# In foreign-key order. Each table's rows live in ONE flat list (no per-row tuples or dicts): it is what a
# multi-row INSERT binds, and the cheapest shape to build.
TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("tasks", TASK_COLUMNS),
    ("task_tags", TAG_COLUMNS),
    ("task_events", EVENT_COLUMNS),
    ("invocations", INVOCATION_COLUMNS),
    ("activity", ACTIVITY_COLUMNS),
)
SQLITE_PARAMS_PER_INSERT = 4000  # well under SQLite's 32766 bound variables; bigger batches gain nothing

# (id, name, pid) shaped like live worker ids: f"{name}-{pid}-{4 hex}".
WORKERS: tuple[tuple[str, str, int], ...] = tuple(
    (f"{name}-{pid}-{tag}", name, pid)
    for name, pid, tag in (
        ("agent-01", 4101, "a3f0"),
        ("agent-01", 4102, "5c1e"),
        ("agent-02", 5230, "9b27"),
        ("agent-02", 5231, "e410"),
        ("agent-03", 6120, "07dd"),
        ("gpu-01", 7001, "c8a2"),
    )
)
COMMANDS = ("python agents/fix_bug.py", "python agents/digest.py --weekly", "./scripts/agent.sh triage")
CALLABLES = ("agents.pipeline:run", "agents.docs:write", "agents.triage:main")
PRIORITIES = (-5, 1, 5, 10)

# Created-at pattern: UTC business hours and weekdays are busier; volume grows over the window.
HOUR_WEIGHT = (
    0.12,
    0.1,
    0.1,
    0.1,
    0.12,
    0.18,
    0.3,
    0.55,
    0.85,
    1.0,
    1.0,
    1.0,
    0.85,
    0.95,
    1.0,
    1.0,
    0.95,
    0.8,
    0.55,
    0.4,
    0.3,
    0.22,
    0.18,
    0.14,
)
WEEKDAY_WEIGHT = (1.0, 1.05, 1.05, 1.0, 0.9, 0.3, 0.25)
GROWTH = 0.35  # the last day of the window is ~35% busier than the first


@dataclass(frozen=True)
class HistoryStats:
    tasks: int
    events: int
    invocations: int
    activity: int
    seconds: float


def _j(value: Any) -> str:
    # Minified like the live write path's (db/write/writes.JsonInsert): the spaces were ~10 % of an event's payload.
    return json.dumps(value, separators=(",", ":"))


class _Chunk:
    """One transaction's rows and the task id they were numbered from."""

    __slots__ = ("activity", "first", "invocations", "outcomes", "task_events", "task_tags", "tasks")

    def __init__(self, first: int) -> None:
        self.first = first
        self.tasks: list[Any] = []
        self.task_tags: list[Any] = []
        self.task_events: list[Any] = []
        self.invocations: list[Any] = []
        self.activity: list[Any] = []
        self.outcomes: dict[str, list[Any]] = {}  # worker id -> [completed, failed, last finish]

    def renumber(self, first: int) -> None:
        """Someone else added tasks since this chunk was numbered: move its task ids past theirs."""
        delta = first - self.first
        for flat, column, width in (
            (self.tasks, 0, len(TASK_COLUMNS)),
            (self.task_tags, 0, len(TAG_COLUMNS)),
            (self.task_events, 0, len(EVENT_COLUMNS)),
            (self.invocations, 1, len(INVOCATION_COLUMNS)),
            (self.activity, 0, len(ACTIVITY_COLUMNS)),
        ):
            flat[column::width] = [v + delta for v in flat[column::width]]
        self.first = first


class _Simulator:
    """One random stream turned into finished tasks shaped like the live demo agent's (worker/handlers/demo.py
    via worker/runner.py). Times are float seconds after `origin` (a midnight) until a row is emitted."""

    def __init__(self, seed: int, now: datetime, days: int, first: int, as_text: bool) -> None:
        self.rng = random.Random(seed)
        start = now - timedelta(days=days)
        self.origin = start.replace(hour=0, minute=0, second=0, microsecond=0)
        self.origin_us = to_micros(self.origin)
        self.as_text = as_text
        self.start = (start - self.origin).total_seconds()
        self.end = (now - self.origin).total_seconds()
        self.tid = self.run = first  # invocation ids: unique per run, ascending so the key is appended to
        self.inv = 0
        self.minutes: dict[int, str] = {}
        self.title_json = {g: _j(g) for g in GOALS}
        self.role_json = {r: _j(r) for r in ROLES}
        self.msg_json: dict[str, str] = {}
        self.tags_json: dict[tuple[str, ...], str] = {}

    def fmt(self, t: float) -> str | int:
        """What a time column holds (db/core/timecol.py): integer microseconds on SQLite; for PostgreSQL's COPY
        the timestamp's text."""
        us = int(t * 1_000_000)
        if not self.as_text:
            return self.origin_us + us
        minute, us = divmod(us, 60_000_000)
        prefix = self.minutes.get(minute)
        if prefix is None:
            if len(self.minutes) > 200_000:
                self.minutes.clear()
            prefix = (self.origin + timedelta(minutes=minute)).strftime("%Y-%m-%d %H:%M:")
            self.minutes[minute] = prefix
        s, us = divmod(us, 1_000_000)
        return f"{prefix}{s:02d}.{us:06d}"

    def created_times(self, count: int) -> Iterator[float]:
        """`count` ascending times spread over hourly buckets by weight, so that ids grow with created_at and
        the indexes are appended to rather than split."""
        rng = self.rng
        buckets = range(int(self.start // 3600), int(self.end // 3600) + 1)
        span = max(1.0, self.end - self.start)
        day_noise = [rng.uniform(0.85, 1.15) for _ in range(int(self.end // 86400) + 1)]
        weights = []
        for b in buckets:
            mid = b * 3600 + 1800
            day = int(mid // 86400)
            overlap = max(0.0, min(self.end, b * 3600.0 + 3600) - max(self.start, b * 3600.0)) / 3600
            weights.append(
                HOUR_WEIGHT[b % 24]
                * WEEKDAY_WEIGHT[(self.origin + timedelta(days=day)).weekday()]
                * day_noise[day]
                * (1 + GROWTH * (mid - self.start) / span)
                * overlap
            )
        total = sum(weights) or 1.0
        acc, given = 0.0, 0
        for b, w in zip(buckets, weights, strict=True):
            acc += w
            n = round(count * acc / total) - given  # cumulative rounding: the counts add up to `count`
            given += n
            lo, hi = max(self.start, b * 3600.0), min(self.end, b * 3600.0 + 3600)
            yield from sorted(rng.uniform(lo, hi) for _ in range(n))

    def task(self, c: _Chunk, created: float) -> None:
        """Append one finished task with all its rows to `c`."""
        rng = self.rng
        rnd = rng.random
        tid = self.tid
        self.tid += 1
        r = rnd()
        kind = "demo" if r < 0.8 else "command" if r < 0.92 else "python"
        if kind == "demo":
            payload = f'{{"speed":1.0,"seed":{rng.getrandbits(31)}}}'
            timeout: float | None = 120.0  # what live demo tasks get (worker/demo_workload.py)
        else:
            payload = _j(
                {"command": rng.choice(COMMANDS)}
                if kind == "command"
                else {"callable": rng.choice(CALLABLES)}
            )
            timeout = 600.0 if rnd() < 0.3 else None
        # int(rnd() * n) rather than rng.choice(): a third of the cost, and this runs ~40 times a task.
        title = GOALS[int(rnd() * len(GOALS))]
        creator = CREATORS[int(rnd() * len(CREATORS))]
        r = rnd()
        i, j = int(rnd() * len(TAGS)), int(rnd() * (len(TAGS) - 1))
        tags = () if r < 0.35 else (TAGS[i],) if r < 0.8 else (TAGS[i], TAGS[j + (j >= i)])
        tags_json = self.tags_json.get(tags) or self.tags_json.setdefault(tags, _j(list(tags)))
        priority = 0 if rnd() < 0.85 else PRIORITIES[int(rnd() * len(PRIORITIES))]
        r = rnd()
        max_iter = 1 if r < 0.86 else 2 if r < 0.98 else 3  # fewer than live (2-5): ~22 events a task
        r = rnd()
        outcome = (
            "failed" if r < 0.10 else "cancelled" if r < 0.12 else "timed_out" if r < 0.14 else "completed"
        )
        if outcome == "timed_out" and timeout is None:
            timeout = 600.0
        # A failed or timed-out first attempt is retried automatically when max_attempts allows (runner.py).
        retried = outcome != "cancelled" and rnd() < 0.06
        max_attempts = 2 if retried or (outcome == "completed" and rnd() < 0.25) else 1
        evs: list[tuple[Any, ...]] = [
            (
                "task.created",
                None,
                "queued",
                creator,
                (f'{{"kind":"{kind}","title":{self.title_json[title]},"priority":{priority}}}'),
                created,
            )
        ]
        invs: list[list[Any]] = []
        acts: list[tuple[str, str, float]] = []
        ctx = (tid, kind, title, creator, max_iter, evs, invs, acts, c)
        t = available = created
        attempt = 1
        final: tuple[Any, ...]
        if outcome == "cancelled" and rnd() < 0.25:  # cancelled while still queued: no worker ever ran it
            t += 2 + 58 * rnd()
            evs.append(
                (
                    "task.transition",
                    "queued",
                    "cancelled",
                    creator,
                    '{"attempt":1,"reason":"cancelled","error":"cancelled before start"}',
                    t,
                )
            )
            final = (None, 0, 0.0, None, None, "cancelled", "cancelled before start")
        else:
            if retried:
                early = "timed_out" if timeout is not None and rnd() < 0.15 else "failed"
                t, worker = self._attempt(ctx, t, 1, early, timeout, 1)[:2]
                attempt = 2
                evs.append(
                    (
                        "task.transition",
                        early,
                        "queued",
                        f"worker:{worker}",
                        '{"attempt":2,"reason":"retry"}',
                        t,
                    )
                )
                available = t + 1 + 29 * rnd()  # the retry backoff
                t = available
            final = self._attempt(ctx, t, attempt, outcome, timeout, 2 + int(rnd() * 5))[1:]
        worker, cur_iter, progress, progress_msg, started, reason, error = final
        # A task that would still be running "now" is moved back in time so the history ends in the past.
        end = evs[-1][5]
        shift = end - self.end if end > self.end else 0.0
        fmt = self.fmt
        ev = c.task_events
        # Every timestamp of the task's rows is also some event's `at`: format each distinct one once.
        when: dict[float, str | int] = {}
        for typ, frm, to, actor, pl, at in evs:
            s = when.get(at)
            if s is None:
                s = when[at] = fmt(at - shift)
            ev += (tid, typ, frm, to, actor, pl, s)
        act = c.activity
        for inv_id, msg, at in acts:
            act += (tid, inv_id, "tool_exec", msg, when[at])
        tin = tout = tcache = 0
        tcost = 0.0
        inv = c.invocations
        for v in invs:
            tin += v[10]
            tout += v[11]
            tcache += v[12]
            tcost += v[13]
            v[7] = when[v[7]]
            v[8] = when[v[8]]  # ended: its last activity (v[9]) stays NULL, as the write path stores it
            inv += v
        for tag in tags:
            c.task_tags += (tid, tag)
        done = when[end]
        result = None
        if outcome == "completed":
            result = (
                f'{{"iterations":{max_iter},"tokens":{tin + tout},"cost_usd":{round(tcost, 6)!r},'
                f'"summary":"goal met"}}'
            )
        c.tasks += (
            tid,
            title,
            kind,
            payload,
            outcome,
            priority,
            tags_json,
            creator,
            attempt,
            max_attempts,
            cur_iter,
            max_iter,
            progress,
            progress_msg,
            result,
            error,
            reason,
            timeout,
            False,
            worker,
            when.get(available) or fmt(available - shift),
            when[created],
            when[started] if worker else None,
            done,
            done,
            done,
            len(evs),
            len(invs),
            len(acts),
            tin,
            tout,
            tcache,
            tcost,
        )

    def _attempt(
        self, ctx: tuple[Any, ...], t: float, attempt: int, outcome: str, timeout: float | None, lines: int
    ) -> tuple[Any, ...]:
        """One claim-to-finish run. Returns (end, worker, current_iteration, progress, progress message,
        started, failure reason, error): what the recorder would have left on the task row."""
        tid, kind, title, creator, max_iter, evs, invs, acts, c = ctx
        rng = self.rng
        rnd = rng.random
        worker = WORKERS[int(rnd() * len(WORKERS))][0]
        actor = f"worker:{worker}"
        # Queue wait: usually seconds, sometimes minutes when the pool was busy.
        t += 0.2 + (-8.0 * math.log(1.0 - rnd()) if rnd() < 0.93 else 60 + 540 * rnd())
        started = t
        evs.append(
            (
                "task.transition",
                "queued",
                "running",
                actor,
                f'{{"attempt":{attempt},"worker_id":"{worker}"}}',
                t,
            )
        )
        plan = work_plan(rng, max_iter)
        n = len(plan)
        if outcome == "failed":
            stop = 1 + failing_call(rng, plan)
        else:
            stop = n if outcome == "completed" else 1 + int(rnd() * n)
        # A failed run breaks inside its last call, as the live agent's does (worker/handlers/demo.py raises
        # inside the invocation): the error names that call's role, so that call is the failed one.
        fail_in_call = outcome == "failed"
        per_call = [0] * stop
        for _ in range(lines):
            per_call[int(rnd() * stop)] += 1
        error: str | None = None
        reason: str | None = None
        if outcome == "failed":
            reason = "exit_code" if kind == "command" else "error"
            error = f"{plan[stop - 1][1]}: {FAILURE_MESSAGES[int(rnd() * len(FAILURE_MESSAGES))]}"
        cur_iter, progress, progress_msg = 0, 0.0, None
        msg_json = self.msg_json
        for k in range(stop):
            iteration, role = plan[k]
            if iteration != cur_iter:
                cur_iter = iteration
                progress = 100.0 * (iteration - 1) / max_iter  # the iterations before this one are done
                progress_msg = f"iteration {iteration}: working"
                evs.append(
                    (
                        "task.progress",
                        None,
                        None,
                        actor,
                        (
                            f'{{"iteration":{iteration},"max_iterations":{max_iter},"percent":{progress!r},'
                            f'"message":"{progress_msg}"}}'
                        ),
                        t,
                    )
                )
                t += 0.01 + 0.2 * rnd()
            call = plan_call(rng, role)  # failures are drawn per task, above
            inv_id = f"h{self.run:08x}{self.inv:08x}"
            self.inv += 1
            last = k == stop - 1
            hang = last and outcome == "timed_out"
            seconds = max(call.seconds, started + (timeout or 0.0) - t) if hang else call.seconds
            evs.append(
                (
                    "invocation.started",
                    None,
                    None,
                    actor,
                    (
                        f'{{"invocation_id":"{inv_id}","role":{self.role_json[role]},"provider":'
                        f'"{call.provider}","model":"{call.model}","iteration":{iteration}}}'
                    ),
                    t,
                )
            )
            if per_call[k]:
                tools = call.tools or PROFILES[role].tools
                for off in sorted([rnd() for _ in range(per_call[k])]):
                    msg = tool_line(rng, tools[int(rnd() * len(tools))])
                    mj = msg_json.get(msg) or msg_json.setdefault(msg, _j(msg))
                    at = t + off * seconds * 0.95
                    acts.append((inv_id, msg, at))
                    evs.append(
                        (
                            "activity",
                            None,
                            None,
                            actor,
                            (
                                f'{{"type":"tool_exec","message":{mj},"invocation_id":"{inv_id}",'
                                '"stream":null}'
                            ),
                            at,
                        )
                    )
            t0, t = t, t + seconds
            prompt = f"{role}: {title}"
            if hang:  # the live agent hangs silently: no usage, then the worker stops it at the deadline
                invs.append(
                    [
                        inv_id,
                        tid,
                        iteration,
                        role,
                        call.provider,
                        call.model,
                        "failed",
                        t0,
                        t,
                        None,
                        0,
                        0,
                        0,
                        0.0,
                        prompt,
                        None,
                        "timeout",
                    ]
                )
                evs.append(
                    (
                        "invocation.failed",
                        None,
                        None,
                        actor,
                        f'{{"invocation_id":"{inv_id}","error":"timeout"}}',
                        t,
                    )
                )
                break
            broke = last and fail_in_call
            invs.append(
                [
                    inv_id,
                    tid,
                    iteration,
                    role,
                    call.provider,
                    call.model,
                    "failed" if broke else "completed",
                    t0,
                    t,
                    None,
                    call.input_tokens,
                    call.output_tokens,
                    call.cache_read_tokens,
                    call.cost_usd,
                    prompt,
                    None if broke else f"{role} finished step {iteration}",
                    error if broke else None,
                ]
            )
            evs.append(
                (
                    "usage",
                    None,
                    None,
                    actor,
                    (
                        f'{{"model":"{call.model}","input_tokens":{call.input_tokens},"output_tokens":'
                        f'{call.output_tokens},"cache_read_tokens":{call.cache_read_tokens},"cost_usd":'
                        f'{call.cost_usd!r},"invocation_id":"{inv_id}"}}'
                    ),
                    t,
                )
            )
            if broke:
                evs.append(
                    (
                        "invocation.failed",
                        None,
                        None,
                        actor,
                        f'{{"invocation_id":"{inv_id}","error":{_j(error)}}}',
                        t,
                    )
                )
            else:
                evs.append(
                    (
                        "invocation.completed",
                        None,
                        None,
                        actor,
                        f'{{"invocation_id":"{inv_id}","error":null}}',
                        t,
                    )
                )
            t += 0.05 + 0.5 * rnd()
        if outcome == "completed":
            # The live agent's last word (run_demo): every iteration done. A completed task's row said
            # "iteration 1: working" as its last step.
            cur_iter, progress, progress_msg = max_iter, 100.0, "done"
            evs.append(
                (
                    "task.progress",
                    None,
                    None,
                    actor,
                    f'{{"iteration":{max_iter},"max_iterations":{max_iter},"percent":100.0,"message":"done"}}',
                    t,
                )
            )
            t += 0.01
        if outcome == "timed_out":
            reason, error = "timeout", f"timed out after {timeout:g}s"
        elif outcome == "cancelled":
            evs.append(("task.cancel_requested", None, None, creator, "{}", t))
            t += 0.1 + rnd()
            reason, error = "cancelled", "cancelled by request"
        payload: dict[str, Any] = {"attempt": attempt}
        if reason:
            payload["reason"] = reason
        if error:
            payload["error"] = error
        evs.append(("task.transition", "running", outcome, actor, _j(payload), t))
        tally = c.outcomes.get(worker)
        if tally is None:
            tally = c.outcomes[worker] = [0, 0, t]
        tally[0 if outcome == "completed" else 1] += 1
        tally[2] = max(tally[2], t)
        return t, worker, cur_iter, progress, progress_msg, started, reason, error


def _chunks(
    count: int, days: int, seed: int, now: datetime, chunk: int, first: int, as_text: bool
) -> Iterator[_Chunk]:
    """The whole history as a stream of chunks; the same arguments always give the same rows."""
    sim = _Simulator(seed, now, days, first, as_text)
    times = sim.created_times(count)
    left = count
    while left > 0:
        c = _Chunk(sim.tid)
        for _, created in zip(range(min(chunk, left)), times, strict=False):  # `times` may run short
            sim.task(c, created)
        n = len(c.tasks) // len(TASK_COLUMNS)
        if not n:
            return
        for tally in c.outcomes.values():
            tally[2] = from_micros(sim.origin_us + int(min(tally[2], sim.end) * 1_000_000))
        left -= n
        yield c


def _produce() -> None:
    """Entry point of the generator subprocess: writes each chunk, pickled and length-prefixed, to the pipe
    named in argv. Pickling to bytes first means the slow part never waits for the reader."""
    a = json.loads(sys.argv[1])
    with os.fdopen(a["fd"], "wb") as out:
        for c in _chunks(
            a["count"],
            a["days"],
            a["seed"],
            datetime.fromisoformat(a["now"]),
            a["chunk"],
            a["first"],
            a["as_text"],
        ):
            buf = io.BytesIO()
            pickler = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
            pickler.fast = True  # no memo: flat lists of atoms need none, and pickling is 2.5x faster
            pickler.dump(c)
            out.write(len(buf.getbuffer()).to_bytes(8, "little"))
            out.write(buf.getbuffer())
            out.flush()


@contextmanager
def _chunk_source(
    count: int, days: int, seed: int, now: datetime, chunk: int, first: int, as_text: bool
) -> Iterator[Iterator[_Chunk]]:
    """The chunks, built in a child process when there is more than one: generating the rows costs about as
    much CPU as inserting them, so a second core can do it meanwhile. Pickle is safe here: the bytes come
    from our own child over a private pipe."""
    if count <= chunk or os.name != "posix":
        yield _chunks(count, days, seed, now, chunk, first, as_text)
        return
    read_fd, write_fd = os.pipe()
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    args = {
        "fd": write_fd,
        "count": count,
        "days": days,
        "seed": seed,
        "now": now.isoformat(),
        "chunk": chunk,
        "first": first,
        "as_text": as_text,
    }
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", "from worker.history import _produce; _produce()", json.dumps(args)],
            pass_fds=(write_fd,),
            env=env,
            stdin=subprocess.DEVNULL,
        )
    finally:
        os.close(write_fd)
    reader = os.fdopen(read_fd, "rb")
    try:
        yield _receive(reader, proc)
    finally:
        reader.close()
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _receive(reader: Any, proc: subprocess.Popen[bytes]) -> Iterator[_Chunk]:
    while True:
        head = reader.read(8)
        size = int.from_bytes(head, "little") if len(head) == 8 else -1
        # Take the bytes off the pipe before unpickling, so the child starts the next chunk at once.
        data = reader.read(size) if size >= 0 else b""
        if size < 0 or len(data) != size:
            code = proc.wait()
            if head or code != 0:
                raise RuntimeError(f"the history generator process failed (exit code {code})")
            return
        yield pickle.loads(data)


def generate_history(
    db: Database,
    count: int,
    *,
    days: int = 90,
    seed: int = 0,
    now: datetime | None = None,
    chunk: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> HistoryStats:
    """Insert `count` finished tasks created over the last `days` days, shaped like live demo tasks.
    The same `seed` (and `now`) gives the same history; `progress` gets the number of tasks written so far
    after each committed chunk."""
    if days < 1 or chunk < 1 or count < 0:
        raise ValueError("need days >= 1, chunk >= 1 and count >= 0")
    began = time.perf_counter()
    now = to_naive_utc(now or utcnow())
    _ensure_workers(db, now - timedelta(days=days))
    with db.read_engine.connect() as conn:  # a guess for numbering; re-checked inside each write
        first = _next_task_id(conn)
    done = events = invocations = activity = 0
    with _chunk_source(count, days, seed, now, chunk, first, db.is_postgres) as chunks:
        for c in chunks:
            with db.write_engine.begin() as conn:
                if db.is_postgres:
                    # Task ids come from max() and seq numbers must not interleave with a live writer's:
                    # hold other writers off these tables until we commit (readers are not blocked).
                    conn.execute(text("LOCK TABLE tasks, task_events, activity IN EXCLUSIVE MODE"))
                first = _next_task_id(conn)
                if first != c.first:
                    c.renumber(first)
                _write(conn, db.is_postgres, c)
                _tally_workers(conn, c)
            done += len(c.tasks) // len(TASK_COLUMNS)
            events += len(c.task_events) // len(EVENT_COLUMNS)
            invocations += len(c.invocations) // len(INVOCATION_COLUMNS)
            activity += len(c.activity) // len(ACTIVITY_COLUMNS)
            del c  # the next chunk is already being built by the producer; keep only one here
            if progress is not None:
                progress(done)
    if db.is_postgres and done:
        with db.write_engine.begin() as conn:  # fresh statistics, or the planner sees empty tables
            conn.execute(text("ANALYZE tasks, task_events, invocations, activity, task_tags"))
    return HistoryStats(done, events, invocations, activity, time.perf_counter() - began)


def _next_task_id(conn: Connection) -> int:
    return int(conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM tasks")).scalar_one()) + 1


def _write(conn: Connection, postgres: bool, c: _Chunk) -> None:
    raw: Any = conn.connection.dbapi_connection
    if postgres:
        with raw.cursor() as cur:
            for table, columns in TABLES:
                flat, width = getattr(c, table), len(columns)
                with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    write = copy.write_row
                    for i in range(0, len(flat), width):
                        write(flat[i : i + width])
            # COPY gave explicit task ids, bypassing the sequence: move it past them for later inserts.
            cur.execute("SELECT setval(pg_get_serial_sequence('tasks', 'id'), (SELECT MAX(id) FROM tasks))")
        return
    cur = raw.cursor()
    try:
        for table, columns in TABLES:
            flat, width = getattr(c, table), len(columns)
            head = f"INSERT INTO {table} ({', '.join(columns)}) VALUES "
            row = f"({', '.join('?' * width)})"
            step = max(1, SQLITE_PARAMS_PER_INSERT // width) * width
            whole = len(flat) // step * step
            if whole:
                sql = head + ", ".join([row] * (step // width))
                for i in range(0, whole, step):
                    cur.execute(sql, flat[i : i + step])
            if len(flat) > whole:
                cur.execute(head + ", ".join([row] * ((len(flat) - whole) // width)), flat[whole:])
    finally:
        cur.close()


# Typed binds so that SQLite gets the integer microseconds of every other row (db/core/timecol.py).
INSERT_WORKER = text(
    "INSERT INTO workers (id, name, host, pid, status, concurrency, running_count, started_at, "
    "last_seen_at, stopped_at, tasks_completed, tasks_failed) "
    "VALUES (:id, :name, :host, :pid, 'offline', 4, 0, :t, :t, :t, 0, 0) ON CONFLICT (id) DO NOTHING"
).bindparams(bindparam("t", type_=UtcDateTime()))
TALLY_WORKER = text(
    "UPDATE workers SET tasks_completed = tasks_completed + :c, tasks_failed = tasks_failed + :f, "
    "last_seen_at = CASE WHEN last_seen_at < :t THEN :t ELSE last_seen_at END, "
    "stopped_at = CASE WHEN stopped_at < :t THEN :t ELSE stopped_at END WHERE id = :id"
).bindparams(bindparam("t", type_=UtcDateTime()))


def _ensure_workers(db: Database, since: datetime) -> None:
    """The historical workers exist as offline rows, so worker views can show who ran the history."""
    with db.write_engine.begin() as conn:
        for worker_id, name, pid in WORKERS:
            conn.execute(
                INSERT_WORKER,
                {"id": worker_id, "name": name, "host": f"{name}.internal", "pid": pid, "t": since},
            )


def _tally_workers(conn: Connection, c: _Chunk) -> None:
    """What the recorder counts per finished run (tasks_completed / tasks_failed), once per chunk."""
    for worker_id, (completed, failed, last) in c.outcomes.items():
        conn.execute(TALLY_WORKER, {"c": completed, "f": failed, "t": last, "id": worker_id})
