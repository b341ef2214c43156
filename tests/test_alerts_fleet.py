"""Tests: several worker processes on PostgreSQL — one evaluator across them (a database lease), and each
notification delivered once to each channel (generic webhook, Slack, Discord) however many workers claim
from the outbox, a failed delivery retried with backoff; Slack's and Discord's bodies as their incoming
webhooks document them."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from db.alerts.rules import create_rule
from db.core.engine import Database
from db.core.models import AlertNotification
from db.core.timeutil import utcnow
from db.domain.ops import TaskSpec
from db.domain.states import TaskKind
from db.write.recorder import Recorder
from tests.alert_support import receiver
from tests.helpers import WorkerProcess, fast_worker_env, wait_until

pytestmark = pytest.mark.slow
TASKS = 3


def test_three_workers_send_each_notification_once(
    pg_db: Database, pg_session_url: str, tmp_path: Path
) -> None:
    # pg_db empties the session database first: an earlier test's tasks and worker rows left in it were claimed
    # or judged offline by these workers and sent notifications of their own (under xdist, whichever ran before).
    db = pg_db
    recorder = Recorder(db)
    with receiver() as hook:
        hook.fail_next["/discord"] = 1  # the first Discord POST fails: retried after its backoff
        with recorder.transaction() as session:
            create_rule(
                session,
                {
                    "name": "stuck, to chat",
                    "kind": "stuck_task",
                    "threshold": 2,
                    "severity": "critical",
                    "channels": [
                        {"type": "slack", "url": hook.url + "/slack"},
                        {"type": "discord", "url": hook.url + "/discord"},
                    ],
                },
                utcnow(),
            )
        env = fast_worker_env(
            TASKLENS_STUCK_AFTER_SECONDS="2",
            TASKLENS_ALERT_WEBHOOK_URL=hook.url + "/hook",
            TASKLENS_ALERT_EVAL_SECONDS="0.5",
        )
        workers = [WorkerProcess(pg_session_url, tmp_path, concurrency=2, env=env) for _ in range(3)]
        try:
            for w in workers:
                w.wait_registered(db)
            ids = [
                recorder.submit(
                    TaskSpec(title=f"fleet {i}", kind=TaskKind.COMMAND, payload={"command": "sleep 60"})
                )
                for i in range(TASKS)
            ]
            # Two rules match each task: the built-in (default webhook only) and ours (+ Slack and Discord).
            firing = 2 * TASKS + 2 * TASKS
            wait_until(lambda: len(hook.posts) >= firing, 60, "the firing notifications", workers=workers)
            for task_id in ids:
                recorder.cancel(task_id, actor="test")
            wait_until(
                lambda: len(hook.posts) >= 2 * firing, 60, "the resolved notifications", workers=workers
            )
        finally:
            for w in workers:
                w.close()
        posts = hook.posts
    keys = Counter(p["headers"].get("Idempotency-Key") for p in posts)
    assert len(posts) == 2 * firing and set(keys.values()) == {1}, keys  # each notification once
    assert [p["path"] for p in hook.refused] == ["/discord"]
    by_path = Counter(p["path"] for p in posts)
    assert by_path == {"/hook": 4 * TASKS, "/slack": 2 * TASKS, "/discord": 2 * TASKS}

    slack = [p["json"] for p in posts if p["path"] == "/slack"]
    assert all(isinstance(b["text"], str) and b["blocks"][0]["type"] == "section" for b in slack)
    assert all(b["blocks"][0]["text"]["type"] == "mrkdwn" for b in slack)
    discord = [p["json"] for p in posts if p["path"] == "/discord"]
    embed: dict[str, Any] = discord[0]["embeds"][0]
    assert discord[0]["content"] and {"title", "description", "color", "fields"} <= set(embed)
    assert len(embed["title"]) <= 256 and isinstance(embed["color"], int)

    with db.reading() as session:
        rows = list(session.execute(select(AlertNotification.__table__)))
    assert all(r.status == "sent" for r in rows) and len(rows) == 2 * firing
    assert max(r.attempts for r in rows if r.channel_type == "discord") == 2  # the failed one, retried
