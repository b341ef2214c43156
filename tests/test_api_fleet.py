"""Tests: /api/v1/workers/<id>/drain|resume|stop, DELETE /workers/<id> and /api/v1/limits on SQLite and
PostgreSQL — the claim honours a drain from the request's commit on, limits cap claims, every change audited."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from dashboard.services import Services
from db.core.engine import Database
from db.core.models import AuditLog
from db.core.models import Worker as WorkerRow
from db.core.timeutil import utcnow
from db.domain.ops import TaskSpec
from db.domain.states import TaskKind
from db.write.celery_workers import CeleryWorkerEvent, apply_worker_events
from db.write.recorder import Recorder
from db.write.workers import WorkerIdentity
from tests.api_support import api_client, call

KINDS = [TaskKind.COMMAND]


@pytest.fixture
def client(svc: Services) -> FlaskClient:
    return api_client(svc)


def register(recorder: Recorder, worker_id: str) -> None:
    recorder.register_worker(WorkerIdentity(worker_id, "w", "host", 1, 4))


def spec(*tags: str) -> TaskSpec:
    return TaskSpec(title="t", kind=TaskKind.COMMAND, payload={"command": "true"}, tags=tags)


def test_drain_resume_stop_forget(client: FlaskClient, db: Database, recorder: Recorder) -> None:
    register(recorder, "w-1")
    recorder.submit_many([spec(), spec()])
    assert call(client, "POST", "/workers/w-1/drain") == {"workers": ["w-1"], "control": "drain"}
    assert recorder.finish_and_claim([], "w-1", KINDS, 30, 2) == []  # the claim itself says no
    call(client, "POST", "/workers/w-1/resume")
    assert len(recorder.finish_and_claim([], "w-1", KINDS, 30, 1)) == 1
    assert recorder.heartbeat("w-1", []) is None
    call(client, "POST", "/workers/w-1/stop")
    assert recorder.heartbeat("w-1", []) == "stop"  # what the worker's heartbeat reads
    call(client, "DELETE", "/workers/w-1", status=409)  # still online
    recorder.worker_stopped("w-1")
    call(client, "DELETE", "/workers/w-1", status=204)
    call(client, "POST", "/workers/w-1/drain", status=404)
    with db.reading() as s:
        actions = s.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert actions == ["worker.drain", "worker.resume", "worker.stop", "worker.forget"]


def test_limits_cap_claims(client: FlaskClient, recorder: Recorder) -> None:
    register(recorder, "w-1")
    recorder.submit_many([spec("deploy") for _ in range(3)] + [spec("other") for _ in range(2)])
    limit = call(client, "PUT", "/limits/tag:deploy", {"max_running": 2})
    assert (limit["scope"], limit["value"], limit["max_running"], limit["running"]) == ("tag", "deploy", 2, 0)
    call(client, "PUT", "/limits/tag:deploy", {"max_running": 0}, status=422)
    call(client, "PUT", "/limits/colour:red", {"max_running": 1}, status=404)
    claimed = recorder.finish_and_claim([], "w-1", KINDS, 30, 10)
    assert sorted(t.tags for t in claimed) == [("deploy",), ("deploy",), ("other",), ("other",)]
    assert call(client, "GET", "/limits")["items"][0]["running"] == 2
    call(client, "DELETE", "/limits/tag:deploy", status=204)
    call(client, "DELETE", "/limits/tag:deploy", status=404)
    assert len(recorder.finish_and_claim([], "w-1", KINDS, 30, 10)) == 1


def test_celery_workers_are_refused_fleet_control(client: FlaskClient, db: Database) -> None:
    """Drain, resume and stop would set a row no Celery worker reads: a clear 409 naming its own controls, and
    nothing changed or audited. Forgetting it once offline still works."""
    now = utcnow()
    with db.writing() as s:
        apply_worker_events(s, [CeleryWorkerEvent("online", "celery@h1", now, pid=7)], now=now)
    for action in ("drain", "resume", "stop"):
        refused = call(client, "POST", f"/workers/celery@h1/{action}", status=409)["error"]
        assert refused["code"] == "celery_worker" and "Celery controls" in refused["message"]
        assert refused["details"]["workers"] == ["celery@h1"]
    with db.reading() as s:
        assert s.scalar(select(WorkerRow.control).where(WorkerRow.id == "celery@h1")) is None
        assert s.scalars(select(AuditLog.action)).all() == []
    with db.writing() as s:
        apply_worker_events(s, [CeleryWorkerEvent("offline", "celery@h1", now)], now=now)
    call(client, "DELETE", "/workers/celery@h1", status=204)
