"""API layer: /tasks — list (filters, sorts, cursor pages), create, one task, cancel, retry, delete, its
timeline and activity — and /invocations/<id>. Reads go through db/read/tasks/; writes through the
recorder (db/write/recorder.py), the one write path."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Response
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import IntegrityError

from dashboard.api import cursor
from dashboard.api.context import ctx, respond
from dashboard.api.errors import ApiError, bad_parameter, not_found
from dashboard.api.params import time_range
from dashboard.api.registry import PREFIX, TASK, Audit, Role, actor, endpoint
from dashboard.api.schemas import (
    ActivityPage,
    InvocationDetail,
    PageQuery,
    TaskAction,
    TaskCreate,
    TaskDetail,
    TaskListQuery,
    TaskPage,
    TimelinePage,
)
from db.domain.ops import SpecError, TaskSpec
from db.domain.states import IllegalTransition
from db.read.task_view import TASKS
from db.read.tasks import detail, history, listing
from db.read.tasks.filters import TaskFilter
from db.write.task_delete import TaskNotFinished, delete_task
from db.write.writes import TaskNotFound


def _no_task(task_id: int) -> ApiError:
    return not_found(f"task {task_id}", task_id=task_id)


def _conflict(exc: IllegalTransition | TaskNotFinished) -> ApiError:
    status = exc.current if isinstance(exc, IllegalTransition) else exc.status
    return ApiError(409, "illegal_transition", str(exc), task_id=exc.task_id, task_status=status.value)


def created_between(q: TaskListQuery) -> dict[str, datetime | None]:
    """The time range of the list (db/read/timerange's vocabulary): range, or from/to, whose older names
    created_from/created_to still work; a name and its older name together are a 400."""
    for new, old, given, older in (
        ("from", "created_from", q.from_, q.created_from),
        ("to", "created_to", q.to, q.created_to),
    ):
        if given is not None and older is not None:
            raise bad_parameter(old, f"give {new} or {old}, not both")
    when = time_range(q.range, q.from_ or q.created_from, q.to or q.created_to)
    return {"created_from": when.start, "created_to": when.end}


@endpoint(
    "GET",
    "/tasks",
    Role.VIEWER,
    summary="List tasks: filters, a sort and cursor pages",
    responses={200: ("a page of tasks", TaskPage)},
    query=TaskListQuery,
    description=(
        "Pages follow (sort key, id): a task inserted while you page never shifts the rows you have not seen;"
        " a task whose sort key changes meanwhile (last_updated_at, cost_usd) may move."
    ),
)
def list_tasks(q: TaskListQuery) -> ResponseReturnValue:
    flt = TaskFilter(
        statuses=tuple(s.value for s in q.status),
        kinds=tuple(k.value for k in q.kind),
        worker=q.worker,
        tag=q.tag,
        text=q.text,
        messages=q.messages,
        created_by=q.created_by,
        **created_between(q),
    )
    return respond(
        TaskPage, cursor.page(TASKS, q, lambda session, *at: listing.list_tasks(session, flt, *at))
    )


@endpoint(
    "POST",
    "/tasks",
    Role.OPERATOR,
    summary="Queue a task (the CLI's validation)",
    responses={201: ("the task as stored; Location gives its URL", TaskDetail)},
    errors=(400, 409, 413, 415, 422),
    body=TaskCreate,
    audit=Audit("task.create", "task", "task_id"),
)
def create_task(body: TaskCreate) -> ResponseReturnValue:
    try:
        spec = TaskSpec(**{**body.model_dump(), "tags": tuple(body.tags)})
    except SpecError as exc:
        raise ApiError(422, "validation_error", f"{exc.field}: {exc.message}", field=exc.field) from None
    svc = ctx().svc
    if spec.external_id is not None:
        with svc.db.reading() as session:
            if detail.task_id_of_key(session, spec.external_id) is not None:
                raise _duplicate_key(spec.external_id)
    try:
        task_id = svc.recorder.submit(spec, actor=actor())
    except IntegrityError:
        if spec.external_id is None:
            raise
        raise _duplicate_key(spec.external_id) from None  # created by someone else meanwhile
    return _detail(task_id, status=201, headers={"Location": f"{PREFIX}/tasks/{task_id}"})


def _duplicate_key(key: str) -> ApiError:
    return ApiError(
        409, "duplicate_external_id", f"a task with external_id {key!r} exists", field="external_id"
    )


@endpoint(
    "GET",
    TASK,
    Role.VIEWER,
    summary="One task: every field, progress, tags and database figures",
    responses={200: ("the task", TaskDetail)},
    errors=(400, 404),
)
def get_task(task_id: int) -> ResponseReturnValue:
    return _detail(task_id)


def _detail(task_id: int, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    with ctx().svc.db.reading() as session:
        task = detail.get_task(session, task_id)
    if task is None:
        raise _no_task(task_id)
    return respond(TaskDetail, task, status=status, headers=headers)


def _action(task_id: int) -> Response:
    with ctx().svc.db.reading() as session:
        task = detail.get_task(session, task_id)
    if task is None:  # deleted in the meantime
        raise _no_task(task_id)
    return respond(TaskAction, {k: task[k] for k in TaskAction.model_fields})


@endpoint(
    "POST",
    TASK + "/cancel",
    Role.OPERATOR,
    summary="Cancel: a queued task at once; a running one is asked to stop",
    responses={200: ("the task's status now", TaskAction)},
    errors=(400, 404, 409),
    audit=Audit("task.cancel", "task", "task_id"),
)
def cancel_task(task_id: int) -> ResponseReturnValue:
    """A queued task is cancelled at once; a running one is flagged and its worker (or external agent,
    told in its next /events answer) stops it."""
    try:
        ctx().svc.recorder.cancel(task_id, actor=actor())
    except TaskNotFound:
        raise _no_task(task_id) from None
    except IllegalTransition as exc:
        raise _conflict(exc) from None
    return _action(task_id)


@endpoint(
    "POST",
    TASK + "/retry",
    Role.OPERATOR,
    summary="Send a finished task back to the queue (attempt + 1)",
    responses={200: ("the task's status now", TaskAction)},
    errors=(400, 404, 409),
    audit=Audit("task.retry", "task", "task_id"),
)
def retry_task(task_id: int) -> ResponseReturnValue:
    try:
        ctx().svc.recorder.retry(task_id, actor=actor())
    except TaskNotFound:
        raise _no_task(task_id) from None
    except IllegalTransition as exc:
        raise _conflict(exc) from None
    return _action(task_id)


@endpoint(
    "DELETE",
    TASK,
    Role.ADMIN,
    summary="Delete a finished task with its events, calls and activity",
    responses={204: ("deleted; the analytics hours it counted in were rebuilt", None)},
    errors=(400, 404, 409),
    audit=Audit("task.delete", "task", "task_id"),
)
def delete(task_id: int) -> ResponseReturnValue:
    """Deletes a finished task and all its rows, and rebuilds the analytics hours it was counted in."""
    try:
        with ctx().svc.recorder.transaction() as session:
            delete_task(session, task_id)
    except TaskNotFound:
        raise _no_task(task_id) from None
    except TaskNotFinished as exc:
        raise _conflict(exc) from None
    return Response(status=204)


@endpoint(
    "GET",
    TASK + "/timeline",
    Role.VIEWER,
    summary="Every event of the task in seq order (the websocket's messages)",
    responses={200: ("a page of events", TimelinePage)},
    errors=(400, 404),
    query=PageQuery,
)
def timeline(task_id: int, q: PageQuery) -> ResponseReturnValue:
    with ctx().svc.db.reading() as session:
        if not detail.task_exists(session, task_id):
            raise _no_task(task_id)
        events = history.timeline(session, task_id, q.after, q.limit)
    items = [e.message() for e in events]
    next_after = events[-1].seq if len(events) == q.limit else None
    return respond(TimelinePage, {"items": items, "next_after": next_after})


@endpoint(
    "GET",
    TASK + "/activity",
    Role.VIEWER,
    summary="The task's activity lines by id",
    responses={200: ("a page of lines", ActivityPage)},
    errors=(400, 404),
    query=PageQuery,
)
def activity(task_id: int, q: PageQuery) -> ResponseReturnValue:
    with ctx().svc.db.reading() as session:
        if not detail.task_exists(session, task_id):
            raise _no_task(task_id)
        lines = history.activity_after(session, task_id, q.after, q.limit)
    next_after = lines[-1]["id"] if len(lines) == q.limit else None
    return respond(ActivityPage, {"items": lines, "next_after": next_after})


@endpoint(
    "GET",
    "/invocations/<invocation_id>",
    Role.VIEWER,
    summary="One model or tool call with its activity lines",
    responses={200: ("the call", InvocationDetail)},
    errors=(400, 404),
)
def get_invocation(invocation_id: str) -> ResponseReturnValue:
    with ctx().svc.db.reading() as session:
        found: dict[str, Any] | None = history.invocation(session, invocation_id)
    if found is None:
        raise not_found(f"invocation {invocation_id!r}", invocation_id=invocation_id)
    return respond(InvocationDetail, found)
