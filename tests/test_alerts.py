"""Tests: alerting on real SQLite and PostgreSQL — built-in rules, the lifecycle (pending, firing, resolved,
deduplicated per target), its events on the log, the outbox written with each change, the evaluator's lease,
claims that hand each notification to one worker, and validation that names the field at fault."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import bindparam, select, text

from config import Settings
from db.alerts import outbox as alert_outbox
from db.alerts.rules import RuleError, create_rule, list_rules, update_rule, validate
from db.alerts.store import acknowledge
from db.control import leases
from db.core.engine import Database
from db.core.models import Alert, AlertNotification, TaskEvent
from db.core.timecol import UtcDateTime
from db.core.timeutil import utcnow
from db.domain.ops import TaskSpec, Transition
from db.domain.states import EventType, TaskKind, TaskStatus
from db.write.recorder import Recorder
from tests.alert_support import reset_alerts
from worker.alerting import Evaluator

HOOK = "http://127.0.0.1:9/hook"


@pytest.fixture
def rec(recorder: Recorder) -> Recorder:
    reset_alerts(recorder.db)
    return recorder


def _running_task(rec: Recorder, title: str = "sleeps") -> int:
    task_id = rec.submit(TaskSpec(title=title, kind=TaskKind.COMMAND, payload={"command": "sleep 60"}))
    claimed = rec.claim("w-test", [TaskKind.COMMAND], 30.0)
    assert claimed is not None and claimed.id == task_id
    return task_id


def _alerts(db: Database) -> list[Any]:
    with db.reading() as session:
        return list(session.execute(select(Alert.__table__).order_by(Alert.id)))


def _outbox(db: Database) -> list[Any]:
    with db.reading() as session:
        return list(session.execute(select(AlertNotification.__table__).order_by(AlertNotification.id)))


def test_fresh_database_has_the_builtin_rules(rec: Recorder) -> None:
    with rec.db.reading() as session:
        rules = list_rules(session)
    kinds = {r.kind for r in rules}
    assert {"stuck_task", "failure_rate", "queue_depth", "budget_used", "budget_projected"} <= kinds
    assert {"worker_offline", "cost_spike"} <= kinds
    assert all(r.enabled and r.builtin for r in rules)
    stuck = next(r for r in rules if r.kind == "stuck_task")
    assert stuck.threshold is None  # TASKLENS_STUCK_AFTER_SECONDS decides


def test_builtin_rules_match_the_migration() -> None:
    import importlib.util
    from pathlib import Path

    from db.alerts.rules import BUILTIN_RULES

    path = Path(__file__).resolve().parent.parent / "db" / "migrations" / "versions" / "0010_alerts.py"
    spec = importlib.util.spec_from_file_location("migration_0010", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.BUILTIN == BUILTIN_RULES


def test_stuck_task_fires_once_and_resolves_when_cancelled(rec: Recorder) -> None:
    settings = Settings(database_url="sqlite://", stuck_after_seconds=3, alert_webhook_url=HOOK)
    evaluator = Evaluator(settings, rec, actor="alerts")
    task_id = _running_task(rec)
    assert evaluator.cycle(utcnow()) == []  # not silent long enough yet
    later = utcnow() + timedelta(seconds=5)
    changed = evaluator.cycle(later)
    assert len(changed) == 1
    assert evaluator.cycle(later + timedelta(seconds=1)) == []  # deduplicated: still the one alert
    (alert,) = _alerts(rec.db)
    assert (alert.state, alert.target, alert.severity) == ("firing", f"task:{task_id}", "high")
    assert f"#{task_id}" in alert.summary
    (note,) = _outbox(rec.db)
    assert (note.event, note.channel, note.target) == ("firing", "default-webhook", {"url": HOOK})

    rec.record(task_id, Transition(TaskStatus.CANCELLED, reason="cancelled"), owner="w-test")
    assert evaluator.cycle(later + timedelta(seconds=2)) == [alert.id]
    (alert,) = _alerts(rec.db)
    assert alert.state == "resolved" and alert.open_key is None and alert.resolved_at is not None
    assert [n.event for n in _outbox(rec.db)] == ["firing", "resolved"]
    with rec.db.reading() as session:
        events = session.scalars(select(TaskEvent).where(TaskEvent.type == EventType.ALERT.value)).all()
    assert [e.payload["change"] for e in events] == ["firing", "resolved"]
    assert all(e.payload["alert_id"] == alert.id and e.task_id is None for e in events)


def test_pending_until_for_duration_and_quiet_resolution(rec: Recorder) -> None:
    with rec.transaction() as session:
        create_rule(
            session, {"name": "slow stuck", "kind": "stuck_task", "threshold": 1, "for_seconds": 60}, utcnow()
        )
        session.execute(
            text("UPDATE alert_rules SET enabled = :f WHERE builtin = :t"), {"f": False, "t": True}
        )
    evaluator = Evaluator(Settings(database_url="sqlite://", alert_webhook_url=HOOK), rec, actor="alerts")
    task_id = _running_task(rec)
    now = utcnow() + timedelta(seconds=2)
    evaluator.cycle(now)
    assert [a.state for a in _alerts(rec.db)] == ["pending"]
    assert _outbox(rec.db) == []  # a pending alert tells no one
    rec.record(task_id, Transition(TaskStatus.CANCELLED, reason="cancelled"), owner="w-test")
    evaluator.cycle(now + timedelta(seconds=1))
    assert [a.state for a in _alerts(rec.db)] == ["resolved"]
    assert _outbox(rec.db) == []  # and so neither does its resolution


def _silence_id(rec: Recorder) -> int:
    with rec.db.reading() as session:
        return int(session.execute(text("SELECT max(id) FROM alert_silences")).scalar_one())


def test_acknowledge_and_silence(rec: Recorder) -> None:
    from db.alerts.silences import create_silence, expire_silence

    evaluator = Evaluator(
        Settings(database_url="sqlite://", stuck_after_seconds=1, alert_webhook_url=HOOK), rec, "alerts"
    )
    now = utcnow()
    with rec.transaction() as session:
        create_silence(
            session,
            ["rule=Stuck task"],
            now - timedelta(seconds=1),
            now + timedelta(hours=1),
            created_by="t",
            now=now,
        )
    _running_task(rec)
    evaluator.cycle(now + timedelta(seconds=3))
    (alert,) = _alerts(rec.db)
    assert alert.state == "firing" and _outbox(rec.db) == []  # silenced: fires, sends nothing
    assert evaluator.cycle(now + timedelta(seconds=4)) == []  # and keeps quiet while the silence holds
    with rec.transaction() as session:
        expire_silence(session, _silence_id(rec), utcnow())
    assert evaluator.cycle(utcnow() + timedelta(seconds=5)) == [alert.id]  # the silence ended: told now
    assert [(n.event, n.round) for n in _outbox(rec.db)] == [("firing", 0)]
    with rec.transaction() as session:
        acknowledge(session, alert.id, "token:ops", "looking", utcnow())
    (alert,) = _alerts(rec.db)
    assert (alert.acknowledged_by, alert.ack_note) == ("token:ops", "looking")


def test_rule_validation_names_the_field(rec: Recorder) -> None:
    cases: dict[str, dict[str, Any]] = {
        "kind": {"name": "x", "kind": "nope"},
        "threshold": {"name": "x", "kind": "failure_rate", "threshold": 3},
        "severity": {"name": "x", "kind": "queue_depth", "threshold": 5, "severity": "loud"},
        "channels[0].url": {
            "name": "x",
            "kind": "queue_depth",
            "threshold": 5,
            "channels": [{"type": "slack"}],
        },
        "scope_kind": {
            "name": "x",
            "kind": "cost_spike",
            "threshold": 2,
            "window_seconds": 60,
            "scope_kind": "created_by",
        },
        "name": {"kind": "queue_depth", "threshold": 5},
        "pattern": {"name": "x", "kind": "queue_depth", "threshold": 5, "pattern": "oops"},
        "actions[0].type": {
            "name": "x",
            "kind": "queue_depth",
            "threshold": 5,
            "actions": [{"type": "cancel_task"}],
        },
    }
    for field, values in cases.items():
        with pytest.raises(RuleError) as err:
            validate(values)
        assert err.value.field == field, (field, err.value)
    with pytest.raises(RuleError) as err:  # a kind that needs a threshold, given none
        validate({"name": "x", "kind": "context_window", "window_seconds": 60})
    assert err.value.field == "threshold"
    with rec.transaction() as session, pytest.raises(RuleError) as err:
        create_rule(session, {"name": "Stuck task", "kind": "queue_depth", "threshold": 1}, utcnow())
    assert err.value.field == "name"
    with rec.transaction() as session:
        stuck = next(r for r in list_rules(session) if r.kind == "stuck_task")
        updated = update_rule(session, stuck.id, {"threshold": 120, "severity": "critical"}, utcnow())
    assert updated is not None and (updated.threshold, updated.severity) == (120.0, "critical")


def test_one_evaluator_lease_across_holders(rec: Recorder) -> None:
    now = utcnow()
    with rec.transaction() as session:
        assert leases.acquire(session, "alerts:evaluator", "a", now, 10)
    with rec.transaction() as session:
        assert not leases.acquire(session, "alerts:evaluator", "b", now, 10)
        assert leases.acquire(session, "alerts:evaluator", "a", now, 10)  # renewal
    with rec.transaction() as session:
        assert leases.acquire(session, "alerts:evaluator", "b", now + timedelta(seconds=11), 10)  # expired
    with rec.transaction() as session:
        leases.release(session, "alerts:evaluator", "b")  # a clean stop hands it over at once
        assert leases.acquire(session, "alerts:evaluator", "c", now + timedelta(seconds=12), 10)


def test_a_notification_is_claimed_by_one_worker(rec: Recorder) -> None:
    evaluator = Evaluator(
        Settings(database_url="sqlite://", stuck_after_seconds=1, alert_webhook_url=HOOK), rec, "alerts"
    )
    _running_task(rec)
    now = utcnow() + timedelta(seconds=3)
    evaluator.cycle(now)
    with rec.transaction() as session:
        first = alert_outbox.claim_due(session, "w1", now, 60)
    with rec.transaction() as session:
        second = alert_outbox.claim_due(session, "w2", now, 60)
    with rec.db.reading() as session:
        rules = [(r.name, r.enabled, r.threshold) for r in list_rules(session)]
    assert len(first) == 1 and second == [], (_alerts(rec.db), _outbox(rec.db), rules)
    with rec.transaction() as session:
        assert alert_outbox.mark_failed(session, first[0], "w1", "boom", now) == "pending"
    with rec.transaction() as session:  # not before its backoff
        assert alert_outbox.claim_due(session, "w2", now, 60) == []
    with rec.transaction() as session:
        again = alert_outbox.claim_due(
            session, "w2", now + timedelta(seconds=alert_outbox.backoff_seconds(1)), 60
        )
    assert again == first
    with rec.transaction() as session:
        assert not alert_outbox.mark_sent(session, first[0], "w1", now)  # w1 lost it
        assert alert_outbox.mark_sent(session, first[0], "w2", now)


def test_low_severity_goes_to_the_daily_digest_once(rec: Recorder) -> None:
    from tests.alert_support import receiver
    from worker.alert_digest import enqueue_digest
    from worker.alerting import AlertLoops

    with receiver() as hook:
        with rec.transaction() as session:
            create_rule(
                session,
                {
                    "name": "anything queued",
                    "kind": "queue_depth",
                    "threshold": 0,
                    "severity": "low",
                    "channels": [{"type": "slack", "url": hook.url + "/slack"}],
                },
                utcnow(),
            )
        settings = Settings(database_url="sqlite://", alert_webhook_url=hook.url + "/hook")
        rec.submit(TaskSpec(title="waiting", kind=TaskKind.DEMO))
        now = utcnow()
        Evaluator(settings, rec, "alerts").cycle(now)
        assert [a.state for a in _alerts(rec.db) if a.severity == "low"] == ["firing"]
        assert _outbox(rec.db) == []  # low: nothing sent one by one
        tomorrow = now + timedelta(days=1)
        assert enqueue_digest(rec, settings, tomorrow) == 2  # one outbox row per channel
        assert enqueue_digest(rec, settings, tomorrow) == 0  # once a day, however many try
        assert AlertLoops(settings, rec, rec.hub, "w1").deliver_due() == 2
        (digest,) = hook.bodies("/hook")
        assert (digest["event"], digest["count"], digest["alerts"][0]["rule"]) == (
            "digest",
            1,
            "anything queued",
        )
        (slack,) = hook.bodies("/slack")
        assert (
            "1 low-severity alert" in slack["text"]
            and "anything queued" in slack["blocks"][0]["text"]["text"]
        )


def test_digest_is_retried_after_a_failure_and_sent_once(rec: Recorder) -> None:
    """A channel answering 500 to the digest gets it on the outbox's retry, exactly once, recorded."""
    from tests.alert_support import receiver
    from tests.helpers import wait_until
    from worker.alerting import AlertLoops

    with receiver() as hook:
        with rec.transaction() as session:
            create_rule(
                session,
                {"name": "low queue", "kind": "queue_depth", "threshold": 0, "severity": "low"},
                utcnow(),
            )
        settings = Settings(database_url="sqlite://", alert_webhook_url=hook.url + "/hook")
        rec.submit(TaskSpec(title="waiting", kind=TaskKind.DEMO))
        now = utcnow()
        Evaluator(settings, rec, "alerts").cycle(now)
        hook.fail_next["/hook"] = 1  # down when the digest is due, up afterwards
        tomorrow = now + timedelta(days=1)
        for _ in range(2):  # two evaluators (as on two workers) find the digest due
            Evaluator(settings, rec, "alerts").cycle(tomorrow)
        loops = AlertLoops(settings, rec, rec.hub, "w-digest")
        loops.deliver_due()
        assert len(hook.refused) == 1 and hook.bodies("/hook") == []
        wait_until(  # the backoff passes, then the retry delivers it
            lambda: loops.deliver_due() or hook.bodies("/hook"), timeout=20, what="the digest's retry"
        )
        loops.deliver_due()
        (digest,) = hook.bodies("/hook")
        assert (digest["event"], digest["count"], digest["alerts"][0]["rule"]) == ("digest", 1, "low queue")
        (row,) = [n for n in _outbox(rec.db) if n.event == "digest"]
        assert (row.status, row.attempts, row.channel_type, row.last_error) == ("sent", 2, "webhook", None)


def test_repeat_while_firing_until_acknowledged(rec: Recorder) -> None:
    with rec.transaction() as session:
        create_rule(
            session,
            {"name": "loud stuck", "kind": "stuck_task", "threshold": 1, "repeat_seconds": 60},
            utcnow(),
        )
        session.execute(
            text("UPDATE alert_rules SET enabled = :f WHERE builtin = :t"), {"f": False, "t": True}
        )
    evaluator = Evaluator(Settings(database_url="sqlite://", alert_webhook_url=HOOK), rec, actor="alerts")
    _running_task(rec)
    now = utcnow() + timedelta(seconds=2)
    (alert_id,) = evaluator.cycle(now)
    assert evaluator.cycle(now + timedelta(seconds=30)) == []  # not yet
    assert evaluator.cycle(now + timedelta(seconds=61)) == [alert_id]
    assert [(n.event, n.round) for n in _outbox(rec.db)] == [("firing", 0), ("firing", 1)]
    with rec.transaction() as session:
        acknowledge(session, alert_id, "ops", "", utcnow())
    assert evaluator.cycle(now + timedelta(seconds=200)) == []  # acknowledged: no more repeats
    assert len(_outbox(rec.db)) == 2


def test_email_channel_through_a_real_smtp_server(rec: Recorder) -> None:
    from db.live.changefeed import Hub
    from tests.test_report_runs import Inbox
    from worker.alerting import AlertLoops

    inbox = Inbox()
    from aiosmtpd.controller import Controller

    from tests.helpers import free_port

    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with rec.transaction() as session:
            create_rule(
                session,
                {
                    "name": "mail me",
                    "kind": "stuck_task",
                    "threshold": 1,
                    "channels": [{"type": "email", "to": ["ops@example.com"]}],
                },
                utcnow(),
            )
        settings = Settings(
            database_url="sqlite://", smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False
        )
        task_id = _running_task(rec, "mailed")
        now = utcnow() + timedelta(seconds=2)
        Evaluator(settings, rec, "alerts").cycle(now)
        loops = AlertLoops(settings, rec, Hub(), "w-mail")
        assert loops.deliver_due() == 0  # due at `now`, two seconds ahead: not yet
        with rec.db.write_engine.begin() as conn:
            conn.execute(
                text("UPDATE alert_notifications SET next_attempt_at = :t").bindparams(
                    bindparam("t", type_=UtcDateTime())
                ),
                {"t": utcnow()},
            )
        assert loops.deliver_due() == 1
    finally:
        controller.stop()
    ((rcpt, message),) = inbox.received
    assert rcpt == ["ops@example.com"]
    assert message["Subject"].startswith("[FIRING · high] mail me")
    assert f"/tasks/{task_id}" in message.get_content()
