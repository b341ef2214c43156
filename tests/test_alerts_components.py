"""Tests: the alert components as pure functions (no browser) — the bell's count and colour, which pushes make
it re-count, the toasts for critical/high firings only, and the table's acknowledge button by role."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dashboard.alertbell import wants_recount
from dashboard.components.alerts import (
    SHOW_MS,
    alert_detail,
    alert_table,
    alert_toasts,
    bell,
    fired,
    still_up,
    target_label,
)


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
    events = [
        {"alert_id": 1, "change": "firing", "severity": "high", "summary": "stuck", "at": 0},
        {"alert_id": 2, "change": "firing", "severity": "low", "summary": "meh", "at": 0},
        {"alert_id": 3, "change": "resolved", "severity": "critical", "summary": "over", "at": 0},
        {"alert_id": 4, "change": "firing", "severity": "critical", "summary": "budget", "at": 0},
    ]
    toasts = alert_toasts(fired(events), 4000)
    assert [t.id for t in toasts] == ["alert-toast-1", "alert-toast-4"]
    assert toasts[1].icon == "danger"
    assert toasts[0].duration == SHOW_MS - 4000  # what is left of its time, not a fresh start


def test_a_burst_of_alerts_is_one_summary_and_closed_toasts_stay_closed() -> None:
    up = [
        {"alert_id": i, "change": "firing", "severity": "high", "summary": f"#{i}", "at": 0} for i in range(4)
    ]
    up[0]["severity"] = "critical"
    (summary,) = alert_toasts(up, 0)
    assert summary.header == "4 alerts fired" and summary.icon == "danger"
    assert "1 critical · 3 high" in _text(summary)
    drawn = [t.to_plotly_json() for t in alert_toasts(up[:2], 0)]
    drawn[0]["props"]["is_open"] = False  # dismissed in the browser
    assert [u["alert_id"] for u in still_up(up[:2], drawn, 1000)] == [1]
    assert still_up(up[:2], drawn, SHOW_MS) == []  # timed out


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


def test_a_scope_target_reads_without_a_dangling_colon() -> None:
    """A rule over all tasks has the target "scope:all:" (its identity in the database), shown as such: "all
    tasks" now, as the rule's description says it; a scope with a value reads "kind demo"."""
    row = {
        "id": 8,
        "rule": "Failure rate over 20%",
        "summary": "25% of 40 tasks failed",
        "severity": "high",
        "state": "firing",
        "target": "scope:all:",
        "labels": {},
        "pending_at": datetime(2026, 1, 1),
        "fired_at": datetime(2026, 1, 1),
        "acknowledged_at": None,
        "silenced_by": None,
    }
    shown = _text(alert_table([row], "firing", can_ack=True))
    assert "'all tasks'" in shown and "scope:all" not in shown
    assert target_label("scope:kind:demo") == "kind demo" and target_label("scope:tag:") == "tag"
    assert target_label("task:3") == "task:3" and target_label("budget:2:2026-12-01") == "budget:2:2026-12-01"
    detail = {**row, "notifications": [], "acks": [], "actions_taken": []}
    assert "Failure rate over 20% — all tasks" in _text(alert_detail(detail))
