"""Tests: claiming in batches and a run's end written with the next claims, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from db.core.engine import Database
from db.core.models import TaskEvent, Worker
from db.domain.ops import TaskSpec, Transition
from db.domain.states import TaskKind, TaskStatus
from db.read.tasks.detail import task_record
from db.write.recorder import Recorder
from db.write.workers import WorkerIdentity
from db.write.writes import LeaseLost

KINDS = [TaskKind.COMMAND, TaskKind.PYTHON]


def spec(priority: int = 0) -> TaskSpec:
    return TaskSpec(title="t", kind=TaskKind.COMMAND, payload={"command": "true"}, priority=priority)


def transitions(db: Database, to: TaskStatus) -> int:
    with db.reading() as s:
        return int(
            s.execute(
                select(func.count()).select_from(TaskEvent).where(TaskEvent.to_status == to.value)
            ).scalar_one()
        )


def test_a_batch_takes_the_best_in_order_each_once(recorder: Recorder, db: Database) -> None:
    low = recorder.submit_many([spec() for _ in range(6)])
    high = recorder.submit_many([spec(priority=3) for _ in range(2)])
    first = recorder.finish_and_claim([], "w1", KINDS, 30, 4)
    assert [t.id for t in first] == high + low[:2]
    second = recorder.finish_and_claim([], "w2", KINDS, 30, 10)
    assert [t.id for t in second] == low[2:]  # never a task twice, never more than asked
    assert recorder.finish_and_claim([], "w2", KINDS, 30, 10) == []
    assert transitions(db, TaskStatus.RUNNING) == 8  # every claim has its event


def test_ends_and_claims_in_one_transaction(recorder: Recorder, db: Database) -> None:
    recorder.register_worker(WorkerIdentity("w", "w", "host", 1, 4))
    ids = recorder.submit_many([spec() for _ in range(5)])
    running = recorder.finish_and_claim([], "w", KINDS, 30, 2)
    ends = [(t.id, [Transition(TaskStatus.COMPLETED)]) for t in running]
    more = recorder.finish_and_claim(ends, "w", KINDS, 30, 3)
    assert [t.id for t in more] == ids[2:]
    with db.reading() as s:
        assert [task_record(s, i).status for i in ids] == ["completed"] * 2 + ["running"] * 3  # type: ignore[union-attr]
    assert transitions(db, TaskStatus.COMPLETED) == 2
    with db.reading() as s:  # the worker's count, one UPDATE for the batch's ends
        assert s.scalar(select(Worker.tasks_completed).where(Worker.id == "w")) == 2


def test_one_end_not_ours_writes_nothing(recorder: Recorder, db: Database) -> None:
    ids = recorder.submit_many([spec() for _ in range(3)])
    mine = recorder.finish_and_claim([], "w", KINDS, 30, 2)
    ends = [(mine[0].id, [Transition(TaskStatus.COMPLETED)]), (ids[2], [Transition(TaskStatus.COMPLETED)])]
    with pytest.raises(LeaseLost):
        recorder.finish_and_claim(ends, "w", KINDS, 30, 1)
    assert transitions(db, TaskStatus.COMPLETED) == 0
    assert transitions(db, TaskStatus.RUNNING) == 2  # the batch's claim was rolled back too
