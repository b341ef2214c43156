"""Tests: `python app.py alerts list|rules|ack|silence|unsilence` as real subprocesses (SQLite; see below)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from config import Settings
from db.access.audit import entries
from db.alerts.queries import get_alert
from db.core.timeutil import utcnow
from db.domain.ops import TaskSpec
from db.domain.states import TaskKind
from db.write.recorder import Recorder
from tests.alert_support import reset_alerts
from tests.helpers import run_cli
from worker.alerting import Evaluator

pytestmark = pytest.mark.slow


# SQLite only: the CLI and the evaluator read and write through the same functions on both databases, which
# tests/test_alerts*.py run on PostgreSQL too (its worker processes in test_alerts_fleet.py); this keeps the
# issue's tests near a minute.
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_list_ack_silence_unsilence(recorder: Recorder, db_url: str) -> None:
    reset_alerts(recorder.db)
    recorder.submit(TaskSpec(title="cli stuck", kind=TaskKind.COMMAND, payload={"command": "sleep 9"}))
    assert recorder.claim("w-cli", [TaskKind.COMMAND], 30.0) is not None
    settings = Settings(database_url=db_url, stuck_after_seconds=1)
    (alert_id,) = Evaluator(settings, recorder, "alerts").cycle(utcnow() + timedelta(seconds=3))

    listed = run_cli("alerts", "list", "--db", db_url)
    assert listed.returncode == 0, listed.stderr
    assert "firing" in listed.stdout and "cli stuck" in listed.stdout
    as_json = json.loads(run_cli("alerts", "list", "--json", "--db", db_url).stdout)
    assert [a["id"] for a in as_json] == [alert_id]

    acked = run_cli("alerts", "ack", str(alert_id), "--note", "mine", "--db", db_url)
    assert acked.returncode == 0, acked.stderr
    with recorder.db.reading() as session:
        alert = get_alert(session, alert_id, utcnow())
        assert alert is not None and (alert["acknowledged_by"], alert["ack_note"]) == ("cli", "mine")
    missing = run_cli("alerts", "ack", "999999", "--db", db_url)
    assert missing.returncode == 1 and "999999" in missing.stderr and "Traceback" not in missing.stderr

    made = run_cli("alerts", "silence", "severity=low", "rule=Cost spike", "--hours", "1", "--db", db_url)
    assert made.returncode == 0, made.stderr
    silence_id = made.stdout.split()[1].rstrip(":")
    bad = run_cli("alerts", "silence", "colour=red", "--db", db_url)
    assert bad.returncode == 1 and "matchers[0].name" in bad.stderr
    from io import StringIO

    from cli import alerts as alert_cli

    listing = StringIO()
    alert_cli.rules(recorder, listing)  # the same function `alerts rules` runs
    assert "stuck_task" in listing.getvalue() and "default" in listing.getvalue()
    ended = run_cli("alerts", "unsilence", silence_id, "--db", db_url)
    assert ended.returncode == 0, ended.stderr
    with recorder.db.reading() as session:
        actions = [e.action for e in entries(session)]
    assert {"alert.ack", "alert.silence", "alert.unsilence"} <= set(actions)
