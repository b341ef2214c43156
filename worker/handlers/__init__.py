"""Worker layer: task handlers by kind. A handler runs one task and returns its result or raises."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from db.domain.states import TaskKind
from worker.context import RunHandle
from worker.handlers.command import run_command
from worker.handlers.demo import run_demo
from worker.handlers.python_callable import run_python

Handler = Callable[[RunHandle], Any]

HANDLERS: dict[TaskKind, Handler] = {
    TaskKind.COMMAND: run_command,
    TaskKind.PYTHON: run_python,
    TaskKind.DEMO: run_demo,
}
