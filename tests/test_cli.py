"""Tests: the command line as users run it — `python app.py …` as real subprocesses against real SQLite files
and the real PostgreSQL: help texts, clear errors without tracebacks, migrate, submit --wait, demo, show."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import select

from db.access.audit import entries
from db.core.engine import Database, open_database
from db.core.migrate import head_revision, is_current
from db.core.models import Task, TaskEvent
from db.domain.ops import ActivityLine, Progress, TaskSpec, Transition
from db.domain.states import EventType, TaskKind, TaskStatus
from db.write.recorder import Recorder
from tests.helpers import REPO_ROOT, WorkerProcess, clean_env, load_events, load_task, run_cli
from tests.parallel import database_name

SUBCOMMANDS = [
    "all",
    "web",
    "worker",
    "migrate",
    "submit",
    "cancel",
    "retry",
    "show",
    "demo",
    "report",
    "token",
]


def assert_clean_error(result: Any, message: str) -> None:
    """Failed with a non-zero exit and a readable message on stderr, not a Python traceback."""
    assert result.returncode != 0, result.stdout
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr


def stdout_json(stdout: str) -> dict[str, Any]:
    """The JSON document a command printed after its one-line status (if any)."""
    data: dict[str, Any] = json.loads(stdout[stdout.index("{") :])
    return data


def task_count(url: str) -> int:
    db = open_database(url)
    try:
        with db.reading() as session:
            return len(session.scalars(select(Task.id)).all())
    finally:
        db.dispose()


@pytest.fixture
def fresh_sqlite(tmp_path: Path) -> str:
    """An SQLite URL whose file does not exist yet: the CLI must create and migrate it itself."""
    return f"sqlite:///{tmp_path}/cli.db"


# ---- help ------------------------------------------------------------------------------------------------
def test_top_level_help_lists_every_command() -> None:
    result = run_cli("--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python app.py")
    for name in SUBCOMMANDS:
        assert name in result.stdout
    assert "--db" in result.stdout


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_subcommand_help(command: str) -> None:
    result = run_cli(command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: python app.py {command}")
    assert "--db" in result.stdout
    assert result.stderr == ""


# ---- bad input -------------------------------------------------------------------------------------------
BAD_ARGUMENTS = [
    pytest.param(["nosuch"], {}, "invalid choice: 'nosuch'", id="unknown-subcommand"),
    pytest.param(
        ["submit", "--db", "{db}", "--command", "true"],
        {},
        "the following arguments are required: --title",
        id="submit-without-title",
    ),
    pytest.param(
        ["submit", "--db", "{db}", "--title", "x", "--command", "true", "--priority", "abc"],
        {},
        "argument --priority: invalid int value: 'abc'",
        id="priority-abc",
    ),
    pytest.param(
        ["submit", "--db", "{db}", "--title", "x", "--command", "true", "--priority", "5000"],
        {},
        "priority: must be between -1000 and 1000",
        id="priority-out-of-range",
    ),
    pytest.param(
        ["submit", "--db", "{db}", "--title", "x", "--command", "true", "--payload", "[1]"],
        {},
        "argument --payload: must be a JSON object",
        id="payload-list",
    ),
    pytest.param(
        ["submit", "--db", "{db}", "--title", "x", "--command", "true", "--payload", "{bad"],
        {},
        "argument --payload: not valid JSON",
        id="payload-bad-json",
    ),
    pytest.param(["submit", "--db", "{db}", "--title", "x"], {}, "say what to run", id="nothing-to-run"),
    pytest.param(
        ["submit", "--db", "{db}", "--title", "", "--command", "true"],
        {},
        "title: must not be empty",
        id="empty-title",
    ),
    pytest.param(
        ["submit", "--db", "{db}", "--title", "   ", "--command", "true"],
        {},
        "title: must not be empty",
        id="blank-title",
    ),
    pytest.param(
        ["submit", "--db", "{db}", "--title", "x", "--command", "true", "--max-attempts", "0"],
        {},
        "argument --max-attempts: must be at least 1",
        id="max-attempts-0",
    ),
    pytest.param(
        ["web", "--db", "{db}", "--port", "0"], {}, "argument --port: must be at least 1", id="port-0"
    ),
    pytest.param(
        ["web", "--db", "{db}"],
        {"TASKLENS_PORT": "abc"},
        "TASKLENS_PORT must be a number, got 'abc'",
        id="env-port-abc",
    ),
    pytest.param(
        ["worker", "--db", "{db}"],
        {"TASKLENS_WORKER_CONCURRENCY": "0"},
        "TASKLENS_WORKER_CONCURRENCY must be between 1 and 256",
        id="env-concurrency-0",
    ),
    pytest.param(
        ["migrate", "--db", "mysql://nope/x"], {}, "TASKLENS_DATABASE_URL must be sqlite", id="bad-url"
    ),
]


@pytest.mark.parametrize(("args", "env", "message"), BAD_ARGUMENTS)
def test_bad_arguments_fail_clearly_and_store_nothing(
    fresh_sqlite: str, args: list[str], env: dict[str, str], message: str
) -> None:
    result = run_cli(*[a.replace("{db}", fresh_sqlite) for a in args], env=clean_env(**env), timeout=30)
    assert_clean_error(result, message)
    path = Path(fresh_sqlite.split(":///", 1)[1])
    assert not path.exists() or task_count(fresh_sqlite) == 0, "a rejected command stored a task"


def test_unreachable_postgresql_is_a_clear_error() -> None:
    url = "postgresql://postgres:s3cret@127.0.0.1:1/test"
    result = run_cli("show", "1", "--db", url, timeout=60)
    assert_clean_error(result, "cannot use the database postgresql://postgres:***@127.0.0.1:1/test")
    assert "s3cret" not in result.stderr + result.stdout  # a password never reaches the terminal
    assert result.returncode == 1


def test_short_lease_flag_brings_the_heartbeat_down(tmp_path: Path) -> None:
    """--lease-seconds 2 is accepted on its own (the heartbeat follows it), and the worker runs."""
    url = f"sqlite:///{tmp_path}/lease.db"
    proc = subprocess.Popen(
        [sys.executable, "app.py", "worker", "--db", url, "--lease-seconds", "2"],
        cwd=REPO_ROOT,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert "worker" in first and ("running" in first or "started" in first), first
    finally:
        proc.terminate()
        try:
            # Once (1 of 1,539 in a full run) the worker never exited: SIGTERM's KeyboardInterrupt, raised inside
            # Event.wait, had left the stop event's lock held (app.py's main loop now sleeps). Its log if it hangs.
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            log = proc.stdout.read() if proc.stdout else ""
            raise AssertionError(f"the worker outlived SIGTERM by 60 s; its log:\n{log[-4000:]}") from None
    assert code == 0


def test_wait_timeout_without_a_worker(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/wait.db"
    result = run_cli(
        "submit", "--db", url, "--title", "w", "--command", "true", "--wait", "--wait-timeout", "0.5"
    )
    assert result.returncode == 3
    assert "still queued" in result.stderr and "Traceback" not in result.stderr


def test_show_of_a_missing_task(db_url: str) -> None:
    result = run_cli("show", "999999", "--db", db_url)
    assert_clean_error(result, "task 999999 does not exist")
    assert result.returncode == 1
    assert result.stdout == ""


# ---- migrate ---------------------------------------------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def unmigrated_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database without any table: a new SQLite file, or a new PostgreSQL database (dropped afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/fresh.db"
        return
    session_url: str = request.getfixturevalue("pg_session_url")  # fails, never skips, in CI
    base = session_url.rsplit("/", 1)[0]
    admin = base + "/test"
    name = database_name("tasklens_cli")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migrate_twice_is_idempotent(unmigrated_url: str) -> None:
    head = head_revision()
    assert head
    first = run_cli("migrate", "--db", unmigrated_url)
    assert first.returncode == 0, first.stderr
    assert f"database at revision {head}" in first.stdout
    # The shared flag also works before the subcommand.
    second = run_cli("--db", unmigrated_url, "migrate")
    assert second.returncode == 0, second.stderr
    assert f"database at revision {head}" in second.stdout
    db = open_database(unmigrated_url)
    try:
        assert is_current(db)
        with db.reading() as session:
            assert session.scalars(select(Task.id)).all() == []
    finally:
        db.dispose()


# ---- submit --wait with a live worker --------------------------------------------------------------------
# The tests on live_worker: on one xdist worker (--dist loadgroup), which starts the subprocess once.
LIVE_WORKER = pytest.mark.xdist_group("cli-live-worker")


@pytest.fixture(scope="module")
def live_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Database]]:
    """One worker subprocess on its own SQLite file, shared by the submit --wait tests."""
    tmp = tmp_path_factory.mktemp("cli-worker")
    url = f"sqlite:///{tmp}/worker.db"
    with WorkerProcess(url, tmp, name="cli-worker", concurrency=2, lease_seconds=10) as worker:
        db = open_database(url)
        try:
            worker.wait_registered(db)
            yield url, db
        finally:
            db.dispose()


@LIVE_WORKER
def test_submit_wait_prints_the_completed_task(live_worker: tuple[str, Database]) -> None:
    url, db = live_worker
    result = run_cli(
        "submit",
        "--db",
        url,
        "--title",
        "hello",
        "--command",
        "echo hello from cli",
        "--tag",
        "cli,smoke",
        "--wait",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    first_line = result.stdout.splitlines()[0]
    assert first_line.startswith("submitted task ")
    task_id = int(first_line.rsplit(" ", 1)[1])
    summary = stdout_json(result.stdout)
    assert summary["id"] == task_id
    assert summary["status"] == "completed"
    assert summary["result"] == {"exit_code": 0, "last_output": "hello from cli"}
    task = load_task(db, task_id)
    assert task.status == TaskStatus.COMPLETED and task.created_by == "cli"
    assert sorted(task.tags) == ["cli", "smoke"]
    with db.reading() as session:
        assert ("cli", "task.create", f"task:{task_id}") in [
            (e.actor, e.action, e.target) for e in entries(session)
        ]


@LIVE_WORKER
def test_submit_wait_of_a_failing_command_exits_1(live_worker: tuple[str, Database]) -> None:
    url, db = live_worker
    result = run_cli(
        "submit", "--db", url, "--title", "fails", "--command", "echo oops >&2; exit 3", "--wait"
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    summary = stdout_json(result.stdout)
    assert summary["status"] == "failed"
    assert "exit code 3" in summary["error"]
    assert "oops" in summary["error"], "the error carries the tail of stderr"
    assert load_task(db, summary["id"]).failure_reason == "exit_code"


# ---- demo, show, cancel, retry ---------------------------------------------------------------------------
def test_demo_submits_live_demo_tasks(db_url: str, db: Database) -> None:
    result = run_cli("demo", "--db", db_url, "--count", "3")
    assert result.returncode == 0, result.stderr
    assert "submitted 3 demo tasks" in result.stdout
    with db.reading() as session:
        tasks = session.scalars(select(Task).order_by(Task.id)).all()
        created = session.scalars(select(TaskEvent).where(TaskEvent.type == EventType.CREATED.value)).all()
    assert len(tasks) == 3
    assert {t.kind for t in tasks} == {"demo"} and {t.status for t in tasks} == {"queued"}
    assert all(t.max_iterations and t.timeout_seconds for t in tasks)
    assert sorted(e.task_id or 0 for e in created) == [t.id for t in tasks]


def test_demo_history_writes_only_history(db_url: str, db: Database) -> None:
    """`demo --history N` gives N finished tasks and queues no live ones unless --count asks for them."""
    result = run_cli("demo", "--db", db_url, "--history", "5", "--days", "2")
    assert result.returncode == 0, result.stderr
    assert "submitted" not in result.stdout
    with db.reading() as session:
        statuses = session.scalars(select(Task.status)).all()
    assert len(statuses) == 5 and "queued" not in statuses, statuses
    result = run_cli("demo", "--db", db_url, "--history", "2", "--days", "1", "--count", "1")
    assert result.returncode == 0, result.stderr
    assert "submitted 1 demo tasks" in result.stdout
    assert task_count(db_url) == 8


def _finished_task(recorder: Recorder) -> int:
    """A command task taken through its whole life in-process: queued, activity, running, completed."""
    task_id = recorder.submit(TaskSpec(title="finished", kind=TaskKind.COMMAND, payload={"command": "true"}))
    recorder.record(task_id, ActivityLine("before start"))
    recorder.record(task_id, Progress(iteration=1, max_iterations=2, message="half"))
    claimed = recorder.claim("cli-test-worker", {TaskKind.COMMAND}, 30)
    assert claimed is not None and claimed.id == task_id
    recorder.record(task_id, ActivityLine("working"), owner="cli-test-worker")
    recorder.record(task_id, Transition(TaskStatus.COMPLETED), owner="cli-test-worker")
    return task_id


def test_show_events_in_seq_order(db_url: str, db: Database, recorder: Recorder) -> None:
    task_id = _finished_task(recorder)
    result = run_cli("show", str(task_id), "--events", "--db", db_url)
    assert result.returncode == 0, result.stderr
    out = stdout_json(result.stdout)
    assert out["id"] == task_id and out["status"] == "completed"
    seqs = [e["seq"] for e in out["events"]]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert seqs == [e.seq for e in load_events(db, task_id)]
    assert [(e["type"], e["to"]) for e in out["events"]] == [
        ("task.created", "queued"),
        ("activity", None),
        ("task.progress", None),
        ("task.transition", "running"),
        ("activity", None),
        ("task.transition", "completed"),
    ]
    assert out["events"][3]["payload"] == {"attempt": 1, "worker_id": "cli-test-worker"}

    plain = run_cli("show", str(task_id), "--db", db_url)
    assert plain.returncode == 0 and "events" not in stdout_json(plain.stdout)


def test_cancel_of_a_completed_task_is_refused(db_url: str, db: Database, recorder: Recorder) -> None:
    task_id = _finished_task(recorder)
    before = load_task(db, task_id).update_count
    result = run_cli("cancel", str(task_id), "--db", db_url)
    assert_clean_error(result, f"task {task_id}: cannot go from completed to cancelled")
    assert result.returncode == 1
    task = load_task(db, task_id)
    assert task.status == "completed" and task.update_count == before


def test_cancel_queued_and_retry_finished(db_url: str, db: Database, recorder: Recorder) -> None:
    queued = recorder.submit(TaskSpec(title="never runs", kind=TaskKind.EXTERNAL))
    result = run_cli("cancel", str(queued), "--db", db_url)
    assert result.returncode == 0, result.stderr
    assert f"task {queued}: cancelled" in result.stdout
    assert load_task(db, queued).status == "cancelled"

    result = run_cli("retry", str(queued), "--db", db_url)
    assert result.returncode == 0, result.stderr
    assert f"task {queued}: queued" in result.stdout
    task = load_task(db, queued)
    assert task.status == "queued" and task.attempt == 2
    last = load_events(db, queued)[-1]
    assert (last.from_status, last.to_status, last.actor) == ("cancelled", "queued", "cli")
    with db.reading() as session:  # both written to the audit log as the CLI's; the refused one is not
        audited = [(e.actor, e.action, e.target) for e in entries(session)]
    assert audited == [("cli", "task.retry", f"task:{queued}"), ("cli", "task.cancel", f"task:{queued}")]
    assert last.payload == {"attempt": 2, "reason": "retry"}
