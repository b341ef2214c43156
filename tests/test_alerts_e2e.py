"""Tests: the issue's "done when", as a new user tries it — `python app.py` (web + worker, a real subprocess)
with TASKLENS_STUCK_AFTER_SECONDS=3 and TASKLENS_ALERT_WEBHOOK_URL pointing at a local HTTP server, a command
task that sleeps silently: one "firing" POST naming the task within seconds, one "resolved" POST once the task
is cancelled. On SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.alert_support import receiver, reset_alerts
from tests.helpers import APP, REPO_ROOT, clean_env, free_port, run_cli, stop_process, wait_until

pytestmark = pytest.mark.slow


def test_stuck_command_task_posts_firing_then_resolved(db_url: str, tmp_path: Path) -> None:
    from db.core.engine import open_database

    db = open_database(db_url)
    reset_alerts(db)
    db.dispose()
    with receiver() as hook:
        env = clean_env(
            TASKLENS_STUCK_AFTER_SECONDS="3",
            TASKLENS_ALERT_WEBHOOK_URL=hook.url + "/alerts",
            TASKLENS_DATA_DIR=str(tmp_path),
            TASKLENS_HEARTBEAT_SECONDS="0.5",
        )
        log = (tmp_path / "app.log").open("wb")
        app = subprocess.Popen(
            [sys.executable, APP, "--db", db_url, "--port", str(free_port())],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            submitted = run_cli(
                "submit", "--db", db_url, "--title", "silent sleeper", "--command", "sleep 120"
            )
            assert submitted.returncode == 0, submitted.stderr
            task_id = int(submitted.stdout.split()[-1])

            def posts(event: str) -> list[dict[str, Any]]:
                return [b for b in hook.bodies("/alerts") if b["event"] == event]

            def app_log() -> str:
                log.flush()
                return (tmp_path / "app.log").read_text(errors="replace")[-4000:]

            (firing,) = wait_until(lambda: posts("firing"), 40, "the firing POST", describe=app_log)
            assert firing["task"]["id"] == task_id and firing["task"]["title"] == "silent sleeper"
            assert firing["alert"]["rule"]["kind"] == "stuck_task" and firing["alert"]["state"] == "firing"
            assert f"#{task_id}" in firing["alert"]["summary"]

            cancelled = run_cli("cancel", str(task_id), "--db", db_url)
            assert cancelled.returncode == 0, cancelled.stderr
            (resolved,) = wait_until(lambda: posts("resolved"), 40, "the resolved POST", describe=app_log)
            assert (
                resolved["alert"]["id"] == firing["alert"]["id"] and resolved["alert"]["state"] == "resolved"
            )
            assert len(posts("firing")) == 1
            ids = {p["headers"].get("Idempotency-Key") for p in hook.posts}
            assert len(ids) == 2  # one key per notification
        finally:
            stop_process(app)
            log.close()
