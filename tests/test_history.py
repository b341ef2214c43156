"""Tests: the bulk history generator writes consistent tasks, events, invocations and activity on SQLite and
PostgreSQL, and live writes keep working after it (ids and sequences do not collide)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text

from db.core.engine import Database
from db.core.models import Task, TaskEvent
from db.domain.ops import ActivityLine, TaskSpec
from db.domain.states import TaskKind
from db.write.recorder import Recorder
from worker.history import WORKERS, generate_history

NOW = datetime(2026, 11, 20, 12, 0, 0)


def scalar(db: Database, sql: str, **params: Any) -> Any:
    with db.reading() as session:
        return session.execute(text(sql), params).scalar()


def status_counts(db: Database, first_id: int = 0, last_id: int = 10**12) -> Counter[str]:
    with db.reading() as session:
        rows = session.execute(
            select(Task.status, func.count()).where(Task.id.between(first_id, last_id)).group_by(Task.status)
        ).all()
    return Counter({status: n for status, n in rows})


def test_history_rows_are_consistent(db: Database) -> None:
    seen: list[int] = []
    stats = generate_history(db, 1500, chunk=500, seed=1, days=30, now=NOW, progress=seen.append)

    assert seen == [500, 1000, 1500]
    assert stats.tasks == scalar(db, "SELECT count(*) FROM tasks") == 1500
    assert stats.events == scalar(db, "SELECT count(*) FROM task_events")
    assert stats.invocations == scalar(db, "SELECT count(*) FROM invocations")
    assert stats.activity == scalar(db, "SELECT count(*) FROM activity")
    assert 10 <= stats.events / stats.tasks <= 25
    assert 2 <= stats.activity / stats.tasks <= 6

    # Every counter and total on the task row is what its child rows add up to.
    assert (
        scalar(
            db,
            """
        SELECT count(*) FROM tasks t
        LEFT JOIN (SELECT task_id, count(*) n, sum(input_tokens) i, sum(output_tokens) o,
                          sum(cache_read_tokens) c, sum(cost_usd) usd
                   FROM invocations GROUP BY task_id) v ON v.task_id = t.id
        LEFT JOIN (SELECT task_id, count(*) n FROM task_events GROUP BY task_id) e ON e.task_id = t.id
        LEFT JOIN (SELECT task_id, count(*) n FROM activity GROUP BY task_id) a ON a.task_id = t.id
        WHERE t.invocation_count <> COALESCE(v.n, 0) OR t.input_tokens <> COALESCE(v.i, 0)
           OR t.output_tokens <> COALESCE(v.o, 0) OR t.cache_read_tokens <> COALESCE(v.c, 0)
           OR abs(t.cost_usd - COALESCE(v.usd, 0)) > 1e-6
           OR t.update_count <> COALESCE(e.n, 0) OR t.activity_count <> COALESCE(a.n, 0)
    """,
        )
        == 0
    )
    assert scalar(db, "SELECT count(*) FROM tasks WHERE input_tokens > 0") > 1400

    # Each task's events are in time order, open with task.created and close with the move to its status.
    assert (
        scalar(
            db,
            """
        SELECT count(*) FROM (SELECT at, LAG(at) OVER (PARTITION BY task_id ORDER BY seq) prev
                              FROM task_events) x WHERE at < prev
    """,
        )
        == 0
    )
    assert (
        scalar(
            db,
            """
        SELECT count(*) FROM tasks t
        JOIN (SELECT task_id, min(seq) lo, max(seq) hi FROM task_events GROUP BY task_id) g
          ON g.task_id = t.id
        JOIN task_events f ON f.seq = g.lo
        JOIN task_events l ON l.seq = g.hi
        WHERE f.type <> 'task.created' OR l.type <> 'task.transition' OR l.to_status <> t.status
           OR l.at <> t.completed_at OR f.at <> t.created_at
    """,
        )
        == 0
    )

    counts = status_counts(db)
    assert counts["completed"] > 1000
    assert 75 <= counts["failed"] <= 240
    assert counts["cancelled"] > 0 and counts["timed_out"] > 0
    assert set(counts) == {"completed", "failed", "cancelled", "timed_out"}
    assert (
        scalar(
            db,
            "SELECT count(*) FROM tasks WHERE status = 'failed' AND (error_message IS NULL "
            "OR failure_reason NOT IN ('error', 'exit_code'))",
        )
        == 0
    )
    # A task page tells the same story as the live agent's: a completed task's last step is "done" with every
    # iteration counted (it said "iteration 1: working"), and a failed task's error is its failed call's —
    # the call whose role the error names (the history had it "completed" half the time).
    assert (
        scalar(
            db,
            "SELECT count(*) FROM tasks WHERE status = 'completed' AND (progress_message <> 'done' "
            "OR current_iteration <> max_iterations OR progress <> 100)",
        )
        == 0
    )
    assert (
        scalar(
            db,
            "SELECT count(*) FROM tasks t WHERE t.status = 'failed' AND NOT EXISTS (SELECT 1 FROM invocations v "
            "WHERE v.task_id = t.id AND v.status = 'failed' AND v.error = t.error_message "
            "AND t.error_message LIKE v.role || ': %')",
        )
        == 0
    )
    assert scalar(db, "SELECT count(*) FROM tasks WHERE attempt = 2") > 20
    assert (
        scalar(db, "SELECT count(*) FROM task_events WHERE from_status = 'failed' AND to_status = 'queued'")
        > 0
    )
    assert scalar(db, "SELECT count(*) FROM tasks WHERE kind = 'demo'") > 1000
    assert scalar(db, "SELECT count(DISTINCT kind) FROM tasks") == 3

    with db.reading() as session:
        lo, hi, last = session.execute(
            select(func.min(Task.created_at), func.max(Task.created_at), func.max(Task.completed_at))
        ).one()
        tags = session.execute(select(Task.id, Task.tags)).all()
        tag_rows = session.execute(text("SELECT task_id, tag FROM task_tags")).all()
        payloads = session.execute(select(TaskEvent.type, TaskEvent.payload)).all()
    assert lo is not None and hi is not None and last is not None
    assert NOW - timedelta(days=30) <= lo < hi <= last <= NOW
    assert sorted((i, t) for i, ts in tags for t in ts) == sorted(map(tuple, tag_rows))

    # Payloads have the shapes db/write/writes.py gives them, so live views read history the same way.
    keys = {type_: set(p) for type_, p in payloads}
    assert keys["usage"] == {
        "model",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cost_usd",
        "invocation_id",
    }
    assert keys["invocation.started"] == {"invocation_id", "role", "provider", "model", "iteration"}
    assert keys["activity"] == {"type", "message", "invocation_id", "stream"}
    assert keys["task.progress"] == {"iteration", "max_iterations", "percent", "message"}

    # The historical workers exist (offline) and carry the outcome counts the recorder would have kept.
    assert scalar(db, "SELECT count(*) FROM workers WHERE status = 'offline'") == len(WORKERS)
    finished = scalar(
        db, "SELECT count(*) FROM task_events WHERE from_status = 'running' AND to_status <> 'queued'"
    )
    assert scalar(db, "SELECT sum(tasks_completed) + sum(tasks_failed) FROM workers") == finished


def test_live_writes_continue_after_history(db: Database) -> None:
    generate_history(db, 300, seed=2, now=NOW)  # one chunk: generated in-process
    max_id = scalar(db, "SELECT max(id) FROM tasks")
    max_seq = scalar(db, "SELECT max(seq) FROM task_events")
    max_activity = scalar(db, "SELECT max(id) FROM activity")

    recorder = Recorder(db)
    task_id = recorder.submit(TaskSpec(title="after the history", kind=TaskKind.DEMO))
    recorder.record(task_id, ActivityLine("hello"))

    assert task_id > max_id
    assert scalar(db, "SELECT min(seq) FROM task_events WHERE task_id = :t", t=task_id) > max_seq
    assert scalar(db, "SELECT id FROM activity WHERE task_id = :t", t=task_id) > max_activity


def test_rows_written_meanwhile_are_stepped_around(db: Database) -> None:
    """A live write between two chunks takes ids the next chunk had planned: that chunk is renumbered."""
    recorder = Recorder(db)

    def interleave(done: int) -> None:
        if done < 900:
            live = recorder.submit(TaskSpec(title=f"live {done}", kind=TaskKind.DEMO))
            recorder.record(live, ActivityLine("live line"))

    stats = generate_history(db, 900, chunk=300, seed=3, now=NOW, progress=interleave)
    assert scalar(db, "SELECT count(*) FROM tasks") == 900 + 2
    assert scalar(db, "SELECT count(*) FROM task_events") == stats.events + 2 * 2
    assert scalar(db, "SELECT count(*) FROM activity") == stats.activity + 2
    assert (
        scalar(
            db,
            """
        SELECT count(*) FROM tasks t
        LEFT JOIN (SELECT task_id, count(*) n FROM task_events GROUP BY task_id) e ON e.task_id = t.id
        LEFT JOIN (SELECT task_id, count(*) n FROM invocations GROUP BY task_id) v ON v.task_id = t.id
        WHERE t.update_count <> COALESCE(e.n, 0) OR t.invocation_count <> COALESCE(v.n, 0)
    """,
        )
        == 0
    )


def test_same_seed_same_history(db: Database) -> None:
    # In-process (one chunk) and in the generator subprocess (three chunks): the same stream of tasks.
    first = generate_history(db, 450, chunk=450, seed=7, now=NOW)
    second = generate_history(db, 450, chunk=150, seed=7, now=NOW)
    third = generate_history(db, 450, chunk=450, seed=8, now=NOW)
    assert (first.events, first.invocations, first.activity) == (
        second.events,
        second.invocations,
        second.activity,
    )
    assert status_counts(db, 1, 450) == status_counts(db, 451, 900)
    assert first.events != third.events
    with db.reading() as session:
        statuses = session.execute(text("SELECT status FROM tasks ORDER BY id")).scalars().all()
        usage = [
            session.execute(
                select(TaskEvent.payload)
                .where(TaskEvent.type == "usage", TaskEvent.task_id.between(lo, lo + 449))
                .order_by(TaskEvent.seq)
            )
            .scalars()
            .all()
            for lo in (1, 451)
        ]
    assert statuses[:450] == statuses[450:900]
    # Invocation ids differ between the runs (they must be unique); everything else is the same.
    first_run, second_run = ([{k: v for k, v in p.items() if k != "invocation_id"} for p in u] for u in usage)
    assert first_run == second_run and len(first_run) > 450
