"""Domain layer: task states, kinds, event types and the allowed-transitions map (the one place they are checked)."""

from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


TERMINAL: frozenset[TaskStatus] = frozenset(
    {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED, TaskStatus.TIMED_OUT}
)

# The lifecycle as data. running -> queued is the lease-expiry re-queue; terminal -> queued is `retry`.
ALLOWED_TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.QUEUED: frozenset({TaskStatus.RUNNING, TaskStatus.CANCELLED}),
    TaskStatus.RUNNING: frozenset(
        {
            TaskStatus.COMPLETED,
            TaskStatus.FAILED,
            TaskStatus.CANCELLED,
            TaskStatus.TIMED_OUT,
            TaskStatus.QUEUED,
        }
    ),
    TaskStatus.COMPLETED: frozenset({TaskStatus.QUEUED}),
    TaskStatus.FAILED: frozenset({TaskStatus.QUEUED}),
    TaskStatus.CANCELLED: frozenset({TaskStatus.QUEUED}),
    TaskStatus.TIMED_OUT: frozenset({TaskStatus.QUEUED}),
}


class IllegalTransition(ValueError):
    """Raised when a requested status change is not in ALLOWED_TRANSITIONS."""

    def __init__(self, task_id: int, current: TaskStatus, target: TaskStatus) -> None:
        super().__init__(f"task {task_id}: cannot go from {current} to {target}")
        self.task_id = task_id
        self.current = current
        self.target = target


def check_transition(task_id: int, current: TaskStatus, target: TaskStatus) -> None:
    if target not in ALLOWED_TRANSITIONS[current]:
        raise IllegalTransition(task_id, current, target)


class TaskKind(StrEnum):
    COMMAND = "command"
    PYTHON = "python"
    DEMO = "demo"
    EXTERNAL = "external"
    # Recorded from a Celery broker's events by the Celery source; run by Celery's own workers, never here.
    CELERY = "celery"


# The outcomes that count as failures: a timeout is a failure, a cancellation is a choice (rates leave it out).
FAILURES: tuple[str, ...] = (TaskStatus.FAILED.value, TaskStatus.TIMED_OUT.value)

# Kinds a worker executes; `external` tasks are driven by their owner over the API.
EXECUTABLE_KINDS: frozenset[TaskKind] = frozenset({TaskKind.COMMAND, TaskKind.PYTHON, TaskKind.DEMO})


class EventType(StrEnum):
    CREATED = "task.created"
    TRANSITION = "task.transition"
    CANCEL_REQUESTED = "task.cancel_requested"
    PROGRESS = "task.progress"
    ACTIVITY = "activity"
    INVOCATION_STARTED = "invocation.started"
    INVOCATION_COMPLETED = "invocation.completed"
    INVOCATION_FAILED = "invocation.failed"
    USAGE = "usage"
    RESULT = "task.result"
    # A task created as a stand-in (named by events before its `task` event) got its description.
    DESCRIBED = "task.described"
    WORKER_ONLINE = "worker.online"
    WORKER_OFFLINE = "worker.offline"
    # A report run was queued, started, moved on, completed or failed (no task_id; payload has run_id).
    REPORT_RUN = "report.run"
    # An alert was opened, fired, resolved, acknowledged or acted on (no task_id; payload has alert_id).
    ALERT = "alert"
    # A task schedule was created, edited, paused, resumed or removed (no task_id; payload has schedule_id).
    SCHEDULE = "schedule"
    # Fleet control drained, resumed, stopped or forgot a worker (no task_id; payload has worker_id, change).
    WORKER_CONTROL = "worker.control"


class ActivityType(StrEnum):
    TOOL_EXEC = "tool_exec"
    OUTPUT = "output"
    ERROR = "error"
    PROGRESS = "progress"


class InvocationStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class CallKind(StrEnum):
    """What a call (invocation) is: the nodes of a task's call tree."""

    LLM = "llm"
    TOOL = "tool"
    AGENT = "agent"
    RETRIEVER = "retriever"
    OTHER = "other"


class WorkerStatus(StrEnum):
    ONLINE = "online"
    BUSY = "busy"
    OFFLINE = "offline"


class FailureReason(StrEnum):
    ERROR = "error"
    EXIT_CODE = "exit_code"
    TIMEOUT = "timeout"
    WORKER_LOST = "worker_lost"
    CANCELLED = "cancelled"
