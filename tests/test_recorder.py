"""Tests: the recorder (the one write path) against a real SQLite file and the real PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from db.core.engine import Database
from db.core.models import Activity, Invocation, Task, TaskEvent, TaskTag, Worker
from db.domain.ops import (
    ActivityLine,
    InvocationFinished,
    InvocationStarted,
    Progress,
    SetResult,
    TaskSpec,
    Transition,
    Usage,
)
from db.domain.states import IllegalTransition, TaskKind, TaskStatus
from db.live.changefeed import TOPIC_EVENTS, TOPIC_QUEUE, Hub
from db.read.tasks import history
from db.read.tasks.detail import task_record
from db.write.recorder import Recorder
from db.write.workers import WorkerIdentity
from db.write.writes import InvocationNotFound, LeaseLost, TaskNotFound

KINDS = [TaskKind.COMMAND, TaskKind.PYTHON, TaskKind.DEMO]


def spec(title: str = "t", **kw: object) -> TaskSpec:
    base: dict[str, object] = {"title": title, "kind": TaskKind.COMMAND, "payload": {"command": "true"}}
    base.update(kw)
    return TaskSpec(**base)  # type: ignore[arg-type]


def counts(db: Database) -> tuple[int, int, int, int]:
    with db.reading() as s:
        return (
            s.scalar(select(func.count()).select_from(Task)) or 0,
            s.scalar(select(func.count()).select_from(TaskEvent)) or 0,
            s.scalar(select(func.count()).select_from(Activity)) or 0,
            s.scalar(select(func.count()).select_from(Invocation)) or 0,
        )


def test_submit_writes_task_tags_and_created_event(recorder: Recorder, db: Database) -> None:
    ids = recorder.submit_many([spec("a", tags=("x", "y"), priority=3), spec("b")], actor="tester")
    assert ids == sorted(ids) and len(ids) == 2
    with db.reading() as s:
        task = task_record(s, ids[0])
        assert task is not None
        assert (task.status, task.priority, task.tags, task.attempt, task.update_count) == (
            "queued",
            3,
            ["x", "y"],
            1,
            1,
        )
        assert task.created_by == "tester"
        assert sorted(s.scalars(select(TaskTag.tag).where(TaskTag.task_id == ids[0]))) == ["x", "y"]
        [created] = history.events(s, ids[0])
        assert (created.type, created.to_status, created.actor) == ("task.created", "queued", "tester")


def test_whole_life_updates_projections_and_appends_events_in_order(recorder: Recorder, db: Database) -> None:
    task_id = recorder.submit(spec())
    claimed = recorder.claim("w1", KINDS, lease_seconds=30)
    assert claimed is not None and claimed.id == task_id
    recorder.record(
        task_id,
        Progress(iteration=1, max_iterations=4, message="first"),
        InvocationStarted("inv-1", role="planner", provider="openai", model="gpt-4.1"),
        ActivityLine("read_file x", invocation_id="inv-1"),
        Usage("gpt-4.1", 1000, 200, 50, 0.25, invocation_id="inv-1"),
        InvocationFinished("inv-1", ok=True, response="plan"),
        Usage("other", 10, 5, 0, 0.01),
        SetResult({"ok": True}),
        actor="worker:w1",
        owner="w1",
    )
    recorder.record(task_id, Transition(TaskStatus.COMPLETED), owner="w1")
    with db.reading() as s:
        task = task_record(s, task_id)
        assert task is not None
        assert task.status == "completed" and task.progress == 100.0
        assert (task.current_iteration, task.max_iterations) == (1, 4)
        assert (task.input_tokens, task.output_tokens, task.cache_read_tokens) == (1010, 205, 50)
        assert task.cost_usd == pytest.approx(0.26)
        assert (task.activity_count, task.invocation_count) == (1, 1)
        assert task.result == {"ok": True}
        assert task.started_at is not None and task.completed_at is not None
        assert task.completed_at >= task.started_at >= task.created_at
        events = history.events(s, task_id)
        assert task.update_count == len(events)
        assert [e.type for e in events] == [
            "task.created",
            "task.transition",
            "task.progress",
            "invocation.started",
            "activity",
            "usage",
            "invocation.completed",
            "usage",
            "task.result",
            "task.transition",
        ]
        assert [e.seq for e in events] == sorted(e.seq for e in events)
        assert [(e.from_status, e.to_status) for e in events if e.type == "task.transition"] == [
            ("queued", "running"),
            ("running", "completed"),
        ]
        inv = s.get(Invocation, "inv-1")
        assert inv is not None and (inv.status, inv.input_tokens, inv.cost_usd) == ("completed", 1000, 0.25)
        assert inv.response == "plan"


def test_illegal_transition_stores_nothing(recorder: Recorder, db: Database) -> None:
    task_id = recorder.submit(spec())
    before = counts(db)
    with pytest.raises(IllegalTransition, match="queued to completed"):
        recorder.record(task_id, ActivityLine("x"), Transition(TaskStatus.COMPLETED))
    assert counts(db) == before
    with db.reading() as s:
        task = task_record(s, task_id)
        assert task is not None and task.activity_count == 0 and task.update_count == 1


def test_bad_op_in_batch_rolls_back_the_batch(recorder: Recorder, db: Database) -> None:
    task_id = recorder.submit(spec())
    recorder.claim("w1", KINDS, 30)
    before = counts(db)
    with pytest.raises(InvocationNotFound):
        recorder.record(task_id, ActivityLine("kept?"), InvocationFinished("nope"))
    with pytest.raises(TaskNotFound):
        recorder.record(424242, ActivityLine("x"))
    assert counts(db) == before


def test_owner_guard(recorder: Recorder) -> None:
    task_id = recorder.submit(spec())
    recorder.claim("w1", KINDS, 30)
    with pytest.raises(LeaseLost):
        recorder.record(task_id, ActivityLine("x"), owner="w2")
    recorder.record(task_id, ActivityLine("x"), owner="w1")


def test_claim_order_priority_then_age_and_kinds(recorder: Recorder) -> None:
    low = recorder.submit(spec("low"))
    high = recorder.submit(spec("high", priority=5))
    ext = recorder.submit(spec("ext", kind=TaskKind.EXTERNAL, payload={}))
    first = recorder.claim("w", KINDS, 30)
    second = recorder.claim("w", KINDS, 30)
    assert (first and first.id, second and second.id) == (high, low)
    assert recorder.claim("w", KINDS, 30) is None  # external tasks are never executed here
    assert ext > 0


def test_cancel_queued_and_running(recorder: Recorder, db: Database) -> None:
    queued = recorder.submit(spec())
    assert recorder.cancel(queued) is TaskStatus.CANCELLED
    running = recorder.submit(spec())
    recorder.claim("w", KINDS, 30)
    assert recorder.cancel(running) is TaskStatus.RUNNING
    with db.reading() as s:
        task = task_record(s, running)
        assert task is not None and task.cancel_requested
        assert history.events(s, running)[-1].type == "task.cancel_requested"
    recorder.record(running, Transition(TaskStatus.CANCELLED, reason="cancelled"))
    with pytest.raises(IllegalTransition):
        recorder.cancel(running)


def test_retry_counts_attempts_and_resets_run_state(recorder: Recorder, db: Database) -> None:
    task_id = recorder.submit(spec())
    with pytest.raises(IllegalTransition):
        recorder.retry(task_id)  # not finished yet
    recorder.claim("w", KINDS, 30)
    recorder.record(
        task_id,
        Progress(iteration=2, max_iterations=3),
        Transition(TaskStatus.FAILED, reason="error", error="boom"),
    )
    assert recorder.retry(task_id) is TaskStatus.QUEUED
    with db.reading() as s:
        task = task_record(s, task_id)
        assert task is not None
        assert (task.status, task.attempt, task.current_iteration, task.error_message) == (
            "queued",
            2,
            0,
            None,
        )
        assert task.worker_id is None and task.started_at is None
        failed = [e for e in history.events(s, task_id) if e.to_status == "failed"]
        assert failed[0].payload["error"] == "boom"  # the failure stays in the log


def test_expired_lease_is_requeued_then_failed(recorder: Recorder, db: Database) -> None:
    task_id = recorder.submit(spec(max_attempts=2))
    recorder.claim("ghost", KINDS, lease_seconds=-1)  # a lease already in the past: the worker "vanished"
    assert recorder.sweep_expired_leases(actor="sweeper") == {task_id: TaskStatus.QUEUED}
    assert recorder.sweep_expired_leases(actor="sweeper") == {}  # idempotent
    recorder.claim("ghost", KINDS, lease_seconds=-1)
    assert recorder.sweep_expired_leases(actor="sweeper") == {task_id: TaskStatus.FAILED}
    with db.reading() as s:
        task = task_record(s, task_id)
        assert task is not None
        assert (task.status, task.failure_reason, task.attempt) == ("failed", "worker_lost", 2)


def test_live_lease_is_not_swept_and_renewal_reports_lost_tasks(recorder: Recorder) -> None:
    kept = recorder.submit(spec())
    recorder.claim("w", KINDS, lease_seconds=60)
    assert recorder.sweep_expired_leases(actor="s") == {}
    assert recorder.renew_leases("w", [kept], 60) == {kept}
    assert recorder.renew_leases("someone-else", [kept], 60) == set()


def test_hub_is_woken_after_commit_only(db: Database) -> None:
    hub = Hub()
    seen: list[frozenset[str]] = []
    hub.subscribe(seen.append)
    rec = Recorder(db, hub)
    task_id = rec.submit(spec())
    assert seen[-1] == {TOPIC_EVENTS, TOPIC_QUEUE}
    rec.claim("w", KINDS, 30)
    assert seen[-1] == {TOPIC_EVENTS}
    n = len(seen)
    with pytest.raises(IllegalTransition):
        rec.record(
            task_id, Transition(TaskStatus.QUEUED, next_attempt=False), Transition(TaskStatus.COMPLETED)
        )
    assert len(seen) == n  # a rolled-back transaction wakes nobody


def test_commit_latency_is_measured(recorder: Recorder, db: Database) -> None:
    task_id = recorder.submit(spec())
    for _ in range(5):
        recorder.record(task_id, ActivityLine("x"))
    samples = db.stats.recent()
    assert len(samples) >= 6
    assert all(s.ms > 0 for s in samples)
    assert sum(s.events for s in samples) >= 6
    rows = db.stats.minute_rows(now=samples[-1].at + 120)
    assert rows and rows[0]["commits"] >= 6 and rows[0]["p95_ms"] >= rows[0]["p50_ms"]


def test_concurrent_threads_lose_no_update(recorder: Recorder, db: Database) -> None:
    task_id = recorder.submit(spec())
    recorder.claim("w", KINDS, 30)
    threads, per_thread = 6, 40

    def write(n: int) -> None:
        for i in range(per_thread):
            recorder.record(task_id, ActivityLine(f"{n}-{i}"), Usage(input_tokens=1, cost_usd=0.001))

    pool = [threading.Thread(target=write, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    with db.reading() as s:
        task = task_record(s, task_id)
        assert task is not None
        assert task.activity_count == threads * per_thread
        assert task.input_tokens == threads * per_thread
        assert task.cost_usd == pytest.approx(threads * per_thread * 0.001)
        assert task.update_count == len(history.events(s, task_id))


def test_worker_rows(recorder: Recorder, db: Database) -> None:
    me = WorkerIdentity("w-1", "w", "host", 123, 4)
    recorder.register_worker(me)
    recorder.heartbeat("w-1", [5, 6])
    with db.reading() as s:
        row = s.get(Worker, "w-1")
        assert row is not None and (row.status, row.running_count, row.current_task_id) == ("busy", 2, 5)
    assert recorder.mark_silent_workers(timedelta(seconds=-1)) == ["w-1"]
    recorder.register_worker(me)  # a restart with the same id comes back online
    recorder.worker_stopped("w-1")
    with db.reading() as s:
        row = s.get(Worker, "w-1")
        assert row is not None and row.status == "offline" and row.stopped_at is not None
        kinds = [e.type for e in s.scalars(select(TaskEvent).where(TaskEvent.task_id.is_(None)))]
        assert kinds == ["worker.online", "worker.offline", "worker.online", "worker.offline"]
