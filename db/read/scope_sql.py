"""Data layer: a Scope's filters as SQL conditions — on tasks (kind, worker, tag) and on calls (role, model) —
written once for every analytics query module."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists

from db.core.models import Invocation, Task, TaskTag
from db.read.scope import Scope

T = Task.__table__.c
I = Invocation.__table__.c  # noqa: E741
TAGS = TaskTag.__table__.c


def task_conditions(scope: Scope, *, worker: bool = True) -> list[ColumnElement[bool]]:
    """Kind, worker (unless the caller scopes workers itself) and tag, as conditions on `tasks`."""
    where: list[ColumnElement[bool]] = []
    if scope.kind:
        where.append(T.kind.in_(scope.kind))
    if worker and scope.worker:
        where.append(T.worker_id.in_(scope.worker))
    if scope.tag:
        where.append(exists().where(and_(TAGS.task_id == T.id, TAGS.tag.in_(scope.tag))))
    return where


def call_conditions(scope: Scope) -> list[ColumnElement[bool]]:
    """Role and model, as conditions on `invocations`."""
    where: list[ColumnElement[bool]] = []
    if scope.role:
        where.append(I.role.in_(scope.role))
    if scope.model:
        where.append(I.model.in_(scope.model))
    return where


def made_matching_call(scope: Scope) -> ColumnElement[bool] | None:
    """For task-level views: the task made at least one call of the scope's roles/models (None: no filter)."""
    calls = call_conditions(scope)
    if not calls:
        return None
    return exists().where(and_(I.task_id == T.id, *calls))


def task_filters(scope: Scope) -> list[ColumnElement[bool]]:
    """The scope's filters on a task. Role and model select tasks that made at least one matching call."""
    call = made_matching_call(scope)
    return task_conditions(scope) + ([call] if call is not None else [])
