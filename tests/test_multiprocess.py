"""Tests: several real processes on one database — worker processes draining a queue together, a worker killed
with SIGKILL mid-task, a graceful SIGTERM shutdown, and concurrent writer processes on one task row."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from db.core.engine import Database
from db.core.models import Activity
from db.core.models import Worker as WorkerRow
from db.domain.ops import TaskSpec
from db.domain.states import EventType, TaskKind, TaskStatus
from db.read.tasks import history
from db.write.recorder import Recorder
from tests.helpers import (
    REPO_ROOT,
    WorkerProcess,
    count_terminal,
    load_events,
    load_task,
    transitions,
    wait_for_activity,
    wait_for_status,
    wait_until,
)

pytestmark = pytest.mark.slow

TERMINAL = [s.value for s in TaskStatus if s.is_terminal]


def command_task(title: str, command: str, **kw: object) -> TaskSpec:
    return TaskSpec(title=title, kind=TaskKind.COMMAND, payload={"command": command}, **kw)  # type: ignore[arg-type]


def worker_row(db: Database, worker_id: str) -> WorkerRow:
    with db.reading() as session:
        row = session.get(WorkerRow, worker_id)
    assert row is not None, f"worker {worker_id} has no row"
    return row


# ---- 1. several workers drain one queue ---------------------------------------------------------------
def test_workers_drain_one_queue_running_each_task_exactly_once(
    db_url: str, db: Database, recorder: Recorder, tmp_path: Path
) -> None:
    ran = tmp_path / "ran.txt"
    ran.touch()
    # O_APPEND writes of one short line are atomic, so concurrent commands never interleave their ids.
    command = f'sleep 0.1; printf "%s\\n" "$TASKLENS_TASK_ID" >> {shlex.quote(str(ran))}'
    workers = [WorkerProcess(db_url, tmp_path, concurrency=2, lease_seconds=10) for _ in range(3)]
    try:
        worker_ids = {w.wait_registered(db) for w in workers}
        task_ids = recorder.submit_many([command_task(f"drain {i}", command) for i in range(40)])

        wait_until(
            lambda: count_terminal(db, task_ids) == len(task_ids),
            90,
            "all 40 tasks to finish",
            workers=workers,
            describe=lambda: f"{count_terminal(db, task_ids)} finished",
        )

        runs_by_worker: Counter[str] = Counter()
        for task_id in task_ids:
            task = load_task(db, task_id)
            assert task.status == TaskStatus.COMPLETED, (task_id, task.status, task.error_message)
            assert task.attempt == 1
            claims = [(f, t, p) for f, t, p in transitions(load_events(db, task_id)) if t == "running"]
            assert len(claims) == 1, f"task {task_id} was claimed {len(claims)} times: {claims}"
            ((_, _, payload),) = claims
            assert payload["attempt"] == 1
            assert payload["worker_id"] == task.worker_id
            assert payload["worker_id"] in worker_ids
            runs_by_worker[payload["worker_id"]] += 1

        lines = ran.read_text().split()
        counts = Counter(int(x) for x in lines)
        assert sorted(counts) == sorted(task_ids), "every task's command ran"
        twice = [i for i, n in counts.items() if n > 1]
        assert not twice, f"commands ran more than once: {twice}"
        assert len(runs_by_worker) > 1, f"only one worker took part: {runs_by_worker}"
        assert sum(runs_by_worker.values()) == len(task_ids)
    finally:
        for w in workers:
            w.close()
    for w in workers:
        assert worker_row(db, w.id or "").status == "offline", "a terminated worker marks itself offline"


# ---- 2. SIGKILL of a worker mid-task --------------------------------------------------------------------
def _kill_orphan(pid_file: Path, marker: str) -> None:
    """A safety net: the killed worker's command dies with it (tests/test_command_death.py checks that); should
    a regression leave it running, end its process group here so it does not outlive the test, after checking
    by its command line that the pid is still our shell."""
    if not pid_file.exists():
        return
    pid = int(pid_file.read_text().strip() or 0)
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return
    if marker in cmdline:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


@pytest.mark.parametrize("max_attempts", [2, 1], ids=["requeued", "no-attempts-left"])
def test_sigkilled_worker_task_is_recovered_by_another_worker(
    db_url: str, db: Database, recorder: Recorder, tmp_path: Path, max_attempts: int
) -> None:
    marker = str(tmp_path / "pid-")
    command = (
        f'echo $$ > {shlex.quote(marker)}"$TASKLENS_ATTEMPT"; '
        'echo "attempt $TASKLENS_ATTEMPT started"; sleep 3; echo "attempt $TASKLENS_ATTEMPT finished"'
    )
    a = WorkerProcess(db_url, tmp_path, name="victim", concurrency=1, lease_seconds=2)
    b: WorkerProcess | None = None
    try:
        a_id = a.wait_registered(db)
        task_id = recorder.submit(command_task("survives a kill -9", command, max_attempts=max_attempts))
        wait_for_status(db, task_id, ["running"], workers=[a])
        wait_for_activity(db, task_id, "attempt 1 started", workers=[a])
        a.kill()

        b = WorkerProcess(db_url, tmp_path, name="rescuer", concurrency=1, lease_seconds=2)
        b_id = b.wait_registered(db)
        final = "completed" if max_attempts == 2 else "failed"
        task = wait_for_status(db, task_id, [final], 60, workers=[b])
        events = load_events(db, task_id)

        seqs = [e.seq for e in events]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs), "events are in strict seq order"
        assert events[0].type == EventType.CREATED.value and events[0].to_status == "queued"
        trans = transitions(events)
        assert trans[0] == ("queued", "running", {"attempt": 1, "worker_id": a_id})
        # Nothing of attempt 1 is lost: its activity stays in the log and in the activity table.
        first_claim = next(e.seq for e in events if e.to_status == "running")
        recovery = next(e for e in events if e.from_status == "running" and e.to_status != "completed")
        started_1 = [
            e
            for e in events
            if e.type == EventType.ACTIVITY.value and e.payload.get("message") == "attempt 1 started"
        ]
        assert len(started_1) == 1 and first_claim < started_1[0].seq < recovery.seq
        with db.reading() as session:
            messages = [line.message for line in history.activity(session, task_id)]
        assert "attempt 1 started" in messages
        assert "attempt 1 finished" not in messages, "the killed run never reported an end"
        assert recovery.actor == f"worker:{b_id}", "the surviving worker's sweep recovered the task"
        assert recovery.payload["reason"] == "worker_lost"

        if max_attempts == 2:
            assert [(f, t) for f, t, _ in trans] == [
                ("queued", "running"),
                ("running", "queued"),
                ("queued", "running"),
                ("running", "completed"),
            ]
            assert trans[1][2]["attempt"] == 2
            assert trans[2][2] == {"attempt": 2, "worker_id": b_id}
            assert trans[3][2]["attempt"] == 2
            assert task.attempt == 2 and task.worker_id == b_id and task.failure_reason is None
            assert task.result == {"exit_code": 0, "last_output": "attempt 2 finished"}
            second_claim = [e.seq for e in events if e.to_status == "running"][1]
            started_2 = [
                e.seq
                for e in events
                if e.type == EventType.ACTIVITY.value and e.payload.get("message") == "attempt 2 started"
            ]
            assert len(started_2) == 1 and started_2[0] > second_claim
            assert "attempt 2 finished" in messages
        else:
            assert [(f, t) for f, t, _ in trans] == [("queued", "running"), ("running", "failed")]
            assert trans[1][2]["attempt"] == 1
            assert task.attempt == 1 and task.failure_reason == "worker_lost"
            assert "worker lost" in (task.error_message or "")
            assert "attempt 2 started" not in messages

        # The killed worker never said goodbye; the survivor shows it offline once its heartbeat is overdue.
        wait_until(
            lambda: worker_row(db, a_id).status == "offline",
            30,
            "the killed worker to be offline",
            workers=[b],
        )
    finally:
        a.close()
        if b is not None:
            b.close()
        _kill_orphan(tmp_path / "pid-1", marker)


# ---- 3. graceful shutdown -------------------------------------------------------------------------------
def test_sigterm_requeues_running_task_and_worker_goes_offline(
    db_url: str, db: Database, recorder: Recorder, tmp_path: Path
) -> None:
    first_run = tmp_path / "first-run"
    # The first run blocks for a long time; a rerun (after the shutdown) finishes at once.
    command = (
        f"if [ -e {shlex.quote(str(first_run))} ]; then echo 'second run'; "
        f"else touch {shlex.quote(str(first_run))}; echo 'first run'; sleep 60; fi"
    )
    w1 = WorkerProcess(db_url, tmp_path, name="leaving", concurrency=1, lease_seconds=10)
    w2: WorkerProcess | None = None
    try:
        w1_id = w1.wait_registered(db)
        task_id = recorder.submit(command_task("long task", command))
        wait_for_status(db, task_id, ["running"], workers=[w1])
        wait_for_activity(db, task_id, "first run", workers=[w1])

        assert w1.terminate() == 0, w1.log_text()
        task = load_task(db, task_id)
        assert task.status == "queued", (task.status, w1.log_text()[-3000:])
        assert task.attempt == 1, "a shutdown does not use up an attempt"
        assert task.worker_id is None
        trans = transitions(load_events(db, task_id))
        assert trans[-1] == ("running", "queued", {"attempt": 1, "reason": "worker_shutdown"})
        row = worker_row(db, w1_id)
        assert row.status == "offline" and row.stopped_at is not None and row.running_count == 0

        w2 = WorkerProcess(db_url, tmp_path, name="taking-over", concurrency=1, lease_seconds=10)
        w2_id = w2.wait_registered(db)
        task = wait_for_status(db, task_id, TERMINAL, workers=[w2])
        assert task.status == "completed", task.error_message
        assert task.worker_id == w2_id and task.attempt == 1
        assert task.result == {"exit_code": 0, "last_output": "second run"}
        trans = transitions(load_events(db, task_id))
        assert [(f, t, p.get("worker_id")) for f, t, p in trans] == [
            ("queued", "running", w1_id),
            ("running", "queued", None),
            ("queued", "running", w2_id),
            ("running", "completed", None),
        ]
        assert worker_row(db, w2_id).tasks_completed == 1
    finally:
        w1.close()
        if w2 is not None:
            w2.close()


# ---- 4. concurrent writers on one task ------------------------------------------------------------------
WRITER = """
import sys, time
from pathlib import Path
from sqlalchemy import text
from db.core.engine import open_database
from db.domain.ops import ActivityLine, Progress
from db.write.recorder import Recorder

url, task_id, name, m, sync = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), Path(sys.argv[5])
db = open_database(url)
with db.reading() as session:
    session.execute(text("SELECT 1"))
recorder = Recorder(db)
(sync / ("ready-" + name)).touch()
deadline = time.monotonic() + 60
while not (sync / "go").exists():
    if time.monotonic() > deadline:
        sys.exit("no go signal")
    time.sleep(0.005)
for j in range(m):
    line = ActivityLine(f"{name} line {j}")
    recorder.record(task_id, line, Progress(iteration=j, message=f"{name} step {j}"), actor=name)
db.dispose()
"""


def test_concurrent_writer_processes_lose_no_update(
    db_url: str, db: Database, recorder: Recorder, tmp_path: Path
) -> None:
    n, m = 4, 40
    task_id = recorder.submit(TaskSpec(title="shared", kind=TaskKind.EXTERNAL))
    names = [f"p{i}" for i in range(n)]
    procs: list[subprocess.Popen[str]] = []
    try:
        for name in names:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-c", WRITER, db_url, str(task_id), name, str(m), str(tmp_path)],
                    cwd=REPO_ROOT,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )

        def ready() -> bool:
            for p in procs:
                if p.poll() is not None:
                    raise AssertionError(f"writer exited early: {p.communicate()}")
            return all((tmp_path / f"ready-{name}").exists() for name in names)

        wait_until(ready, 30, "writer processes to connect")
        (tmp_path / "go").touch()  # all start writing together, for the most contention
        for p in procs:
            _out, err = p.communicate(timeout=120)
            assert p.returncode == 0, f"writer failed ({p.returncode}): {err[-3000:]}"
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()

    task = load_task(db, task_id)
    events = load_events(db, task_id)
    assert task.activity_count == n * m
    assert task.update_count == len(events) == 1 + 2 * n * m
    seqs = [e.seq for e in events]
    assert len(set(seqs)) == len(seqs)
    assert Counter(e.type for e in events) == {
        EventType.CREATED.value: 1,
        EventType.ACTIVITY.value: n * m,
        EventType.PROGRESS.value: n * m,
    }
    with db.reading() as session:
        rows = list(
            session.execute(
                select(Activity.message).where(Activity.task_id == task_id).order_by(Activity.id)
            ).scalars()
        )
        assert session.execute(select(func.count()).select_from(Activity)).scalar_one() == n * m
    assert sorted(rows) == sorted(f"{name} line {j}" for name in names for j in range(m))
    # Each writer's own lines keep its order (one process writes them one transaction after another).
    for name in names:
        mine = [int(r.rsplit(" ", 1)[1]) for r in rows if r.startswith(f"{name} ")]
        assert mine == list(range(m))
    # Every event of one writer was committed with the activity it belongs to: the pairs stay adjacent.
    by_actor = Counter(e.actor for e in events if e.type != EventType.CREATED.value)
    assert by_actor == dict.fromkeys(names, 2 * m)
    for act, prog in zip(events[1::2], events[2::2], strict=True):
        assert (act.type, prog.type) == (EventType.ACTIVITY.value, EventType.PROGRESS.value)
        assert act.actor == prog.actor
        assert act.payload["message"].replace("line", "step") == prog.payload["message"]
