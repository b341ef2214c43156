"""Tests: the Schedules page's table on SQLite and PostgreSQL — next run, runs, the latest task's outcome —
and the empty state, by calling the page function directly (no browser)."""

from __future__ import annotations

import json
from datetime import timedelta

from dashboard.pages.schedules import table
from dashboard.services import Services
from db.control.schedule_fire import enqueue_due
from db.control.task_schedules import ScheduleSpec, create
from db.core.timeutil import utcnow
from db.domain.states import TaskKind
from db.write.recorder import Recorder


def text_of(component: object) -> str:
    return json.dumps(component.to_plotly_json(), default=lambda c: c.to_plotly_json())  # type: ignore[attr-defined]


def test_the_table_shows_next_and_latest_runs(svc: Services, recorder: Recorder) -> None:
    assert "No schedules yet" in text_of(table(svc))
    now = utcnow()
    with svc.db.writing() as session:
        create(
            session,
            ScheduleSpec(
                name="beat",
                title="heartbeat",
                kind=TaskKind.COMMAND,
                payload={"command": "true"},
                interval_seconds=60,
            ),
            now,
        )
        create(
            session,
            ScheduleSpec(
                name="nightly",
                title="build",
                kind=TaskKind.COMMAND,
                payload={"command": "make"},
                cron="0 2 * * *",
                timezone="Europe/Berlin",
                enabled=False,
            ),
            now,
        )
    with recorder.transaction() as session:
        (task_id,) = enqueue_due(session, now + timedelta(seconds=61))
    shown = text_of(table(svc))
    assert "beat" in shown and "every 60 s" in shown and f"/tasks/{task_id}" in shown and "queued" in shown
    assert "cron 0 2 * * * (Europe/Berlin)" in shown and "paused" in shown
