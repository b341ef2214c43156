"""Tests: the Agents page's fleet control on SQLite and PostgreSQL — the worker choices, drain / resume / stop
/ forget through the page's function (audited as the dashboard), and refusals shown, not raised."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dash_bootstrap_components as dbc
from sqlalchemy import select

from dashboard.fleet_control import (
    ACTIONS,
    NO_WORKERS,
    NOTE,
    UNKNOWN_WORKER,
    act,
    card,
    controls,
    options,
    unavailable,
)
from dashboard.services import Services
from db.core.models import AuditLog
from db.core.models import Worker as WorkerRow
from db.core.timeutil import utcnow
from db.write.celery_workers import CeleryWorkerEvent, apply_worker_events
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


def test_celery_worker_gets_forget_only(svc: Services) -> None:
    """On a Celery worker's page drain, resume and stop are hidden (they would do nothing: its own controls are
    the Celery card); picked on the Agents page, they are refused in words."""
    hidden = {b.id for b in _buttons(card("celery@h1")) if (b.style or {}).get("display") == "none"}
    assert hidden == {"fleet-control-drain", "fleet-control-resume", "fleet-control-stop"}
    assert "Celery controls" in text_of(card("celery@h1"))
    assert not any(b.style for b in _buttons(card("gpu-1")))
    now = utcnow()
    with svc.db.writing() as s:
        apply_worker_events(s, [CeleryWorkerEvent("online", "celery@h1", now, pid=7)], now=now)
    assert "is a Celery worker" in text_of(act(svc, "drain", "celery@h1"))


def _buttons(component: Any) -> list[Any]:
    found = [component] if isinstance(component, dbc.Button) else []
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if child is not None and not isinstance(child, str):
            found += _buttons(child)
    return found


def test_buttons_read_in_both_themes() -> None:
    """Drain was an outline "dark" button: #212529 on the dark theme's #212529 card, not to be seen. Every
    colour used has a dark-mode shade in assets/shell.css (axe checks both themes: test_accessibility.py)."""
    shell = (Path(__file__).resolve().parent.parent / "dashboard/assets/shell.css").read_text()
    for button in _buttons(card()) + _buttons(card("gpu-1")):
        assert button.color != "dark"
        assert f'[data-bs-theme="dark"] .btn-outline-{button.color}' in shell, button.color


def test_nothing_to_control_disables_with_a_reason(svc: Services, recorder: Recorder) -> None:
    """An empty fleet (Agents) or a worker page of an id the fleet does not hold: disabled, and why."""
    assert NOTE in text_of(card()) and NOTE in text_of(card("gone-1"))
    assert unavailable([o["value"] for o in options(svc)], None) == NO_WORKERS
    assert unavailable([], "gone-1") == UNKNOWN_WORKER  # a worker page on an empty fleet: its worker
    recorder.register_worker(WorkerIdentity("gpu-1", "gpu", "host", 1, 2))
    known = [o["value"] for o in options(svc)]
    assert unavailable(known, "gone-1") == UNKNOWN_WORKER
    assert unavailable(known, "gpu-1") is None
    assert unavailable(known, None) is None  # the Agents page: pick one, then act


def test_forget_is_disabled_with_a_reason_while_the_worker_is_online(
    svc: Services, recorder: Recorder
) -> None:
    """Forget was offered for an online worker (its page, or picked on the Agents page), and a click could
    only be refused: fleet.forget removes offline workers alone. Now it shows disabled, and the note says
    why; once the worker is offline it is enabled. The other buttons stay as they were."""
    recorder.register_worker(WorkerIdentity("gpu-1", "gpu", "host", 1, 2))
    picks, note, *disabled = controls(options(svc), "gpu-1")
    assert dict(zip(ACTIONS, disabled, strict=True)) == {
        "drain": False,
        "resume": False,
        "stop": False,
        "forget": True,
    }
    assert note == "Forget: only an offline worker can be forgotten; this one is online."
    assert picks == [{"label": "gpu · gpu-1 (online)", "value": "gpu-1"}]
    assert controls(options(svc), None)[1:] == (None, False, False, False, False)  # nothing chosen yet
    recorder.worker_stopped("gpu-1")
    assert controls(options(svc), "gpu-1")[1:] == (None, False, False, False, False)
    assert "forget: gpu-1" in text_of(act(svc, "forget", "gpu-1"))
    assert controls(options(svc), "gpu-1")[1:] == (UNKNOWN_WORKER, True, True, True, True)
