"""Tests: the alert components as pure functions (no browser) — the bell's count and colour, which pushes make
it re-count, the toasts for critical/high firings only, and the table's acknowledge button by role."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dashboard.alertbell import wants_recount
from dashboard.components.alerts import alert_detail, alert_table, alert_toasts, bell, fired


def _text(component: Any) -> str:
    return str(component.to_plotly_json())


def test_bell_counts_and_colours_by_worst_severity() -> None:
    quiet = bell({})
    assert quiet[1].children == "0" and quiet[1].color == "secondary"
    loud = bell({"medium": 2, "critical": 1})
    assert loud[1].children == "3" and loud[1].color == "danger"
    assert "3 firing alerts" in _text(loud[2])


def test_only_alert_pushes_recount() -> None:
    assert wants_recount(None)
    assert not wants_recount({"reason": "events", "alerts": [], "refresh": False})
    assert wants_recount({"reason": "events", "alerts": [{"alert_id": 1}]})
    assert wants_recount({"reason": "poll", "alerts": []})
    assert wants_recount({"reason": "events", "alerts": [], "refresh": True})


def test_toasts_for_new_critical_and_high_only() -> None:
    signal = {
        "alerts": [
            {"alert_id": 1, "change": "firing", "severity": "high", "summary": "stuck"},
            {"alert_id": 2, "change": "firing", "severity": "low", "summary": "meh"},
            {"alert_id": 3, "change": "resolved", "severity": "critical", "summary": "over"},
            {"alert_id": 4, "change": "firing", "severity": "critical", "summary": "budget"},
        ]
    }
    toasts = alert_toasts(fired(signal))
    assert [t.id for t in toasts] == ["alert-toast-1", "alert-toast-4"]
    assert toasts[1].icon == "danger"


def test_table_offers_acknowledge_to_operators_only() -> None:
    row = {
        "id": 7,
        "rule": "Stuck task",
        "summary": "Task #3 silent",
        "severity": "high",
        "state": "firing",
        "target": "task:3",
        "labels": {"task_id": 3},
        "pending_at": datetime(2026, 1, 1),
        "fired_at": datetime(2026, 1, 1),
        "acknowledged_at": None,
        "silenced_by": None,
        "actions_taken": [{"type": "cancel_task", "outcome": "cancel requested"}],
    }
    assert "'alert-ack'" in _text(alert_table([row], "firing", can_ack=True))
    shown = _text(alert_table([row], "firing", can_ack=False))
    assert "'alert-ack'" not in shown and "cancel_task: cancel requested" in shown
    assert "No history alerts" in _text(alert_table([], "history", can_ack=True))


def test_detail_lists_each_channel_delivery() -> None:
    alert = {
        "id": 3,
        "rule": "Stuck task",
        "target": "task:9",
        "severity": "high",
        "summary": "Task #9 silent",
        "pending_at": datetime(2026, 1, 1),
        "fired_at": datetime(2026, 1, 1),
        "notifications": [
            {"channel_type": "slack", "event": "firing", "round": 0, "status": "sent", "attempts": 1,
             "sent_at": datetime(2026, 1, 1), "last_error": None},
            {"channel_type": "webhook", "event": "firing", "round": 0, "status": "pending", "attempts": 2,
             "sent_at": None, "last_error": "the webhook answered HTTP 500"},
        ],
        "acks": [{"actor": "cli", "note": ""}],
        "actions_taken": [],
    }  # fmt: skip
    shown = _text(alert_detail(alert))
    assert "the webhook answered HTTP 500" in shown and "'slack'" in shown and "cli: (no note)" in shown
    assert alert_detail(None) == ""
