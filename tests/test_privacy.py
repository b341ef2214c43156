"""Tests: privacy — TASKLENS_REDACT patterns never reach storage (titles, prompts, responses, errors, activity,
call messages, event payloads, the search index); erasure deletes a person's finished tasks with everything
under them, leaves others and unfinished tasks alone, and audits that it happened without naming the person.
SQLite and PostgreSQL; the CLI's erase too."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import text

from app import main
from config import Settings
from db.access import audit
from db.core.engine import Database, open_database
from db.core.timeutil import utcnow
from db.domain.ops import (
    ActivityLine,
    CallReported,
    InvocationFinished,
    InvocationStarted,
    TaskSpec,
    Transition,
)
from db.domain.states import CallKind, TaskKind, TaskStatus
from db.lifecycle import erase
from db.read import search
from db.write import messages
from db.write.recorder import Recorder
from db.write.redact import RedactError, Redactor, parse
from worker.celerysource.translate import Translator

PATTERNS = parse(r'["[\\w.+-]+@[\\w-]+\\.[\\w.]+", "sk-[A-Za-z0-9]{20,}"]')
SECRET_MAIL = "alice.smith@example.com"
SECRET_KEY = "sk-" + "A1b2" * 8


@pytest.fixture
def redacting(db_url: str) -> Iterator[Database]:
    database = open_database(db_url, redact=PATTERNS)
    yield database
    database.dispose()


def everything(db: Database) -> str:
    """Every stored value of the tables that hold free text, call messages unpacked, as one string."""
    parts: list[str] = []
    with db.read_engine.connect() as conn:
        for table in ("tasks", "task_events", "invocations", "activity"):
            for row in conn.execute(text(f"SELECT * FROM {table}")).mappings():
                for key, value in row.items():
                    if key == "messages" and value:
                        value = messages.unpack(value)
                    parts.append(str(value))
    return "\n".join(parts)


def test_redaction_applies_before_anything_is_stored(redacting: Database) -> None:
    r = Recorder(redacting)
    task = r.submit(
        TaskSpec(title=f"mail {SECRET_MAIL} about the bill", kind=TaskKind.EXTERNAL, created_by="x")
    )
    now = utcnow()
    r.record(task, Transition(TaskStatus.RUNNING))
    r.record(task, InvocationStarted("c1", role="planner", prompt=f"use key {SECRET_KEY} for {SECRET_MAIL}"))
    r.record(
        task, ActivityLine(f"sent to {SECRET_MAIL}"), InvocationFinished("c1", response=f"ok {SECRET_MAIL}")
    )
    said = {"input": [{"role": "user", "content": f"write to {SECRET_MAIL} zebra"}], "output": []}
    r.record(
        task,
        CallReported(
            "c2",
            CallKind.LLM,
            now - timedelta(seconds=2),
            now,
            messages=messages.pack(said),
            search_text=search.index_text(said),
        ),
        Transition(TaskStatus.FAILED, error=f"bounced: {SECRET_MAIL}"),
    )
    stored = everything(redacting)
    assert SECRET_MAIL not in stored and SECRET_KEY not in stored
    assert stored.count("[REDACTED]") >= 6
    assert "mail [REDACTED] about the bill" in stored and "zebra" in stored
    with redacting.reading() as s:
        assert [h["task_id"] for h in search.search(s, "zebra")] == [task]
        assert search.search(s, "smith") == [] and search.search(s, "example") == []


def test_bad_patterns_are_refused() -> None:
    with pytest.raises(RedactError):
        parse("[unclosed")
    with pytest.raises(RedactError):
        parse('["ok", 3]')
    assert parse("") == ()


def test_erase_removes_a_persons_tasks_and_audits_it(
    db: Database, capsys: pytest.CaptureFixture[str]
) -> None:
    r = Recorder(db)

    def task(who: str, end: TaskStatus | None) -> int:
        task_id = r.submit(TaskSpec(title=f"{who}'s task", kind=TaskKind.EXTERNAL, created_by=who))
        r.record(
            task_id, Transition(TaskStatus.RUNNING), InvocationStarted(f"{who}{task_id}", prompt="secret")
        )
        r.record(task_id, ActivityLine("working"))
        if end is not None:
            r.record(task_id, InvocationFinished(f"{who}{task_id}", response="answer"), Transition(end))
        return task_id

    alice = [task("alice", TaskStatus.COMPLETED), task("alice", TaskStatus.FAILED)]
    running = task("alice", None)
    bob = task("bob", TaskStatus.COMPLETED)
    last = task("carol", TaskStatus.COMPLETED)
    with db.writing() as s:
        done = erase.erase(s, actor="test", now=utcnow(), created_by="alice")
    assert done.erased == alice and done.unfinished == [running]
    with db.read_engine.connect() as conn:
        for table, column in (("tasks", "id"), ("invocations", "task_id"), ("activity", "task_id")):
            left = {int(v) for v in conn.execute(text(f"SELECT {column} FROM {table}")).scalars()}
            assert not left & set(alice) and {running, bob, last} <= left, table
        assert (
            conn.execute(text("SELECT count(*) FROM task_events WHERE task_id IN (1, 2)")).scalar_one() == 0
        )
    with db.reading() as s:
        (entry,) = audit.entries(s, action="data.erase")
    assert entry.details["tasks"] == 2 and entry.details["created_by_sha256"] == erase.subject_hash("alice")
    assert entry.details["left_unfinished"] == [running] and "alice" not in str(entry.details)

    # One task by the CLI; the newest event of the log is the erased task's: it stays, hollowed, so its seq
    # is never handed out again.
    with db.read_engine.connect() as conn:
        top = conn.execute(text("SELECT max(seq) FROM task_events")).scalar_one()
    assert (
        main(["--db", str(db.url.render_as_string(hide_password=False)), "erase", "--task", str(last)]) == 0
    )
    assert "erased 1 tasks" in capsys.readouterr().out
    with db.read_engine.connect() as conn:
        row = conn.execute(text("SELECT task_id, payload FROM task_events WHERE seq = :s"), {"s": top}).one()
        assert row[0] is None
        assert conn.execute(text("SELECT count(*) FROM tasks WHERE id = :t"), {"t": last}).scalar_one() == 0


def test_the_one_setting_covers_celery_arguments() -> None:
    """TASKLENS_REDACT's expressions and keys reach a Celery task's arguments (kept in its payload, which the
    write path's redaction of free text does not reach); the secret keys are masked with no setting at all."""
    settings = Settings.from_env({"TASKLENS_REDACT": '["sk-[a-z0-9]+", {"key": "pin"}]'})
    translate = Translator(
        settings.skew_window, 1000, settings.redact_keys(), Redactor(settings.redact_patterns())
    )
    args = translate.arguments("('sk-abc123', {'pin': '1234', 'password': 'hunter2', 'n': 1})")
    assert args == "('[REDACTED]', {'pin': '***', 'password': '***', 'n': 1})"
    default = Settings.from_env({})
    plain = Translator(default.skew_window, 1000, default.redact_keys(), Redactor(default.redact_patterns()))
    assert plain.arguments("{'token': 't', 'pin': '1'}") == "{'token': '***', 'pin': '1'}"
