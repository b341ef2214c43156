"""Worker layer: generates realistic historical tasks (events, invocations, activity, tokens, cost) in bulk,
written with the raw driver — executemany on SQLite, COPY on PostgreSQL — one transaction per chunk."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, DateTime, bindparam, text

from db.engine import Database
from db.timeutil import to_naive_utc, utcnow
from worker.simulation import (
    CREATORS,
    FAILURE_MESSAGES,
    GOALS,
    PROFILES,
    ROLES,
    TAGS,
    iteration_roles,
    plan_call,
    tool_line,
)

TASK_COLUMNS = (
    "id", "title", "kind", "payload", "status", "priority", "tags", "created_by", "external_id", "attempt",
    "max_attempts", "current_iteration", "max_iterations", "progress", "progress_message", "result",
    "error_message", "failure_reason", "timeout_seconds", "cancel_requested", "worker_id", "lease_expires_at",
    "available_at", "created_at", "started_at", "completed_at", "last_updated_at", "last_activity_at",
    "update_count", "invocation_count", "activity_count", "input_tokens", "output_tokens",
    "cache_read_tokens", "cost_usd", "archived_at",
)
EVENT_COLUMNS = ("seq", "task_id", "type", "from_status", "to_status", "actor", "correlation_id", "payload", "at")
INVOCATION_COLUMNS = (
    "id", "task_id", "iteration", "role", "provider", "model", "status", "started_at", "completed_at",
    "last_activity_at", "input_tokens", "output_tokens", "cache_read_tokens", "cost_usd", "prompt",
    "response", "error",
)
ACTIVITY_COLUMNS = ("id", "task_id", "invocation_id", "type", "stream", "message", "at")
TAG_COLUMNS = ("task_id", "tag")
# Insertion order respects the foreign keys (SQLite enforces them per statement).
TABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("tasks", TASK_COLUMNS), ("task_tags", TAG_COLUMNS), ("task_events", EVENT_COLUMNS),
    ("invocations", INVOCATION_COLUMNS), ("activity", ACTIVITY_COLUMNS),
)
# Serial columns that COPY bypasses; their sequences must be moved past what we wrote.
PG_SEQUENCES = (("tasks", "id"), ("task_events", "seq"), ("activity", "id"))

WORKERS: tuple[tuple[str, str, int], ...] = tuple(
    (f"hist-{host}-{pid}", host, pid)
    for host, pid in (("agent-01", 4101), ("agent-01", 4102), ("agent-02", 5230), ("agent-02", 5231),
                      ("agent-03", 6120), ("gpu-01", 7001))
)
CALL_ERRORS = ("rate limited (429), retrying", "provider returned 529 overloaded", "request timed out after 60s")
COMMANDS = ("python agents/fix_bug.py", "python agents/digest.py --weekly", "./scripts/agent.sh triage")
CALLABLES = ("agents.pipeline:run", "agents.docs:write", "agents.triage:main")

# Created-at pattern: UTC business hours and weekdays are busier; volume grows over the window.
HOUR_WEIGHT = (0.12, 0.1, 0.1, 0.1, 0.12, 0.18, 0.3, 0.55, 0.85, 1.0, 1.0, 1.0,
               0.85, 0.95, 1.0, 1.0, 0.95, 0.8, 0.55, 0.4, 0.3, 0.22, 0.18, 0.14)
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
    return json.dumps(value)


# What a finished attempt leaves on the task row: worker, current_iteration, progress, progress message,
# started_at, failure reason, error message.
_Final = tuple[str | None, int, float, str | None, float, str | None, str | None]


@dataclass
class _Chunk:
    """One transaction's rows as tuples in column order (no per-row dicts: this is the hot path)."""

    tasks: list[tuple[Any, ...]] = field(default_factory=list)
    task_tags: list[tuple[Any, ...]] = field(default_factory=list)
    task_events: list[tuple[Any, ...]] = field(default_factory=list)
    invocations: list[tuple[Any, ...]] = field(default_factory=list)
    activity: list[tuple[Any, ...]] = field(default_factory=list)
    # worker id -> [tasks_completed, tasks_failed, last finish time]
    outcomes: dict[str, list[Any]] = field(default_factory=dict)


class _Simulator:
    """Turns one random stream into tasks. Times are float seconds after `origin` (a midnight) until a row
    is emitted, because formatting datetimes is the single most expensive step per row."""

    def __init__(self, rng: random.Random, origin: datetime, start: float, end: float) -> None:
        self.rng = rng
        self.origin = origin
        self.start = start
        self.end = end
        ndays = int(end // 86400) + 2
        self.day_prefix = [(origin + timedelta(days=d)).strftime("%Y-%m-%d ") for d in range(ndays)]
        self.roles_json = {r: _j(r) for r in ROLES}
        self.title_json = {g: _j(g) for g in GOALS}
        self.msg_json: dict[str, str] = {}
        self.tags_json: dict[tuple[str, ...], str] = {}

    def fmt(self, t: float) -> str:
        # Same text SQLAlchemy stores on SQLite; PostgreSQL parses it under COPY.
        us = int(t * 1_000_000)
        s, us = divmod(us, 1_000_000)
        day, s = divmod(s, 86400)
        h, s = divmod(s, 3600)
        m, s = divmod(s, 60)
        return f"{self.day_prefix[day]}{h:02d}:{m:02d}:{s:02d}.{us:06d}"

    def created_times(self, count: int) -> Iterator[float]:
        """`count` ascending times, spread over hourly buckets by weight, so ids grow with created_at and
        indexes are appended to rather than split."""
        rng = self.rng
        first = int(self.start // 3600)
        buckets = range(first, int(self.end // 3600) + 1)
        span = max(1.0, self.end - self.start)
        day_noise = {d: rng.uniform(0.85, 1.15) for d in range(len(self.day_prefix))}
        weights = []
        for b in buckets:
            t = b * 3600 + 1800
            day = int(t // 86400)
            weekday = (self.origin + timedelta(days=day)).weekday()
            lo, hi = max(self.start, b * 3600.0), min(self.end, b * 3600.0 + 3600)
            weights.append(HOUR_WEIGHT[int(t % 86400) // 3600] * WEEKDAY_WEIGHT[weekday] * day_noise[day]
                           * (1 + GROWTH * (t - self.start) / span) * max(0.0, hi - lo) / 3600)
        total = sum(weights) or 1.0
        acc, given = 0.0, 0
        for b, w in zip(buckets, weights, strict=True):
            acc += w
            n = round(count * acc / total) - given  # cumulative rounding: the counts sum to `count` exactly
            given += n
            lo, hi = max(self.start, b * 3600.0), min(self.end, b * 3600.0 + 3600)
            yield from sorted(rng.uniform(lo, hi) for _ in range(n))

    def task(self, c: _Chunk, tid: int, created: float, seq: int, act_id: int) -> tuple[int, int]:
        """Append one finished task and all its rows to `c`; returns the next free event seq and activity id."""
        rng = self.rng
        rnd = rng.random
        r = rnd()
        kind = "demo" if r < 0.8 else ("command" if r < 0.92 else "python")
        payload = ("{}" if kind == "demo" else _j({"command": rng.choice(COMMANDS)}) if kind == "command"
                   else _j({"callable": rng.choice(CALLABLES)}))
        title = rng.choice(GOALS)
        creator = rng.choice(CREATORS)
        r = rnd()
        tags = () if r < 0.35 else tuple(rng.sample(TAGS, 1 if r < 0.8 else 2))
        tags_json = self.tags_json.get(tags) or self.tags_json.setdefault(tags, _j(list(tags)))
        priority = 0 if rnd() < 0.85 else rng.choice((-5, 1, 5, 10))
        max_iter = 1 if (r := rnd()) < 0.65 else (2 if r < 0.93 else 3)
        r = rnd()
        outcome = ("failed" if r < 0.10 else "cancelled" if r < 0.12 else "timed_out" if r < 0.14
                   else "completed")
        timeout = rng.choice((300.0, 600.0, 900.0)) if outcome == "timed_out" or rnd() < 0.3 else None
        retried = outcome != "cancelled" and rnd() < 0.06
        max_attempts = 2 if retried or rnd() < 0.1 else 1
        evs: list[tuple[Any, ...]] = []  # (type, from, to, actor, payload json, t)
        invs: list[list[Any]] = []
        acts: list[tuple[str, str, float]] = []
        evs.append(("task.created", None, "queued", creator,
                    f'{{"kind": "{kind}", "title": {self.title_json[title]}, "priority": {priority}}}', created))
        t, available, attempt = created, created, 1
        state: _Final = (None, 0, 0.0, None, created, None, None)
        if outcome == "cancelled" and rnd() < 0.25:  # cancelled while still queued: no worker ever ran it
            t += rng.uniform(2, 60)
            evs.append(("task.transition", "queued", "cancelled", creator,
                        '{"attempt": 1, "reason": "cancelled", "error": "cancelled before start"}', t))
            state = (None, 0, 0.0, None, created, "cancelled", "cancelled before start")
        else:
            if retried:
                t = self._attempt(tid, t, 1, max_iter, "failed", None, creator, 1, evs, invs, acts, c)[0]
                t += rng.uniform(20, 900)  # someone looks at the failure, then presses retry
                available = t
                evs.append(("task.transition", "failed", "queued", creator,
                            '{"attempt": 2, "reason": "retry"}', t))
                attempt = 2
            lines = rng.randint(2, 6)
            state = self._attempt(tid, t, attempt, max_iter, outcome, timeout, creator, lines, evs, invs, acts,
                                  c)[1]
        worker, cur_iter, progress, progress_msg, started, reason, error = state
        end = evs[-1][5]
        # A task that would still be running "now" is moved back in time so the history ends in the past.
        shift = max(0.0, end - self.end)
        fmt = self.fmt
        ev_append = c.task_events.append
        for type_, frm, to, actor, pl, at in evs:
            ev_append((seq, tid, type_, frm, to, actor, None, pl, fmt(at - shift)))
            seq += 1
        for inv_id, msg, at in acts:
            c.activity.append((act_id, tid, inv_id, "tool_exec", None, msg, fmt(at - shift)))
            act_id += 1
        tin = tout = tcache = 0
        tcost = 0.0
        inv_append = c.invocations.append
        for v in invs:
            tin += v[10]
            tout += v[11]
            tcache += v[12]
            tcost += v[13]
            v[7] = fmt(v[7] - shift)
            v[8] = v[9] = fmt(v[8] - shift)
            inv_append(tuple(v))
        for tag in tags:
            c.task_tags.append((tid, tag))
        status = outcome
        done = fmt(end - shift)
        result = f'{{"ok": true, "iterations": {max_iter}}}' if status == "completed" else None
        c.tasks.append((
            tid, title, kind, payload, status, priority, tags_json, creator, None, attempt, max_attempts,
            cur_iter, max_iter, 100.0 if status == "completed" else progress, progress_msg, result, error,
            reason, timeout, False, worker, None, fmt(available - shift), fmt(created - shift),
            fmt(started - shift) if worker else None, done, done, done, len(evs), len(invs), len(acts),
            tin, tout, tcache, tcost, None,
        ))
        return seq, act_id

    def _attempt(
        self, tid: int, t: float, attempt: int, max_iter: int, outcome: str, timeout: float | None,
        creator: str, lines: int, evs: list[tuple[Any, ...]], invs: list[list[Any]], acts: list[tuple[str, str, float]], c: _Chunk,
    ) -> tuple[float, _Final]:
        """One claim-to-finish run. Returns its end time and the row fields the recorder would have left."""
        rng = self.rng
        rnd = rng.random
        worker = rng.choice(WORKERS)[0]
        actor = f"worker:{worker}"
        # Queue wait: usually seconds, sometimes minutes when the pool was busy.
        t += 0.3 + (rng.expovariate(1 / 8.0) if rnd() < 0.93 else rng.uniform(60, 600))
        started = t
        evs.append(("task.transition", "queued", "running", actor,
                    f'{{"attempt": {attempt}, "worker_id": "{worker}"}}', t))
        plan = [(i, role) for i in range(1, max_iter + 1) for role in iteration_roles(rng, i)]
        n = len(plan)
        stop = n if outcome == "completed" else rng.randint(1, n - 1 if outcome == "cancelled" and n > 1 else n)
        per_call = [0] * stop
        for _ in range(lines):
            per_call[rng.randrange(stop)] += 1
        cur_iter, progress, progress_msg = 0, 0.0, None
        msg_json = self.msg_json
        last_error: str | None = None
        for k in range(stop):
            iteration, role = plan[k]
            if iteration != cur_iter:
                cur_iter = iteration
                progress = 100.0 * (iteration - 1) / max_iter
                progress_msg = f"iteration {iteration}/{max_iter}"
                evs.append(("task.progress", None, None, actor,
                            (f'{{"iteration": {iteration}, "max_iterations": {max_iter}, '
                             f'"percent": {progress!r}, "message": "{progress_msg}"}}'), t))
                t += rng.uniform(0.01, 0.2)
            call = plan_call(rng, role)
            inv_id = f"hist-{tid:012d}-{len(invs):02d}"
            last = k == stop - 1
            hang = last and outcome == "timed_out"
            seconds = max(call.seconds, started + (timeout or 0) - t) if hang else call.seconds
            evs.append(("invocation.started", None, None, actor,
                        (f'{{"invocation_id": "{inv_id}", "role": {self.roles_json[role]}, "provider": '
                         f'"{call.provider}", "model": "{call.model}", "iteration": {iteration}}}'), t))
            if per_call[k]:
                tools = call.tools or PROFILES[role].tools
                for off in sorted(rnd() for _ in range(per_call[k])):
                    msg = tool_line(rng, rng.choice(tools))
                    mj = msg_json.get(msg) or msg_json.setdefault(msg, _j(msg))
                    at = t + off * seconds * 0.95
                    acts.append((inv_id, msg, at))
                    evs.append(("activity", None, None, actor,
                                (f'{{"type": "tool_exec", "message": {mj}, "invocation_id": "{inv_id}", '
                                 f'"stream": null}}'), at))
            t += seconds
            if hang:
                hang_error = "timed out: no response from the model"
                invs.append([inv_id, tid, iteration, role, call.provider, call.model, "failed", t - seconds, t,
                             None, 0, 0, 0, 0.0, None, None, hang_error])
                evs.append(("invocation.failed", None, None, actor,
                            f'{{"invocation_id": "{inv_id}", "error": {_j(hang_error)}}}', t))
                break
            failed = call.failed or (last and outcome == "failed")
            error: str | None = None
            if failed:
                error = last_error = rng.choice(FAILURE_MESSAGES if last and outcome == "failed" else CALL_ERRORS)
            invs.append([inv_id, tid, iteration, role, call.provider, call.model,
                         "failed" if failed else "completed", t - seconds, t, None, call.input_tokens,
                         call.output_tokens, call.cache_read_tokens, call.cost_usd, None, None, error])
            evs.append(("usage", None, None, actor,
                        (f'{{"model": "{call.model}", "input_tokens": {call.input_tokens}, "output_tokens": '
                         f'{call.output_tokens}, "cache_read_tokens": {call.cache_read_tokens}, '
                         f'"cost_usd": {call.cost_usd!r}, "invocation_id": "{inv_id}"}}'), t))
            evs.append(("invocation.failed" if failed else "invocation.completed", None, None, actor,
                        f'{{"invocation_id": "{inv_id}", "error": {_j(error)}}}', t))
            t += rng.uniform(0.05, 0.6)
        reason: str | None = None
        error_message: str | None = None
        if outcome == "failed":
            reason = "exit_code" if rnd() < 0.3 else "error"
            error_message = last_error or rng.choice(FAILURE_MESSAGES)
        elif outcome == "timed_out":
            reason, error_message = "timeout", f"timed out after {timeout:g}s"
        elif outcome == "cancelled":
            evs.append(("task.cancel_requested", None, None, creator, "{}", t))
            t += rng.uniform(0.1, 1.0)
            reason, error_message = "cancelled", "cancelled while running"
        payload: dict[str, Any] = {"attempt": attempt}
        if reason:
            payload["reason"] = reason
        if error_message:
            payload["error"] = error_message
        evs.append(("task.transition", "running", outcome, actor, _j(payload), t))
        tally = c.outcomes.setdefault(worker, [0, 0, t])
        tally[0 if outcome == "completed" else 1] += 1
        tally[2] = max(tally[2], t)
        return t, (worker, cur_iter, progress, progress_msg, started, reason, error_message)


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
    """Insert `count` finished tasks created over the last `days` days, shaped like live demo tasks."""
    if days < 1 or chunk < 1 or count < 0:
        raise ValueError("need days >= 1, chunk >= 1 and count >= 0")
    began = time.perf_counter()
    now = to_naive_utc(now or utcnow())
    start_dt = now - timedelta(days=days)
    origin = start_dt.replace(hour=0, minute=0, second=0, microsecond=0)
    end = (now - origin).total_seconds()
    sim = _Simulator(random.Random(seed), origin, (start_dt - origin).total_seconds(), end)
    times = sim.created_times(count)
    _ensure_workers(db, start_dt)
    done = events = invocations = activity = 0
    while done < count:
        n = min(chunk, count - done)
        with db.write_engine.begin() as conn:
            if db.is_postgres:
                # Ids are taken from max(); stop live writers from drawing the same ones meanwhile.
                conn.execute(text("LOCK TABLE tasks, task_events, activity IN EXCLUSIVE MODE"))
            tid, seq, act_id = (int(conn.execute(text(q)).scalar_one()) + 1 for q in (
                "SELECT COALESCE(MAX(id), 0) FROM tasks", "SELECT COALESCE(MAX(seq), 0) FROM task_events",
                "SELECT COALESCE(MAX(id), 0) FROM activity"))
            c = _Chunk()
            for i, created in zip(range(tid, tid + n), times):
                seq, act_id = sim.task(c, i, created, seq, act_id)
            _write(conn, db.is_postgres, c)
            _tally_workers(conn, c, sim.fmt)
        if not c.tasks:
            break
        done += len(c.tasks)
        events += len(c.task_events)
        invocations += len(c.invocations)
        activity += len(c.activity)
        del c  # only one chunk's rows are ever alive
        if progress is not None:
            progress(done)
    if db.is_postgres and count:
        with db.write_engine.begin() as conn:
            conn.execute(text("ANALYZE tasks, task_events, invocations, activity, task_tags"))
    return HistoryStats(done, events, invocations, activity, time.perf_counter() - began)


def _write(conn: Connection, postgres: bool, c: _Chunk) -> None:
    raw: Any = conn.connection.dbapi_connection
    if postgres:
        with raw.cursor() as cur:
            for table, columns in TABLES:
                with cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    write = copy.write_row
                    for row in getattr(c, table):
                        write(row)
            for table, column in PG_SEQUENCES:
                cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                            f"(SELECT MAX({column}) FROM {table}))")
        return
    cur = raw.cursor()
    try:
        for table, columns in TABLES:
            marks = ", ".join("?" * len(columns))
            cur.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", getattr(c, table))
    finally:
        cur.close()


# Typed binds so SQLite gets SQLAlchemy's datetime text, the same as every other row.
INSERT_WORKER = text(
    "INSERT INTO workers (id, name, host, pid, status, concurrency, running_count, started_at, last_seen_at, "
    "stopped_at, tasks_completed, tasks_failed) VALUES (:id, :name, :host, :pid, 'offline', 4, 0, :t, :t, :t, "
    "0, 0) ON CONFLICT (id) DO NOTHING"
).bindparams(bindparam("t", type_=DateTime()))
TALLY_WORKER = text(
    "UPDATE workers SET tasks_completed = tasks_completed + :c, tasks_failed = tasks_failed + :f, "
    "last_seen_at = CASE WHEN last_seen_at < :t THEN :t ELSE last_seen_at END, "
    "stopped_at = CASE WHEN stopped_at IS NULL OR stopped_at < :t THEN :t ELSE stopped_at END WHERE id = :id"
).bindparams(bindparam("t", type_=DateTime()))


def _ensure_workers(db: Database, since: datetime) -> None:
    """The historical workers exist as offline rows so worker pages can show who ran the history."""
    with db.write_engine.begin() as conn:
        for worker_id, host, pid in WORKERS:
            conn.execute(INSERT_WORKER, {"id": worker_id, "name": f"{host}/{pid}", "host": host, "pid": pid,
                                         "t": since})


def _tally_workers(conn: Connection, c: _Chunk, fmt: Callable[[float], str]) -> None:
    for worker_id, (completed, failed, last) in c.outcomes.items():
        seen = datetime.fromisoformat(fmt(last))
        conn.execute(TALLY_WORKER, {"c": completed, "f": failed, "t": seen, "id": worker_id})
