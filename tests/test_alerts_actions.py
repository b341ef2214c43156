"""Tests: alert automations on SQLite and PostgreSQL — cancel-and-retry of a stuck task (cancelled, then queued
again once the cancel landed, recorded on the alert and audited), a failing kind's claiming paused until the
alert is acknowledged, and a tag's queued tasks held back from claims."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text

from config import Settings
from db.access.audit import entries
from db.alerts import pauses as alert_pauses
from db.alerts.queries import get_alert
from db.alerts.rules import create_rule
from db.alerts.store import acknowledge
from db.core.timeutil import utcnow
from db.domain.ops import TaskSpec, Transition
from db.domain.states import TaskKind, TaskStatus
from db.read.tasks.detail import task_record
from db.write.claims import claim_batch, has_claimable
from db.write.recorder import Recorder
from tests.alert_support import reset_alerts
from worker.alerting import Evaluator


@pytest.fixture
def rec(recorder: Recorder) -> Recorder:
    reset_alerts(recorder.db)
    with recorder.db.write_engine.begin() as conn:  # only the rule under test speaks
        conn.execute(text("UPDATE alert_rules SET enabled = :f"), {"f": False})
    return recorder


def _rule(rec: Recorder, **values: object) -> None:
    with rec.transaction() as session:
        create_rule(session, values, utcnow())


def test_cancel_and_retry_a_stuck_task(rec: Recorder) -> None:
    _rule(rec, name="unstick", kind="stuck_task", threshold=1, actions=[{"type": "cancel_and_retry"}])
    task_id = rec.submit(TaskSpec(title="hangs", kind=TaskKind.COMMAND, payload={"command": "sleep 9"}))
    assert rec.claim("w-x", [TaskKind.COMMAND], 30.0) is not None
    evaluator = Evaluator(Settings(database_url="sqlite://"), rec, "alerts")
    (alert_id,) = evaluator.cycle(utcnow() + timedelta(seconds=3))
    with rec.db.reading() as session:
        task = task_record(session, task_id)
        assert task is not None and task.cancel_requested
        (action,) = get_alert(session, alert_id, utcnow())["actions_taken"]  # type: ignore[index]
    assert (action["type"], action["task_id"], action["retry"]) == ("cancel_and_retry", task_id, "pending")

    rec.record(
        task_id, Transition(TaskStatus.CANCELLED, reason="cancelled"), owner="w-x"
    )  # the worker stops it
    evaluator.cycle(utcnow() + timedelta(seconds=4))
    with rec.db.reading() as session:
        task = task_record(session, task_id)
        assert task is not None and (task.status, task.attempt) == ("queued", 2)
        alert = get_alert(session, alert_id, utcnow())
        assert alert is not None and alert["state"] == "resolved"
        assert alert["actions_taken"][0]["retry"] == "queued again (attempt 2)"
        assert [e.action for e in entries(session, action="alert.")] == ["alert.action"]


def test_failure_rate_pauses_its_kind_until_acknowledged(rec: Recorder) -> None:
    _rule(
        rec,
        name="python failing",
        kind="failure_rate",
        threshold=0.5,
        window_seconds=600,
        scope_kind="kind",
        scope_value="python",
        actions=[{"type": "pause_kind"}],
    )
    for i in range(5):
        task_id = rec.submit(TaskSpec(title=f"f{i}", kind=TaskKind.PYTHON, payload={"callable": "x:y"}))
        assert rec.claim("w-y", [TaskKind.PYTHON], 30.0) is not None
        rec.record(task_id, Transition(TaskStatus.FAILED, error="boom"), owner="w-y")
    rec.submit(TaskSpec(title="waits", kind=TaskKind.PYTHON, payload={"callable": "x:y"}))
    (alert_id,) = Evaluator(Settings(database_url="sqlite://"), rec, "alerts").cycle()
    with rec.db.reading() as session:
        assert alert_pauses.current(session).kinds == {"python"}
    # The workers' claim (db/write/claims.claim_within_limits) leaves the paused kind in the queue...
    assert rec.finish_and_claim([], "w-y", [TaskKind.PYTHON], 30.0, 4) == []
    with rec.transaction() as session:
        acknowledge(session, alert_id, "ops", "fixed the import", utcnow())
    with rec.db.reading() as session:
        assert alert_pauses.current(session).kinds == frozenset()
        assert has_claimable(session, [TaskKind.PYTHON])
    # ... until the alert is acknowledged.
    assert [t.title for t in rec.finish_and_claim([], "w-y", [TaskKind.PYTHON], 30.0, 4)] == ["waits"]


def test_paused_tag_is_not_claimed(rec: Recorder) -> None:
    held = rec.submit(TaskSpec(title="gpu", kind=TaskKind.DEMO, tags=("gpu",), priority=5))
    free = rec.submit(TaskSpec(title="cpu", kind=TaskKind.DEMO))
    # Paused tags are left out the way the claim leaves them out (skip_tags, from db/alerts/pauses.py).
    with rec.transaction() as session:
        claimed = claim_batch(session, "w-z", [TaskKind.DEMO], 30.0, 4, skip_tags={"gpu"})
    assert [t.id for t in claimed] == [free]
    again = rec.claim("w-z", [TaskKind.DEMO], 30.0)
    assert again is not None and again.id == held
