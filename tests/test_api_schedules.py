"""Tests: /api/v1/schedules on SQLite and PostgreSQL — create (a bad cron or time zone is a 422 naming the
field, a taken name a 409, nothing stored), list with next fire times, one schedule with its recent tasks,
pause, resume and delete, each change audited."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from dashboard.services import Services
from db.control.schedule_fire import enqueue_due
from db.core.engine import Database
from db.core.models import AuditLog
from db.core.timeutil import utcnow
from db.write.recorder import Recorder
from tests.api_support import api_client, call, row_counts


@pytest.fixture
def client(svc: Services) -> FlaskClient:
    return api_client(svc)


def body(**fields: Any) -> dict[str, Any]:
    return {"name": "nightly", "title": "build", "kind": "command", "payload": {"command": "make"}, **fields}


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"cron": "0 25 * * *"}, "cron"),
        ({"cron": "0 2 * * *", "timezone": "Europe/Atlantis"}, "timezone"),
        ({}, "cron"),  # no trigger at all
        ({"interval_seconds": 0.5}, "interval_seconds"),
        ({"cron": "0 2 * * *", "catch_up": "every"}, "catch_up"),
        ({"cron": "0 2 * * *", "payload": {}}, "payload.command"),
    ],
)
def test_bad_schedules_are_refused_naming_the_field(
    client: FlaskClient, db: Database, fields: dict[str, Any], field: str
) -> None:
    before = row_counts(db)
    out = call(client, "POST", "/schedules", body(**fields), status=422)
    assert out["error"]["details"]["field"] == field
    assert row_counts(db) == before


def test_create_list_pause_resume_delete(client: FlaskClient, db: Database, recorder: Recorder) -> None:
    made = call(client, "POST", "/schedules", body(cron="30 6 * * *", timezone="Europe/Berlin"), status=201)
    assert made["enabled"] and made["next_fire_at"].endswith("Z") and made["recent_runs"] == []
    call(client, "POST", "/schedules", body(cron="* * * * *"), status=409)
    every = call(client, "POST", "/schedules", body(name="tick", interval_seconds=60), status=201)
    with recorder.transaction() as session:  # a worker's job, a minute and a bit later
        (task_id,) = enqueue_due(session, utcnow() + timedelta(seconds=61))
    shown = call(client, "GET", f"/schedules/{every['id']}")
    assert [r["task_id"] for r in shown["recent_runs"]] == [task_id]
    assert shown["runs"] == 1 and shown["recent_runs"][0]["status"] == "queued"
    assert [s["name"] for s in call(client, "GET", "/schedules")["items"]] == ["nightly", "tick"]
    paused = call(client, "POST", f"/schedules/{made['id']}/pause")
    assert not paused["enabled"] and paused["next_fire_at"] is None
    assert call(client, "POST", f"/schedules/{made['id']}/resume")["enabled"]
    call(client, "DELETE", f"/schedules/{made['id']}", status=204)
    call(client, "GET", f"/schedules/{made['id']}", status=404)
    call(client, "POST", f"/schedules/{made['id']}/pause", status=404)
    with db.reading() as s:
        audited = s.execute(select(AuditLog.action, AuditLog.target).order_by(AuditLog.id)).all()
    sid = made["id"]
    assert [tuple(a) for a in audited] == [
        ("schedule.create", f"schedule:{sid}"),
        ("schedule.create", f"schedule:{every['id']}"),
        ("schedule.pause", f"schedule:{sid}"),
        ("schedule.resume", f"schedule:{sid}"),
        ("schedule.remove", f"schedule:{sid}"),
    ]


def test_replace_a_schedule(client: FlaskClient, db: Database) -> None:
    """PUT checks as POST does and keeps runs and the on/off state; a bad field stores nothing; audited."""
    made = call(client, "POST", "/schedules", body(cron="30 6 * * *"), status=201)
    call(client, "POST", f"/schedules/{made['id']}/pause")
    before = row_counts(db)
    out = call(
        client, "PUT", f"/schedules/{made['id']}", body(cron="0 2 * * *", timezone="Mars/Base"), status=422
    )
    assert out["error"]["details"]["field"] == "timezone" and row_counts(db) == before
    call(client, "PUT", "/schedules/999", body(cron="0 2 * * *"), status=404)
    call(client, "POST", "/schedules", body(name="other", interval_seconds=60), status=201)
    call(client, "PUT", f"/schedules/{made['id']}", body(name="other", cron="0 2 * * *"), status=409)
    edited = call(client, "PUT", f"/schedules/{made['id']}", body(title="rebuild", interval_seconds=300))
    assert edited["title"] == "rebuild" and edited["interval_seconds"] == 300 and edited["cron"] is None
    assert not edited["enabled"] and edited["runs"] == 0
    with db.reading() as session:
        actions = session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert actions[-1] == "schedule.edit" and actions.count("schedule.edit") == 1
