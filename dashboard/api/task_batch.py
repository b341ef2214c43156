"""API layer: POST /tasks/batch — up to 1,000 tasks queued in one transaction, all or none, each refused one
named by its place (`tasks[3].priority`). Writes go through the recorder (db/write/recorder.py)."""

from __future__ import annotations

from flask.typing import ResponseReturnValue
from sqlalchemy.exc import IntegrityError

from dashboard.api.context import ctx, respond
from dashboard.api.errors import ApiError
from dashboard.api.event_schemas import MAX_BATCH_BYTES
from dashboard.api.registry import Audit, Role, actor, endpoint
from dashboard.api.schemas import MAX_TASK_BATCH, TaskBatchCreate, TaskBatchCreated
from db.domain.ops import SpecError, TaskSpec
from db.read.tasks import detail


@endpoint(
    "POST",
    "/tasks/batch",
    Role.OPERATOR,
    summary="Queue up to 1,000 tasks in one all-or-nothing batch",
    responses={201: ("the new tasks' ids, in the order given", TaskBatchCreated)},
    errors=(400, 409, 413, 415, 422),
    body=TaskBatchCreate,
    body_limit=MAX_BATCH_BYTES,
    description=(
        f"Each task as for POST /tasks. At most {MAX_TASK_BATCH:,} tasks and {MAX_BATCH_BYTES:,} bytes (413). "
        "Every task is checked "
        "before anything is written; a refused one (details.field names it, e.g. tasks[3].priority, and "
        "details.index its place) or an external_id already taken (409) stores nothing."
    ),
    audit=Audit("task.create", "task", many=True),
)
def create_tasks_batch(body: TaskBatchCreate) -> ResponseReturnValue:
    specs: list[TaskSpec] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(body.tasks):
        try:
            specs.append(TaskSpec(**{**item.model_dump(), "tags": tuple(item.tags)}))
        except SpecError as exc:
            raise _refused(i, exc.field, exc.message) from None
        key = item.external_id
        if key is not None:
            if key in seen:
                raise _refused(i, "external_id", f"repeats tasks[{seen[key]}].external_id")
            seen[key] = i
    svc = ctx().svc
    if seen:
        with svc.db.reading() as session:
            taken = detail.existing_keys(session, list(seen))
        if taken:
            raise _duplicate(seen, taken[0])
    try:
        ids = svc.recorder.submit_many(specs, actor=actor())
    except IntegrityError:
        if not seen:
            raise
        # Created by someone else meanwhile: nothing of this batch was stored.
        with svc.db.reading() as session:
            taken = detail.existing_keys(session, list(seen))
        if not taken:
            raise
        raise _duplicate(seen, taken[0]) from None
    return respond(TaskBatchCreated, {"ids": ids, "count": len(ids)}, status=201)


def _refused(index: int, field: str, message: str) -> ApiError:
    where = f"tasks[{index}].{field}"
    return ApiError(422, "validation_error", f"{where}: {message}", field=where, index=index)


def _duplicate(seen: dict[str, int], key: str) -> ApiError:
    index = seen[key]
    return ApiError(
        409,
        "duplicate_external_id",
        f"tasks[{index}].external_id: a task with external_id {key!r} exists; nothing was stored",
        field=f"tasks[{index}].external_id",
        index=index,
    )
