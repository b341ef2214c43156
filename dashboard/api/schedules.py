"""API layer: /schedules — list, create, one schedule with its recent tasks, replace (edit), pause, resume,
delete. Roles as for tasks (reads viewer, changes operator, delete admin); every change audited by the
registry's guard."""

from __future__ import annotations

from typing import Any

from flask.typing import ResponseReturnValue

from dashboard.api.context import ctx, respond
from dashboard.api.errors import ApiError, not_found
from dashboard.api.registry import PREFIX, Audit, Role, actor, endpoint
from dashboard.api.schedule_schemas import ScheduleCreate, ScheduleDetail, ScheduleList
from db.control import schedule_fire, task_schedules
from db.core.timeutil import utcnow

SCHEDULE = "/schedules/<task_id:schedule_id>"  # the id converter of tasks: 1 to 18 digits


@endpoint(
    "GET",
    "/schedules",
    Role.VIEWER,
    summary="Task schedules with their next fire times",
    responses={200: ("schedules", ScheduleList)},
)
def list_schedules() -> ResponseReturnValue:
    now = utcnow()
    with ctx().svc.db.reading() as session:
        rows = task_schedules.list_all(session)
    return respond(ScheduleList, {"items": [_shown(r, now) for r in rows]})


def _spec_of(body: ScheduleCreate) -> task_schedules.ScheduleSpec:
    """The request body as a schedule, checked (ScheduleSpecError names the field it refuses)."""
    return task_schedules.ScheduleSpec(
        **{**body.model_dump(), "tags": tuple(body.tags), "created_by": actor()}
    )


@endpoint(
    "POST",
    "/schedules",
    Role.OPERATOR,
    summary="Schedule a recurring task: a template and a cron expression (in a time zone) or an interval",
    responses={201: ("the schedule as stored; Location gives its URL", ScheduleDetail)},
    errors=(400, 409, 413, 415, 422),
    body=ScheduleCreate,
    description=(
        "Give exactly one of cron and interval_seconds. A bad cron expression or time zone is a 422 naming "
        "the field (details.field). Every fire time makes exactly one task, however many workers run; "
        "catch_up latest runs the latest missed time once, skip runs none later than 60 s."
    ),
    audit=Audit("schedule.create", "schedule", "schedule_id"),
)
def create_schedule(body: ScheduleCreate) -> ResponseReturnValue:
    try:
        spec = _spec_of(body)
        with ctx().svc.db.writing() as session:
            schedule_id = task_schedules.create(session, spec, utcnow())
    except task_schedules.ScheduleSpecError as exc:
        raise _refused(exc) from None
    return _detail(schedule_id, status=201, headers={"Location": f"{PREFIX}/schedules/{schedule_id}"})


@endpoint(
    "PUT",
    SCHEDULE,
    Role.OPERATOR,
    summary="Replace a schedule's template, trigger and policies",
    responses={200: ("the schedule as stored", ScheduleDetail)},
    errors=(400, 404, 409, 413, 415, 422),
    body=ScheduleCreate,
    description=(
        "Checked as on creation (a bad cron expression or time zone is a 422 naming the field). Its runs and "
        "on/off state are kept (`enabled` is ignored: use pause and resume); a changed trigger of an enabled "
        "schedule starts from now, so the new trigger's past fire times never run."
    ),
    audit=Audit("schedule.edit", "schedule", "schedule_id"),
)
def update_schedule(schedule_id: int, body: ScheduleCreate) -> ResponseReturnValue:
    """Replaces its template, trigger and policies, checked as on creation; runs and on/off are kept."""
    try:
        spec = _spec_of(body)
        with ctx().svc.db.writing() as session:
            task_schedules.edit(session, schedule_id, spec, utcnow(), actor())
    except task_schedules.ScheduleNotFound:
        raise not_found(f"schedule {schedule_id}", schedule_id=schedule_id) from None
    except task_schedules.ScheduleSpecError as exc:
        raise _refused(exc) from None
    return _detail(schedule_id)


@endpoint(
    "GET",
    SCHEDULE,
    Role.VIEWER,
    summary="One schedule with its newest tasks and their outcomes",
    responses={200: ("the schedule", ScheduleDetail)},
    errors=(400, 404),
)
def get_schedule(schedule_id: int) -> ResponseReturnValue:
    return _detail(schedule_id)


@endpoint(
    "POST",
    SCHEDULE + "/pause",
    Role.OPERATOR,
    summary="Switch a schedule off",
    responses={200: ("the schedule", ScheduleDetail)},
    errors=(400, 404),
    audit=Audit("schedule.pause", "schedule", "schedule_id"),
)
def pause_schedule(schedule_id: int) -> ResponseReturnValue:
    return _toggle(schedule_id, False)


@endpoint(
    "POST",
    SCHEDULE + "/resume",
    Role.OPERATOR,
    summary="Switch a schedule on again from now (times while it was off never run)",
    responses={200: ("the schedule", ScheduleDetail)},
    errors=(400, 404),
    audit=Audit("schedule.resume", "schedule", "schedule_id"),
)
def resume_schedule(schedule_id: int) -> ResponseReturnValue:
    """On again from now: fire times while it was paused never run."""
    return _toggle(schedule_id, True)


@endpoint(
    "DELETE",
    SCHEDULE,
    Role.ADMIN,
    summary="Delete a schedule (the tasks it made stay)",
    responses={204: ("deleted", None)},
    errors=(400, 404),
    audit=Audit("schedule.remove", "schedule", "schedule_id"),
)
def delete_schedule(schedule_id: int) -> ResponseReturnValue:
    """The tasks it made stay."""
    try:
        with ctx().svc.db.writing() as session:
            task_schedules.remove(session, schedule_id, utcnow(), actor())
    except task_schedules.ScheduleNotFound:
        raise not_found(f"schedule {schedule_id}", schedule_id=schedule_id) from None
    return "", 204


def _refused(exc: task_schedules.ScheduleSpecError) -> ApiError:
    status = 409 if exc.field == "name" and "exists" in exc.message else 422
    code = "duplicate_name" if status == 409 else "validation_error"
    return ApiError(status, code, f"{exc.field}: {exc.message}", field=exc.field)


def _toggle(schedule_id: int, enabled: bool) -> ResponseReturnValue:
    try:
        with ctx().svc.db.writing() as session:
            task_schedules.set_enabled(session, schedule_id, enabled, utcnow(), actor())
    except task_schedules.ScheduleNotFound:
        raise not_found(f"schedule {schedule_id}", schedule_id=schedule_id) from None
    return _detail(schedule_id)


def _detail(
    schedule_id: int, status: int = 200, headers: dict[str, str] | None = None
) -> ResponseReturnValue:
    now = utcnow()
    try:
        with ctx().svc.db.reading() as session:
            row = task_schedules.find(session, schedule_id)
            runs = task_schedules.recent_runs(session, schedule_id)
    except task_schedules.ScheduleNotFound:
        raise not_found(f"schedule {schedule_id}", schedule_id=schedule_id) from None
    return respond(ScheduleDetail, {**_shown(row, now), "recent_runs": runs}, status=status, headers=headers)


def _shown(row: dict[str, Any], now: Any) -> dict[str, Any]:
    return {**row, "next_fire_at": schedule_fire.next_fire(row, now)}
