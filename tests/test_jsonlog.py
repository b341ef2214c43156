"""Tests: TASKLENS_LOG_FORMAT=json — one JSON object a line with time, level, logger, message, the worker id
of the process and the task id of a task's thread, and the exception text; a real worker process's lines."""

from __future__ import annotations

import json
import logging
import sys
import threading
from pathlib import Path

import pytest

import jsonlog
from dashboard.services import Services
from db.core.engine import Database
from db.domain.ops import TaskSpec
from db.domain.states import TaskKind
from db.write.recorder import Recorder
from tests.api_support import api_client
from tests.helpers import WorkerProcess, fast_worker_env, wait_for_status


def test_a_line_is_one_json_object() -> None:
    fmt = jsonlog.JsonFormatter()
    jsonlog.PROCESS_FIELDS["worker_id"] = "w-1"
    lines: list[dict[str, object]] = []

    def in_task_thread() -> None:
        try:
            raise ValueError("boom")
        except ValueError:
            record = logging.LogRecord(
                "worker.x", logging.WARNING, __file__, 1, "task %s: %s", (7, "bad"), sys.exc_info()
            )
        lines.append(json.loads(fmt.format(record)))

    try:
        t = threading.Thread(target=in_task_thread, name="task-7")
        t.start()
        t.join()
    finally:
        jsonlog.PROCESS_FIELDS.clear()
    (line,) = lines
    assert line["level"] == "WARNING" and line["logger"] == "worker.x" and line["message"] == "task 7: bad"
    assert (line["task_id"], line["worker_id"]) == (7, "w-1")
    assert str(line["time"]).endswith("Z") and "ValueError: boom" in str(line["exception"])


@pytest.mark.slow
def test_a_worker_process_logs_json(db_url: str, db: Database, recorder: Recorder, tmp_path: Path) -> None:
    env = fast_worker_env(TASKLENS_LOG_FORMAT="json")
    with WorkerProcess(db_url, tmp_path, env=env) as w:
        w.wait_registered(db)
        task = recorder.submit(
            TaskSpec(title="f", kind=TaskKind.PYTHON, payload={"callable": "worker.examples:fail"})
        )
        wait_for_status(db, task, ["failed"], workers=[w])
        w.terminate()
        lines = [json.loads(x) for x in w.log_text().splitlines() if x.startswith("{")]
    assert lines and all({"time", "level", "logger", "message", "worker_id"} <= set(x) for x in lines)
    assert any(x.get("task_id") == task and "failed" in str(x["message"]) for x in lines)


def test_requests_carry_an_id(svc: Services) -> None:
    client = api_client(svc)
    given = client.get("/api/v1/health", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    made = client.get("/api/v1/health", headers={"X-Request-ID": "not a token!"})
    assert len(made.headers["X-Request-ID"]) == 16 and " " not in made.headers["X-Request-ID"]
    jsonlog.CONTEXT.request_id = "r-1"
    try:
        record = logging.LogRecord("dashboard.x", logging.INFO, __file__, 1, "hello", (), None)
        assert json.loads(jsonlog.JsonFormatter().format(record))["request_id"] == "r-1"
    finally:
        jsonlog.CONTEXT.request_id = None
