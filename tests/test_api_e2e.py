"""Tests: end to end on SQLite and PostgreSQL — a separate process standing in for an agent written in another
language (a short Python script that uses nothing but urllib and JSON) reports a whole task life through
POST /api/v1/events to a running `python app.py web`, replays one batch, and a websocket client on /ws sees
every event of that life live, once, in order."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websocket

from tests.helpers import APP, REPO_ROOT, clean_env, free_port, stop_process

AGENT = r"""
import json, sys, time, urllib.request

base, key = sys.argv[1], sys.argv[2]

def post(events):
    body = json.dumps({"events": [dict(e, external_id=key) for e in events]}).encode()
    req = urllib.request.Request(base + "/api/v1/events", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())

start = [
    {"event": "task", "event_id": "1", "title": "refactor the parser", "tags": ["agent"]},
    {"event": "transition", "event_id": "2", "to": "running", "worker": "agent-in-go"},
]
work = [
    {"event": "progress", "event_id": "3", "iteration": 1, "max_iterations": 1, "message": "thinking"},
    {"event": "invocation.started", "event_id": "4", "id": "1", "role": "coder", "model": "claude-sonnet-4-5"},
    {"event": "activity", "event_id": "5", "type": "tool_exec", "message": "edit parser.go", "invocation_id": "1"},
    {"event": "invocation.completed", "event_id": "6", "id": "1", "input_tokens": 2000, "output_tokens": 800},
]
end = [{"event": "transition", "event_id": "7", "to": "completed", "result": {"tests": "green"}}]
first = post(start)
time.sleep(0.3)
post(work)
replay = post(work)  # a retry of a batch that had gone through: recorded once
time.sleep(0.3)
last = post(end)
print(json.dumps({"task_id": first["tasks"][0]["task_id"], "replay": replay, "status": last["tasks"][0]["status"]}))
"""
LIFE = [
    ("task.created", None),
    ("task.transition", "running"),
    ("task.progress", None),
    ("invocation.started", None),
    ("activity", None),
    ("usage", None),
    ("invocation.completed", None),
    ("task.transition", "completed"),
]


@pytest.fixture
def web(db_url: str, tmp_path: Path) -> Iterator[str]:
    """`python app.py web` against the test database, until the test ends."""
    port = free_port()
    log = (tmp_path / "web.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, APP, "web", "--db", db_url, "--port", str(port)],
        cwd=REPO_ROOT,
        env=clean_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "web.log").read_text()
            try:
                with urllib.request.urlopen(base + "/api/v1/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the web process did not answer in 60 s"
            time.sleep(0.1)
        yield base
    finally:
        stop_process(proc)
        log.close()


def test_an_agent_in_another_process_reports_a_task_and_the_websocket_sees_it_live(
    web: str, tmp_path: Path
) -> None:
    ws = websocket.create_connection(web.replace("http", "ws") + "/ws", timeout=30)
    try:
        assert json.loads(ws.recv())["type"] == "hello"
        ws.send(json.dumps({"type": "subscribe", "since": None, "task_id": None}))  # live only
        assert json.loads(ws.recv())["type"] == "subscribed"
        script = tmp_path / "agent.py"
        script.write_text(AGENT)
        agent = subprocess.run(
            [sys.executable, "-I", str(script), web, "ext-e2e-1"],
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert agent.returncode == 0, agent.stderr
        report = json.loads(agent.stdout)
        assert report["status"] == "completed"
        assert (report["replay"]["recorded"], report["replay"]["duplicates"]) == (0, 4)
        task_id = report["task_id"]
        seen: list[dict[str, Any]] = []
        deadline = time.monotonic() + 30
        while len(seen) < len(LIFE) and time.monotonic() < deadline:
            msg = json.loads(ws.recv())
            if msg.get("task_id") == task_id:
                seen.append(msg)
    finally:
        ws.close()
    assert [(m["type"], m.get("to") if m["type"] == "task.transition" else None) for m in seen] == LIFE
    seqs = [m["seq"] for m in seen]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    usage = seen[5]
    assert usage["data"]["input_tokens"] == 2000 and usage["data"]["cost_usd"] > 0  # from the price table
    assert seen[1]["worker_id"] == "agent-in-go"
    with urllib.request.urlopen(f"{web}/api/v1/tasks/{task_id}", timeout=10) as r:
        task = json.loads(r.read())
    assert (task["status"], task["result"], task["update_count"]) == (
        "completed",
        {"tests": "green"},
        len(LIFE),
    )
