"""Tests: the Schedules page's form and row actions on SQLite and PostgreSQL, through the page's functions (no
browser) — create and edit through ScheduleSpec, errors named at their field with nothing stored, pause /
resume / remove, each audited in the change's transaction with a `schedule` event for live pages, and the
refusal without a role."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from dashboard.components import schedule_form as form
from dashboard.pages.schedules import act, open_form, save
from dashboard.services import Services
from db.control import task_schedules
from db.core.models import AuditLog, TaskEvent, TaskSchedule
from db.domain.states import EventType


def text_of(component: object) -> str:
    return json.dumps(component.to_plotly_json(), default=lambda c: c.to_plotly_json())  # type: ignore[attr-defined]


def values(**changes: Any) -> dict[str, Any]:
    return {**form.blank(), "title": "sync", "command": "./sync.sh", "tags": "ops, nightly", **changes}


def stored(svc: Services) -> list[dict[str, Any]]:
    with svc.db.reading() as session:
        return task_schedules.list_all(session)


def audited(svc: Services) -> list[tuple[str, str, str]]:
    with svc.db.reading() as session:
        rows = session.execute(select(AuditLog.actor, AuditLog.action, AuditLog.target).order_by(AuditLog.id))
        return [tuple(r) for r in rows]  # type: ignore[misc]


def schedule_events(svc: Services) -> list[str]:
    with svc.db.reading() as session:
        rows = session.scalars(
            select(TaskEvent.payload)
            .where(TaskEvent.type == EventType.SCHEDULE.value)
            .order_by(TaskEvent.seq)
        )
        return [p["change"] for p in rows]


def test_create_edit_and_act(svc: Services) -> None:
    ok, alert, bad, _ = save(svc, None, values(args='{"full": true}', max_runs=12, end="2027-01-31T00:00"))
    assert ok and bad is None and "created" in text_of(alert)
    (row,) = stored(svc)
    assert row["name"] == "sync" and row["kind"] == "command" and row["tags"] == ["ops", "nightly"]
    assert row["payload"] == {"full": True, "command": "./sync.sh"} and row["cron"] == "*/5 * * * *"
    assert row["max_runs"] == 12 and row["end_at"].isoformat() == "2027-01-31T00:00:00" and row["enabled"]

    # The dialog opens filled in with what is stored, and saving it unchanged changes nothing but the time.
    heading, editing, shown = open_form(svc, row["id"])
    assert heading == f"Edit schedule #{row['id']}" and editing == row["id"]
    assert shown["command"] == "./sync.sh" and json.loads(shown["args"]) == {"full": True}
    assert form.build_spec(shown, "x").payload == row["payload"]

    # An edit of the trigger starts it from the edit: no catch-up of the new trigger's past fire times.
    ok, *_ = save(svc, row["id"], {**shown, "trigger": "interval", "interval": 90, "kind": "python",
                                   "callable": "worker.examples:count_to", "args": '{"n": 3}'})  # fmt: skip
    assert ok
    (edited,) = stored(svc)
    assert edited["interval_seconds"] == 90 and edited["cron"] is None
    assert edited["payload"] == {"n": 3, "callable": "worker.examples:count_to"}
    assert edited["enabled_at"] > row["enabled_at"] and edited["runs"] == 0

    assert "paused" in text_of(act(svc, "pause", row["id"]))
    assert not stored(svc)[0]["enabled"]
    assert "resumed" in text_of(act(svc, "resume", row["id"]))
    assert "removed" in text_of(act(svc, "remove", row["id"]))
    assert stored(svc) == []
    assert "already removed" in text_of(act(svc, "pause", row["id"]))
    target = f"schedule:{row['id']}"
    assert audited(svc) == [
        ("dashboard", "schedule.create", target),
        ("dashboard", "schedule.edit", target),
        ("dashboard", "schedule.pause", target),
        ("dashboard", "schedule.resume", target),
        ("dashboard", "schedule.remove", target),
    ]
    assert schedule_events(svc) == ["create", "edit", "pause", "resume", "remove"]


@pytest.mark.parametrize(
    ("changes", "key", "words"),
    [
        ({"cron": "61 * * * *"}, "cron", "not a valid cron expression"),
        ({"timezone": "Mars/Olympus"}, "timezone", "unknown time zone"),
        ({"args": "{nope"}, "args", "not JSON"),
        ({"command": ""}, "command", "needs a command"),
        ({"kind": "python", "callable": "nodots"}, "callable", "dotted path"),
        ({"trigger": "interval", "interval": None}, "interval", "interval in seconds"),
        ({"trigger": "interval", "interval": 0.5}, "interval", "at least 1"),
        ({"priority": 1.5}, "priority", "whole number"),
        ({"max_runs": 0}, "max_runs", "at least 1"),
        ({"end": "next tuesday"}, "end", "ISO 8601"),
        ({"title": " "}, "title", "must not be empty"),
    ],
)
def test_a_bad_value_is_named_at_its_field_and_nothing_is_saved(
    svc: Services, changes: dict[str, Any], key: str, words: str
) -> None:
    ok, alert, bad, message = save(svc, None, values(**changes))
    assert not ok and bad == key and words in str(message), (bad, message)
    assert "Nothing was saved" in text_of(alert)
    with svc.db.reading() as session:
        assert session.scalar(select(func.count()).select_from(TaskSchedule)) == 0
        assert session.scalar(select(func.count()).select_from(AuditLog)) == 0


def test_names_stay_unique_and_a_removed_schedule_cannot_be_edited(svc: Services) -> None:
    assert save(svc, None, values(title="a"))[0] and save(svc, None, values(title="b"))[0]
    first, second = stored(svc)
    ok, _, bad, message = save(svc, second["id"], {**form.values_of(second), "name": "a"})
    assert not ok and bad == "name" and "exists" in str(message)
    act(svc, "remove", first["id"])
    ok, alert, _, _ = save(svc, first["id"], form.values_of(first))
    assert not ok and "removed meanwhile" in text_of(alert)
    with pytest.raises(LookupError):
        open_form(svc, first["id"])


def test_without_a_role_nothing_changes(svc: Services) -> None:
    assert save(svc, None, values())[0]
    (row,) = stored(svc)
    locked = Services(svc.settings.with_(auth="on"), svc.db, svc.recorder, svc.feed)
    ok, alert, _, _ = save(locked, None, values(title="other"))
    assert not ok and "Sign in" in text_of(alert)
    assert "Sign in" in text_of(act(locked, "pause", row["id"]))
    assert "Sign in" in text_of(act(locked, "remove", row["id"]))
    assert [r["id"] for r in stored(svc)] == [row["id"]] and stored(svc)[0]["enabled"]
    assert len(audited(svc)) == 1


def test_paused_on_creation_and_next_runs_shown(svc: Services) -> None:
    from dashboard.pages.schedules import table

    assert save(svc, None, values(paused=["paused"]))[0]
    assert not stored(svc)[0]["enabled"]
    shown = text_of(table(svc))
    assert "paused" in shown and '"action": "resume"' in shown and '"action": "edit"' in shown
    assert save(svc, None, values(title="every", trigger="interval", interval=120))[0]
    assert "every 120 s" in text_of(table(svc))
