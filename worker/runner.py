"""Worker layer: runs one claimed task through its handler and decides the final ops (completed, failed with
or without a retry, timed out, cancelled, re-queued on shutdown)."""

from __future__ import annotations

import logging
import traceback
from datetime import timedelta
from typing import Any

from db.core.timeutil import utcnow
from db.domain.ops import Op, Transition
from db.domain.states import FailureReason, TaskStatus
from worker.context import RunHandle, TaskStopped
from worker.handlers import HANDLERS
from worker.handlers.command import KEEP_RESULT

log = logging.getLogger(__name__)

STOP_OUTCOMES: dict[str, TaskStatus] = {
    "cancelled": TaskStatus.CANCELLED,
    "timeout": TaskStatus.TIMED_OUT,
    "shutdown": TaskStatus.QUEUED,
}


def run_handler(handle: RunHandle) -> tuple[str, Any]:
    """Returns ("ok", result) or ("stopped", reason) or ("error", (reason, message))."""
    try:
        result = HANDLERS[handle.task.kind](handle)
    except TaskStopped:
        return "stopped", handle.stop_reason or "cancelled"
    except Exception as exc:  # a task's failure is data, not a crash of the worker
        if handle.stop_reason:
            return "stopped", handle.stop_reason
        message = str(exc) or type(exc).__name__
        log.info("task %s failed: %s", handle.task.id, message)
        log.debug("%s", traceback.format_exc())
        return "error", (getattr(exc, "reason", FailureReason.ERROR.value), message)
    return "ok", result


def final_ops(handle: RunHandle, outcome: str, value: Any, backoff_seconds: float) -> list[Op]:
    task = handle.task
    if outcome == "ok":
        if value is KEEP_RESULT:
            return [Transition(TaskStatus.COMPLETED)]
        return [Transition(TaskStatus.COMPLETED, result=value, has_result=True)]
    if outcome == "stopped":
        target = STOP_OUTCOMES.get(value)
        if target is None:  # lease lost: the task is someone else's now
            return []
        if target is TaskStatus.QUEUED:
            return [Transition(TaskStatus.QUEUED, reason="worker_shutdown")]
        if target is TaskStatus.CANCELLED:
            return [Transition(target, reason=FailureReason.CANCELLED.value, error="cancelled by request")]
        limit = task.timeout_seconds
        ops: list[Op] = [
            Transition(
                target,
                reason=FailureReason.TIMEOUT.value,
                error=f"timed out after {limit:g}s" if limit else "timed out",
            )
        ]
        return ops + _retry(task.attempt, task.max_attempts, backoff_seconds)
    reason, message = value
    ops = [Transition(TaskStatus.FAILED, reason=reason, error=message)]
    return ops + _retry(task.attempt, task.max_attempts, backoff_seconds)


def _retry(attempt: int, max_attempts: int, backoff_seconds: float) -> list[Op]:
    if attempt >= max_attempts:
        return []
    delay = min(backoff_seconds * 2 ** (attempt - 1), 300.0)
    return [
        Transition(
            TaskStatus.QUEUED,
            reason="retry",
            next_attempt=True,
            available_at=utcnow() + timedelta(seconds=delay),
        )
    ]
