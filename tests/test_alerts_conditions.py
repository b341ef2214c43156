"""Tests: each built-in rule kind's condition on SQLite and PostgreSQL — queue depth over its threshold, a budget
crossing 80 % and 100 % (spend from recorded usage), a worker that lost its heartbeat (not one that stopped
cleanly), a failure rate from real task outcomes, a failed task of a scope — firing through the evaluator."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import bindparam, text, update

from config import Settings
from db.alerts.conditions import queue_depth, workers_offline
from db.alerts.rules import create_rule, list_rules
from db.analytics import budgets
from db.core.models import Worker
from db.core.timecol import UtcDateTime
from db.core.timeutil import utcnow
from db.domain.ops import InvocationFinished, InvocationStarted, TaskSpec, Transition, Usage
from db.domain.states import TaskKind, TaskStatus
from db.write.recorder import Recorder
from db.write.workers import WorkerIdentity
from tests.alert_support import reset_alerts
from worker.alerting import Evaluator


@pytest.fixture
def rec(recorder: Recorder) -> Recorder:
    reset_alerts(recorder.db)
    return recorder


def _rule(rec: Recorder, kind: str) -> object:
    with rec.db.reading() as session:
        return next(r for r in list_rules(session) if r.kind == kind)


def _fired(rec: Recorder, now: object = None) -> dict[str, list[str]]:
    Evaluator(Settings(database_url="sqlite://"), rec, "alerts").cycle(now)  # type: ignore[arg-type]
    with rec.db.reading() as session:
        rows = session.execute(
            text(
                "SELECT r.name, a.target FROM alerts a JOIN alert_rules r ON r.id = a.rule_id WHERE a.state = 'firing'"
            )
        )
        out: dict[str, list[str]] = {}
        for name, target in rows:
            out.setdefault(name, []).append(target)
    return out


def test_queue_depth_counts_only_to_the_threshold(rec: Recorder) -> None:
    with rec.transaction() as session:
        rule = create_rule(session, {"name": "q", "kind": "queue_depth", "threshold": 2}, utcnow())
    rec.submit_many([TaskSpec(title=f"q{i}", kind=TaskKind.DEMO) for i in range(3)])
    with rec.db.reading() as session:
        (finding,) = queue_depth(session, rule, utcnow())
    assert finding.value == 3.0 and finding.target == "scope:all:"
    assert "q" in _fired(rec)


def test_budget_crossings(rec: Recorder) -> None:
    with rec.db.writing() as session:
        budgets.add_budget(session, "team", "month", 10.0, "tag", "team")
    task_id = rec.submit(TaskSpec(title="spender", kind=TaskKind.EXTERNAL, tags=("team",)))
    rec.record(task_id, Transition(TaskStatus.RUNNING))
    rec.record(
        task_id, InvocationStarted("c1", model="m"), Usage(model="m", cost_usd=8.5, invocation_id="c1")
    )
    rec.record(task_id, InvocationFinished("c1"))
    fired = _fired(rec)
    assert "Budget 80% used" in fired and "Budget exceeded" not in fired
    assert fired["Budget 80% used"][0].startswith("budget:")
    rec.record(
        task_id, InvocationStarted("c2", model="m"), Usage(model="m", cost_usd=2.0, invocation_id="c2")
    )
    evaluator = Evaluator(Settings(database_url="sqlite://"), rec, "alerts")
    evaluator.cycle()
    fired = _fired(rec)
    assert {"Budget 80% used", "Budget exceeded"} <= set(fired)


def test_worker_offline_only_when_its_heartbeat_was_lost(rec: Recorder) -> None:
    for name in ("lost", "stopped"):
        rec.register_worker(WorkerIdentity(id=name, name=name, host="h", pid=1, concurrency=1))
    rec.worker_stopped("stopped")  # a clean stop
    with rec.db.writing() as session:
        session.execute(
            update(Worker).where(Worker.id == "lost").values(last_seen_at=utcnow() - timedelta(minutes=5))
        )
    assert rec.mark_silent_workers(timedelta(seconds=30)) == ["lost"]
    rule = _rule(rec, "worker_offline")
    with rec.db.reading() as session:
        found = workers_offline(session, rule, utcnow(), lease_seconds=15)  # type: ignore[arg-type]
    assert [f.target for f in found] == ["worker:lost"]
    assert _fired(rec)["Worker offline"] == ["worker:lost"]


def test_failure_rate_and_failed_task_of_a_kind(rec: Recorder) -> None:
    with rec.transaction() as session:
        create_rule(
            session,
            {
                "name": "python failed",
                "kind": "task_failed",
                "window_seconds": 600,
                "scope_kind": "kind",
                "scope_value": "python",
            },
            utcnow(),
        )
        create_rule(
            session,
            {"name": "boom pattern", "kind": "task_failed", "window_seconds": 600, "pattern": "BOOM"},
            utcnow(),
        )
        create_rule(
            session,
            {"name": "oom pattern", "kind": "task_failed", "window_seconds": 600, "pattern": "oom k"},
            utcnow(),
        )
    failed = []
    for i in range(6):
        task_id = rec.submit(TaskSpec(title=f"t{i}", kind=TaskKind.PYTHON, payload={"callable": "x:y"}))
        assert rec.claim("w", [TaskKind.PYTHON], 30.0) is not None
        status = TaskStatus.FAILED if i < 2 else TaskStatus.COMPLETED
        rec.record(task_id, Transition(status, error="boom" if i < 2 else None), owner="w")
        if i < 2:
            failed.append(f"task:{task_id}")
    # 2 of 6 failed = 33 % > 20 %; the built-in waits 60 s pending before it fires.
    _fired(rec)
    fired = _fired(rec, utcnow() + timedelta(seconds=61))
    assert fired["Failure rate over 20%"] == ["scope:all:"]
    assert sorted(fired["python failed"]) == sorted(failed)
    assert sorted(fired["boom pattern"]) == sorted(failed) and "oom pattern" not in fired


def test_report_has_the_alerts_of_its_period(rec: Recorder) -> None:
    from db.alerts.store import acknowledge
    from reports.build import build_report
    from reports.period import PeriodKind, period_for
    from reports.render_html import render_html
    from reports.render_json import as_dict

    task_id = rec.submit(TaskSpec(title="r", kind=TaskKind.COMMAND, payload={"command": "sleep 9"}))
    assert rec.claim("w", [TaskKind.COMMAND], 30.0) is not None
    now = utcnow()
    evaluator = Evaluator(Settings(database_url="sqlite://", stuck_after_seconds=1), rec, "alerts")
    (alert_id,) = evaluator.cycle(now + timedelta(seconds=2))
    with rec.transaction() as session:
        acknowledge(session, alert_id, "ops", "", now + timedelta(seconds=12))
    rec.record(task_id, Transition(TaskStatus.CANCELLED), owner="w")
    evaluator.cycle(now + timedelta(seconds=32))
    period = period_for(PeriodKind.DAILY, now + timedelta(days=1))  # today, complete
    with rec.db.reading() as session:
        report = build_report(session, period, now=now + timedelta(days=1))
    alerting = as_dict(report)["alerting"]
    assert (alerting["fired"], alerting["acknowledged"], alerting["resolved"]) == (1, 1, 1)
    assert alerting["mean_ack_s"] == pytest.approx(10, abs=0.01)
    assert alerting["mean_resolve_s"] == pytest.approx(30, abs=0.01)
    assert alerting["noisiest"] == [{"rule": "Stuck task", "severity": "high", "fired": 1}]
    assert "Alerts in this period" in render_html(report).decode()


def _calls(
    rec: Recorder, model: str, costs: list[float], seconds_ago: float = 0, duration: float = 1
) -> None:
    """Calls of one task with their costs, started `seconds_ago` and lasting `duration` seconds."""
    task_id = rec.submit(TaskSpec(title=f"calls {model}", kind=TaskKind.EXTERNAL))
    rec.record(task_id, Transition(TaskStatus.RUNNING))
    for i, cost in enumerate(costs):
        call = f"{model}-{seconds_ago}-{i}"
        rec.record(
            task_id,
            InvocationStarted(call, model=model),
            Usage(model=model, cost_usd=cost, invocation_id=call),
        )
        rec.record(task_id, InvocationFinished(call))
    start = utcnow() - timedelta(seconds=seconds_ago)
    with rec.db.write_engine.begin() as conn:
        conn.execute(
            text("UPDATE invocations SET started_at = :s, completed_at = :e WHERE task_id = :t").bindparams(
                bindparam("s", type_=UtcDateTime()), bindparam("e", type_=UtcDateTime())
            ),
            {"s": start, "e": start + timedelta(seconds=duration), "t": task_id},
        )


def test_cost_spike_of_a_model_and_slow_calls(rec: Recorder) -> None:
    with rec.transaction() as session:
        create_rule(
            session,
            {
                "name": "gpt spike",
                "kind": "cost_spike",
                "threshold": 2,
                "window_seconds": 3600,
                "scope_kind": "model",
                "scope_value": "gpt",
            },
            utcnow(),
        )
        create_rule(
            session,
            {"name": "slow calls", "kind": "response_time", "threshold": 5, "window_seconds": 600},
            utcnow(),
        )
    _calls(rec, "gpt", [1.0] * 7, seconds_ago=3 * 86400)  # $7 over the week before: $0.04 an hour is normal
    _calls(rec, "other", [50.0], seconds_ago=60)  # another model's spend does not count
    assert "gpt spike" not in _fired(rec)
    _calls(rec, "gpt", [0.5], seconds_ago=60, duration=9)
    fired = _fired(rec)
    assert fired["gpt spike"] == ["scope:model:gpt"]
    assert "slow calls" not in fired  # two recent calls: too few to judge
    _calls(rec, "claude", [0.0] * 5, seconds_ago=30, duration=12)
    assert _fired(rec)["slow calls"] == ["scope:all:"]


def test_workers_unavailable(rec: Recorder) -> None:
    with rec.transaction() as session:
        create_rule(
            session,
            {
                "name": "half the fleet",
                "kind": "workers_unavailable",
                "threshold": 0.5,
                "window_seconds": 3600,
            },
            utcnow(),
        )
    for name in ("a", "b", "c"):
        rec.register_worker(WorkerIdentity(id=name, name=name, host="h", pid=1, concurrency=1))
    rec.worker_stopped("a")
    assert "half the fleet" not in _fired(rec)
    rec.worker_stopped("b")
    assert _fired(rec)["half the fleet"] == ["scope:all:"]


def test_context_window_over_80_percent(rec: Recorder) -> None:
    with rec.transaction() as session:
        create_rule(
            session,
            {"name": "context", "kind": "context_window", "threshold": 0.8, "window_seconds": 600},
            utcnow(),
        )
    task_id = rec.submit(TaskSpec(title="long prompt", kind=TaskKind.EXTERNAL))
    rec.record(task_id, Transition(TaskStatus.RUNNING))
    small = Usage(model="claude-sonnet-4-5", input_tokens=100_000, invocation_id="c1")
    rec.record(task_id, InvocationStarted("c1", model="claude-sonnet-4-5"), small)
    assert "context" not in _fired(rec)  # 50 %
    full = Usage(
        model="claude-sonnet-4-5", input_tokens=150_000, cache_read_tokens=20_000, invocation_id="c2"
    )
    rec.record(task_id, InvocationStarted("c2", model="claude-sonnet-4-5"), full)
    assert _fired(rec)["context"] == [f"task:{task_id}"]  # 85 %


def test_broker_queue_depth_fires_per_queue_on_fresh_measurements(rec: Recorder) -> None:
    """The Celery source's measurements (db/read/broker_queues): a queue over the threshold fires, one under it or a
    measurement older than five minutes does not."""
    from db.read import broker_queues

    with rec.transaction() as session:
        create_rule(session, {"name": "backlog", "kind": "broker_queue_depth", "threshold": 100}, utcnow())
        broker_queues.record(
            session, "redis://h/0", [("celery", 50), ("bulk", 500), ("gone", None)], utcnow()
        )
        broker_queues.record(session, "amqp://h//", [("old", 900)], utcnow() - timedelta(minutes=10))
    assert _fired(rec)["backlog"] == ["queue:bulk@redis://h/0"]
