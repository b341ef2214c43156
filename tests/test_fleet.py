"""Tests: fleet control and concurrency limits with real worker processes on SQLite and PostgreSQL — a drained
worker finishes its running task and takes no new one, resumes, stops (its process ends) and is forgotten,
each audited; a limit of 1 on a tag keeps a burst of 20 such tasks strictly one at a time across three
workers; per-worker kind and tag filters route tasks."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from db.control import fleet
from db.core.engine import Database
from db.core.models import AuditLog, Task, TaskEvent
from db.core.models import Worker as WorkerRow
from db.domain.ops import TaskSpec
from db.domain.states import TaskKind
from db.write.recorder import Recorder
from tests.helpers import WorkerProcess, fast_worker_env, run_cli, wait_for_status

pytestmark = pytest.mark.slow


def command(title: str, cmd: str, *tags: str) -> TaskSpec:
    return TaskSpec(title=title, kind=TaskKind.COMMAND, payload={"command": cmd}, tags=tags)


def python_task() -> TaskSpec:
    return TaskSpec(title="py", kind=TaskKind.PYTHON, payload={"callable": "worker.examples:noop"})


def worker_of(db: Database, task_id: int) -> str | None:
    with db.reading() as s:
        return s.scalar(select(Task.worker_id).where(Task.id == task_id))


def act(db: Database, ref: str, action: str) -> list[str]:
    """What `python app.py fleet ACTION` does, in-process (the CLI itself is run for drain and stop)."""
    with db.writing() as session:
        return fleet.forget(session, ref) if action == "forget" else fleet.control(session, ref, action)


def test_drain_resume_stop_forget(db_url: str, db: Database, recorder: Recorder, tmp_path: Path) -> None:
    with WorkerProcess(db_url, tmp_path, concurrency=1) as a:
        a_id = a.wait_registered(db)
        long = recorder.submit(command("long", "sleep 1"))
        wait_for_status(db, long, ["running"], workers=[a])
        drained = run_cli("fleet", "drain", "--db", db_url, a_id)
        assert drained.returncode == 0, drained.stderr
        later = recorder.submit_many([command(f"later {i}", "true") for i in range(3)])
        assert wait_for_status(db, long, ["completed"], workers=[a]).worker_id == a_id  # it finished its task
        with WorkerProcess(db_url, tmp_path, concurrency=2) as b:
            b_id = b.wait_registered(db)
            for task_id in later:
                wait_for_status(db, task_id, ["completed"], workers=[a, b])
            assert {worker_of(db, t) for t in later} == {b_id}  # the drained worker took none
            with pytest.raises(fleet.WorkerStillOnline):
                act(db, b_id, "forget")
            act(db, a_id, "resume")
            act(db, b_id, "drain")
            again = recorder.submit(command("again", "true"))
            assert wait_for_status(db, again, ["completed"], workers=[a, b]).worker_id == a_id
        assert run_cli("fleet", "stop", "--db", db_url, a_id).returncode == 0
        assert a.proc.wait(timeout=30) == 0  # the process ended by itself
    assert act(db, a_id, "forget") == [a_id]
    with db.reading() as s:
        assert s.scalar(select(WorkerRow.id).where(WorkerRow.id == a_id)) is None
        actions = s.scalars(select(AuditLog.action).where(AuditLog.target == f"worker:{a_id}")).all()
    assert actions == ["worker.drain", "worker.stop"]  # the CLI's changes


def test_a_tag_limit_of_one_holds_across_three_workers(
    db_url: str, db: Database, recorder: Recorder, tmp_path: Path
) -> None:
    assert run_cli("limit", "set", "--db", db_url, "tag:deploy", "1").returncode == 0
    workers = [WorkerProcess(db_url, tmp_path, concurrency=4) for _ in range(3)]
    try:
        for w in workers:
            w.wait_registered(db)
        step = {"callable": "worker.examples:count_to", "n": 1, "delay": 0.02}
        burst = recorder.submit_many(
            [
                TaskSpec(title=f"deploy {i}", kind=TaskKind.PYTHON, payload=step, tags=("deploy",))
                for i in range(20)
            ]
        )
        free = recorder.submit_many([python_task() for _ in range(8)])  # unlimited work flows meanwhile
        for task_id in burst + free:
            wait_for_status(db, task_id, ["completed"], workers=workers)
    finally:
        for w in workers:
            w.close()
    with db.reading() as s:
        events = s.execute(
            select(TaskEvent.task_id, TaskEvent.to_status)
            .where(TaskEvent.task_id.in_(burst), TaskEvent.from_status.is_not(None))
            .order_by(TaskEvent.seq)
        ).all()
    running, most = 0, 0
    for _, to in events:  # replay the event log: how many deploy tasks ran at once
        running += 1 if to == "running" else -1
        most = max(most, running)
    assert most == 1


def test_workers_claim_only_their_kinds_and_tags(
    db_url: str, db: Database, recorder: Recorder, tmp_path: Path
) -> None:
    gpu_env = fast_worker_env(TASKLENS_WORKER_TAGS="gpu")
    py_env = fast_worker_env(TASKLENS_WORKER_KINDS="python")
    with (
        WorkerProcess(db_url, tmp_path, env=gpu_env) as gpu,
        WorkerProcess(db_url, tmp_path, env=py_env) as py,
    ):
        gpu_id, py_id = gpu.wait_registered(db), py.wait_registered(db)
        tagged = recorder.submit_many([command(f"train {i}", "true", "gpu") for i in range(3)])
        python = recorder.submit(python_task())
        for task_id in tagged:
            assert wait_for_status(db, task_id, ["completed"], workers=[gpu, py]).worker_id == gpu_id
        assert wait_for_status(db, python, ["completed"], workers=[gpu, py]).worker_id == py_id
        untagged = recorder.submit(command("plain", "true"))
        # Both workers claim again after it was queued (each takes a task queued behind it) and leave it.
        after = [recorder.submit(command("train", "true", "gpu")), recorder.submit(python_task())]
        for task_id in after:
            wait_for_status(db, task_id, ["completed"], workers=[gpu, py])
        with db.reading() as s:
            assert s.scalar(select(Task.status).where(Task.id == untagged)) == "queued"
        listed = run_cli("fleet", "list", "--db", db_url)
        assert "tagged gpu" in listed.stdout and "python" in listed.stdout
