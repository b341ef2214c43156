"""Process set-up: TASKLENS_LOG_FORMAT=json — one JSON object a line (time, level, logger,
message, and task_id / worker_id where known, exception text when there is one) for log shippers; the text
format stays the default."""

from __future__ import annotations

import json
import logging
import re
import threading
from datetime import UTC, datetime
from typing import Any

# Set once a process knows them (a worker's id when it starts); every line of the process carries them.
PROCESS_FIELDS: dict[str, Any] = {}
# Set per thread while it serves an HTTP request (dashboard/requestid.py): request_id.
CONTEXT = threading.local()
_TASK_THREAD = re.compile(r"^task-(\d+)$")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(PROCESS_FIELDS)
        # A task's thread is named task-<id> (worker/taskthreads.py): its lines say which task they are about.
        task = _TASK_THREAD.match(threading.current_thread().name)
        if task:
            line["task_id"] = int(task.group(1))
        request_id = getattr(CONTEXT, "request_id", None)
        if request_id:
            line["request_id"] = request_id
        for key in ("task_id", "worker_id", "request_id"):
            value = record.__dict__.get(key)
            if value is not None:
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure(level: str, fmt: str) -> None:
    """The root logger's one handler, in the chosen format."""
    if fmt == "json":
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logging.basicConfig(level=level, handlers=[handler], force=True)
    else:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
