"""Tests: the Agents page's fleet control on SQLite and PostgreSQL — the worker choices, drain / resume / stop
/ forget through the page's function (audited as the dashboard), and refusals shown, not raised."""

from __future__ import annotations

import json

from sqlalchemy import select

from dashboard.fleet_control import act, options
from dashboard.services import Services
from db.core.models import AuditLog
from db.core.models import Worker as WorkerRow
from db.write.recorder import Recorder
from db.write.workers import WorkerIdentity


def text_of(component: object) -> str:
    return json.dumps(component.to_plotly_json(), default=lambda c: c.to_plotly_json())  # type: ignore[attr-defined]


def test_choose_and_act(svc: Services, recorder: Recorder) -> None:
    recorder.register_worker(WorkerIdentity("gpu-1", "gpu", "host", 1, 2))
    assert [o["value"] for o in options(svc)] == ["gpu-1"]
    assert "Choose a worker" in text_of(act(svc, "drain", None))
    assert "drain: gpu-1" in text_of(act(svc, "drain", "gpu-1"))
    assert "(drain)" in options(svc)[0]["label"]
    assert "only offline workers" in text_of(act(svc, "forget", "gpu-1"))
    assert "resume: gpu-1" in text_of(act(svc, "resume", "gpu-1"))
    recorder.worker_stopped("gpu-1")
    assert "forget: gpu-1" in text_of(act(svc, "forget", "gpu-1"))
    assert "no worker" in text_of(act(svc, "forget", "gpu-1"))
    with svc.db.reading() as s:
        assert s.scalar(select(WorkerRow.id)) is None
        audited = s.execute(select(AuditLog.actor, AuditLog.action).order_by(AuditLog.id)).all()
    assert [tuple(a) for a in audited] == [
        ("dashboard", "worker.drain"),
        ("dashboard", "worker.resume"),
        ("dashboard", "worker.forget"),
    ]
