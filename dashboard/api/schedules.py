"""API layer: /schedules — list, create, one schedule with its recent tasks, replace (edit), pause, resume,
delete. Roles as for tasks (reads viewer, changes operator, delete admin); every change audited by the
registry's guard."""

from __future__ import annotations

from typing import Any

from flask.typing import ResponseReturnValue

from dashboard.api.context import ctx, respond
from dashboard.api.errors import ApiError, not_found
from dashboard.api.params import json_body, parse_json, parse_query
from dashboard.api.registry import PREFIX, Role, actor, endpoint
from dashboard.api.schedule_schemas import ScheduleCreate, ScheduleDetail, ScheduleList
from dashboard.api.schemas import NoQuery
from db import schedule_fire, task_schedules
from db.timeutil import utcnow

SCHEDULE = "/schedules/<task_id:schedule_id>"  # the id converter of tasks: 1 to 18 digits


@endpoint("GET", "/schedules", Role.VIEWER)
def list_schedules() -> ResponseReturnValue:
    parse_query(NoQuery)
    now = utcnow()
    with ctx().svc.db.reading() as session:
        rows = task_schedules.list_all(session)
    return respond(ScheduleList, {"items": [_shown(r, now) for r in rows]})


def _spec_of_body() -> task_schedules.ScheduleSpec:
    """The request body as a schedule, checked (ScheduleSpecError names the field it refuses)."""
    body: ScheduleCreate = parse_json(ScheduleCreate, json_body())
    return task_schedules.ScheduleSpec(
        **{**body.model_dump(), "tags": tuple(body.tags), "created_by": actor()}
    )


@endpoint("POST", "/schedules", Role.OPERATOR)
def create_schedule() -> ResponseReturnValue:
    parse_query(NoQuery)
    try:
        spec = _spec_of_body()
        with ctx().svc.db.writing() as session:
            schedule_id = task_schedules.create(session, spec, utcnow())
    except task_schedules.ScheduleSpecError as exc:
        raise _refused(exc) from None
    return _detail(schedule_id, status=201, headers={"Location": f"{PREFIX}/schedules/{schedule_id}"})


@endpoint("PUT", SCHEDULE, Role.OPERATOR)
def update_schedule(schedule_id: int) -> ResponseReturnValue:
    """Replaces its template, trigger and policies, checked as on creation; runs and on/off are kept."""
    parse_query(NoQuery)
    try:
        spec = _spec_of_body()
        with ctx().svc.db.writing() as session:
            task_schedules.edit(session, schedule_id, spec, utcnow(), actor())
    except task_schedules.ScheduleNotFound:
        raise not_found(f"schedule {schedule_id}", schedule_id=schedule_id) from None
    except task_schedules.ScheduleSpecError as exc:
        raise _refused(exc) from None
    return _detail(schedule_id)


@endpoint("GET", SCHEDULE, Role.VIEWER)
def get_schedule(schedule_id: int) -> ResponseReturnValue:
    parse_query(NoQuery)
    return _detail(schedule_id)


@endpoint("POST", SCHEDULE + "/pause", Role.OPERATOR)
def pause_schedule(schedule_id: int) -> ResponseReturnValue:
    return _toggle(schedule_id, False)


@endpoint("POST", SCHEDULE + "/resume", Role.OPERATOR)
def resume_schedule(schedule_id: int) -> ResponseReturnValue:
    """On again from now: fire times while it was paused never run."""
    return _toggle(schedule_id, True)


@endpoint("DELETE", SCHEDULE, Role.ADMIN)
def delete_schedule(schedule_id: int) -> ResponseReturnValue:
    """The tasks it made stay."""
    parse_query(NoQuery)
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
    parse_query(NoQuery)
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
