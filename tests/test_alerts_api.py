"""Tests: /api/v1/alerts on SQLite and PostgreSQL — listing with filters, one alert with its deliveries,
acknowledging (409 once resolved), rules CRUD with a 422 naming the field (across fields too), secrets in
channel URLs never shown, silences; and the `alert` events on the log that the websocket carries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from dashboard.services import Services
from db.core.models import TaskEvent
from db.core.timeutil import utcnow
from db.domain.ops import TaskSpec, Transition
from db.domain.states import EventType, TaskKind, TaskStatus
from tests.alert_support import reset_alerts
from tests.api_support import api_client, call
from worker.alerting import Evaluator


@pytest.fixture
def fired(svc: Services) -> tuple[Services, int, int]:
    """A stuck task and its firing alert (the evaluator run once, 5 s ahead of the clock)."""
    reset_alerts(svc.db)
    rec = svc.recorder
    task_id = rec.submit(TaskSpec(title="stuck one", kind=TaskKind.COMMAND, payload={"command": "sleep 9"}))
    assert rec.claim("w-api", [TaskKind.COMMAND], 30.0) is not None
    settings = svc.settings.with_(stuck_after_seconds=2, alert_webhook_url="http://127.0.0.1:9/x")
    (alert_id,) = Evaluator(settings, rec, "alerts").cycle(utcnow() + timedelta(seconds=5))
    return svc, task_id, alert_id


def test_list_filter_get_and_ack(fired: tuple[Services, int, int]) -> None:
    svc, task_id, alert_id = fired
    client = api_client(svc)
    page = call(client, "GET", "/alerts?state=firing&severity=high")
    assert [a["id"] for a in page["items"]] == [alert_id]
    item = page["items"][0]
    assert item["target"] == f"task:{task_id}" and item["rule_kind"] == "stuck_task"
    assert item["labels"]["task_id"] == task_id
    assert call(client, "GET", "/alerts?state=resolved")["items"] == []
    assert call(client, "GET", "/alerts?severity=low")["items"] == []
    assert call(client, "GET", f"/alerts?rule={item['rule_id']}")["items"][0]["id"] == alert_id
    call(client, "GET", "/alerts?state=nope", status=400)

    metrics = client.get("/api/v1/metrics").get_data(as_text=True)
    assert 'tasklens_alerts_firing{rule="Stuck task",severity="high"} 1.0' in metrics

    detail = call(client, "GET", f"/alerts/{alert_id}")
    assert [(n["event"], n["status"], n["channel"]) for n in detail["notifications"]] == [
        ("firing", "pending", "default-webhook")
    ]
    acked = call(client, "POST", f"/alerts/{alert_id}/ack", {"note": "on it"})
    assert acked["acknowledged_by"] == "api" and acked["ack_note"] == "on it"
    assert [a["note"] for a in acked["acks"]] == ["on it"]
    assert call(client, "GET", "/alerts?acknowledged=false")["items"] == []
    call(client, "POST", "/alerts/999999/ack", {}, status=404)

    svc.recorder.record(task_id, Transition(TaskStatus.CANCELLED, reason="cancelled"), owner="w-api")
    Evaluator(svc.settings, svc.recorder, "alerts").cycle(utcnow() + timedelta(seconds=6))
    err = call(client, "POST", f"/alerts/{alert_id}/ack", {}, status=409)
    assert err["error"]["code"] == "alert_resolved"
    with svc.db.reading() as session:
        changes = [
            e.payload["change"]
            for e in session.scalars(select(TaskEvent).where(TaskEvent.type == EventType.ALERT.value))
        ]
    assert changes == ["firing", "acknowledged", "resolved"]


def test_rules_crud_and_422_naming_the_field(svc: Services) -> None:
    reset_alerts(svc.db)
    client = api_client(svc)
    rules = call(client, "GET", "/alerts/rules")["items"]
    assert len(rules) == 8 and all(r["builtin"] for r in rules)
    body = {
        "name": "gpu queue",
        "kind": "queue_depth",
        "threshold": 10,
        "scope_kind": "tag",
        "scope_value": "gpu",
        "severity": "critical",
        "channels": [{"type": "slack", "url": "https://hooks.slack.com/services/T0/B0/secret"}],
    }
    created = call(client, "POST", "/alerts/rules", body, status=201)
    assert created["channels"] == [{"type": "slack", "url": "https://hooks.slack.com/…"}]  # no secret shown
    rule_id = created["id"]
    assert call(client, "GET", f"/alerts/rules/{rule_id}")["scope_value"] == "gpu"
    updated = call(client, "PUT", f"/alerts/rules/{rule_id}", {"threshold": 20, "enabled": False})
    assert (updated["threshold"], updated["enabled"], updated["severity"]) == (20.0, False, "critical")

    def field_of(method: str, path: str, payload: object) -> str:
        return str(call(client, method, path, payload, status=422)["error"]["details"]["field"])

    assert field_of("POST", "/alerts/rules", {**body, "name": "b", "severity": "loud"}) == "severity"
    assert field_of("POST", "/alerts/rules", {**body, "name": "b", "kind": "nope"}) == "kind"
    assert field_of("POST", "/alerts/rules", {"name": "c", "kind": "failure_rate"}) == "threshold"
    assert field_of("POST", "/alerts/rules", {**body, "name": "gpu queue"}) == "name"
    bad_channel = {**body, "name": "d", "channels": [{"type": "discord", "url": "ftp://x"}]}
    assert field_of("POST", "/alerts/rules", bad_channel) == "channels[0].url"
    assert field_of("PUT", f"/alerts/rules/{rule_id}", {"scope_kind": "worker"}) == "scope_kind"
    assert field_of("PUT", f"/alerts/rules/{rule_id}", {"window_seconds": -1}) == "window_seconds"
    call(client, "PUT", "/alerts/rules/999999", {"threshold": 1}, status=404)

    call(client, "DELETE", f"/alerts/rules/{rule_id}", status=204)
    call(client, "GET", f"/alerts/rules/{rule_id}", status=404)
    builtin = rules[0]["id"]
    call(client, "DELETE", f"/alerts/rules/{builtin}", status=204)  # a built-in rule is switched off
    assert call(client, "GET", f"/alerts/rules/{builtin}")["enabled"] is False


def test_silences(svc: Services) -> None:
    reset_alerts(svc.db)
    client = api_client(svc)
    made = call(
        client,
        "POST",
        "/alerts/silences",
        {"matchers": [{"name": "severity", "value": "low"}], "duration_seconds": 3600, "comment": "noisy"},
        status=201,
    )
    assert made["matchers"] == [{"name": "severity", "value": "low"}] and made["created_by"] == "api"
    assert [s["id"] for s in call(client, "GET", "/alerts/silences")["items"]] == [made["id"]]
    bad = {"matchers": [{"name": "colour", "value": "red"}], "duration_seconds": 60}
    err = call(client, "POST", "/alerts/silences", bad, status=422)
    assert err["error"]["details"]["field"] == "matchers[0].name"
    no_end = {"matchers": [{"name": "severity", "value": "low"}]}
    assert (
        call(client, "POST", "/alerts/silences", no_end, status=422)["error"]["details"]["field"] == "ends_at"
    )
    call(client, "DELETE", f"/alerts/silences/{made['id']}", status=204)
    assert call(client, "GET", "/alerts/silences")["items"] == []
    assert len(call(client, "GET", "/alerts/silences?expired=true")["items"]) == 1


def test_budgets_api(svc: Services) -> None:
    client = api_client(svc)
    assert call(client, "GET", "/budgets")["items"] == []
    body = {
        "name": "research",
        "period": "month",
        "limit_usd": 50,
        "scope_kind": "tag",
        "scope_value": "research",
    }
    made = call(client, "POST", "/budgets", body, status=201)
    assert (made["spent"], made["over"], made["scope_value"]) == (0.0, False, "research")
    assert [b["id"] for b in call(client, "GET", "/budgets")["items"]] == [made["id"]]
    err = call(client, "POST", "/budgets", {**body, "scope_value": None}, status=422)
    assert err["error"]["details"]["field"] == "scope_value"
    assert (
        call(client, "POST", "/budgets", {**body, "limit_usd": 0}, status=422)["error"]["details"]["field"]
        == "limit_usd"
    )
    # Below a cent spent / limit overflows to infinity, which JSON cannot carry (the fuzz found a null `used`).
    tiny = call(client, "POST", "/budgets", {**body, "limit_usd": 5e-324}, status=422)
    assert tiny["error"]["details"]["field"] == "limit_usd"
    call(client, "DELETE", f"/budgets/{made['id']}", status=204)
    call(client, "DELETE", f"/budgets/{made['id']}", status=404)
