"""Tests: a finished call stores no last activity of its own (it repeated its end: issue 17, migration 0020) while
the one-call APIs and the call tree still answer its end; a running call, and a call that reported usage after
its end, keep theirs; the migration clears and restores existing rows; the archive keeps the value and an
import stores it the same way. SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import select, text, update

from dashboard.services import Services
from db.core.engine import Database
from db.core.migrate import downgrade, upgrade
from db.core.models import Invocation
from db.core.timeutil import utcnow
from db.domain.ops import (
    CallReported,
    ClientTime,
    InvocationFinished,
    InvocationStarted,
    TaskSpec,
    Transition,
    Usage,
)
from db.domain.states import CallKind, TaskKind, TaskStatus
from db.lifecycle import archive
from db.read.tasks import history
from db.write.recorder import Recorder
from tests.api_support import api_client, call
from tests.conftest import fresh_database_like

T0 = utcnow().replace(microsecond=0) - timedelta(hours=1)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def record_calls(recorder: Recorder) -> int:
    """A task with a call of each way a call ends: finished in a later batch than its start, started and
    finished in one batch, reported whole, still running, and given usage after its end."""
    task = recorder.submit(TaskSpec(title="calls", kind=TaskKind.EXTERNAL), actor="test")
    recorder.record(task, ClientTime(at(0)), Transition(TaskStatus.RUNNING))
    recorder.record(task, ClientTime(at(1)), InvocationStarted("later", model="m"))
    recorder.record(task, ClientTime(at(1)), InvocationStarted("late-usage", model="m"))
    recorder.record(task, ClientTime(at(1)), InvocationStarted("running", model="m"))
    recorder.record(
        task,
        ClientTime(at(2)),
        Usage(model="m", input_tokens=10, invocation_id="later"),
        InvocationFinished("later", response="ok"),
        InvocationStarted("one-batch", model="m"),
        ClientTime(at(3)),
        InvocationFinished("one-batch", ok=False, error="boom"),
        CallReported("whole", CallKind.TOOL, started_at=at(3), completed_at=at(4), name="read_file"),
        InvocationFinished("late-usage"),
    )
    recorder.record(task, ClientTime(at(5)), Usage(model="m", output_tokens=5, invocation_id="late-usage"))
    return task


# What every reader answers for record_calls' calls: a finished call's end where it stores none of its own.
LAST_ACTIVITY = {"later": at(2), "one-batch": at(3), "whole": at(4), "running": at(1), "late-usage": at(5)}


def stored(db: Database) -> dict[str, tuple[datetime | None, datetime | None]]:
    with db.reading() as s:
        rows = s.execute(select(Invocation.id, Invocation.completed_at, Invocation.last_activity_at))
        return {r.id: (r.completed_at, r.last_activity_at) for r in rows}


def moment(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=None)


def test_a_finished_call_stores_no_last_activity_and_the_apis_answer_its_end(
    svc: Services, recorder: Recorder, db: Database
) -> None:
    task = record_calls(recorder)
    rows = stored(db)
    for finished in ("later", "one-batch", "whole"):
        assert rows[finished][0] is not None and rows[finished][1] is None, finished
    assert rows["running"] == (None, at(1))
    assert rows["late-usage"] == (at(3), at(5))  # said something after its end: that time is kept

    expected = LAST_ACTIVITY
    client: FlaskClient = api_client(svc)
    tree = call(client, "GET", f"/tasks/{task}/calls")
    nodes = {n["id"]: n for n in tree["calls"]}
    assert {i: moment(n["last_activity_at"]) for i, n in nodes.items()} == expected
    for invocation_id, last in expected.items():
        for path in (f"/calls/{invocation_id}", f"/invocations/{invocation_id}"):
            answer = call(client, "GET", path)
            assert moment(answer["last_activity_at"]) == last, path
    assert moment(nodes["one-batch"]["completed_at"]) == at(3)


def test_a_tasks_calls_read_through_the_view_answer_a_finished_calls_end(
    recorder: Recorder, db: Database
) -> None:
    """The task's calls as db/read/tasks/history.calls reads them (the worker's tests and anything that wants
    them whole): through the declared view, so not the stored NULL (what the removed db/read/queries.py's
    task_invocations gave, reading the rows as the model)."""
    task = record_calls(recorder)
    with db.reading() as s:
        found = history.calls(s, task)
    assert {c["id"]: c["last_activity_at"] for c in found} == LAST_ACTIVITY
    starts = [c["started_at"] for c in found]
    assert starts == sorted(starts)  # by start
    assert {c["id"]: c["completed_at"] for c in found}["one-batch"] == at(3)


def test_migration_0020_clears_the_repeated_end_and_restores_it(recorder: Recorder, db: Database) -> None:
    task = record_calls(recorder)
    after = stored(db)
    downgrade(db, "0019")
    try:
        before = stored(db)
        # As the write path stored them before: a finished call's last activity is its end.
        assert before == {i: (end, end if last is None else last) for i, (end, last) in after.items()}
        with (
            db.writing() as s
        ):  # an older writer's row whose last activity came before its end stays as it is
            s.execute(update(Invocation).where(Invocation.id == "one-batch").values(last_activity_at=at(2.5)))
    finally:
        upgrade(db)
    again = stored(db)
    assert {i for i, (_, last) in again.items() if last is None} == {"later", "whole"}
    assert again == {**after, "one-batch": (at(3), at(2.5))}
    with db.reading() as s:
        assert s.scalar(text("SELECT count(*) FROM invocations WHERE task_id = :t"), {"t": task}) == 5


def test_the_archive_keeps_a_finished_calls_last_activity_and_an_import_stores_it_once(
    recorder: Recorder, db: Database, tmp_path: Path
) -> None:
    task = record_calls(recorder)
    recorder.record(task, Transition(TaskStatus.COMPLETED))
    with db.reading() as s:
        [item] = archive.records(s, [task])
    calls: dict[str, Any] = {c["id"]: c for c in item["calls"]}
    assert moment(calls["later"]["last_activity_at"]) == at(2)
    assert moment(calls["late-usage"]["last_activity_at"]) == at(5)
    [path] = archive.write(tmp_path / "archive", [item])
    with fresh_database_like(db, tmp_path) as fresh:
        with fresh.writing() as s:
            archive.load(s, list(archive.read(path)), archive.ImportResult())
        assert stored(fresh) == stored(db)
