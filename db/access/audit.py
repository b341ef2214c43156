"""Data layer: the audit log — one row per deliberate change (task create, cancel, retry, delete; token and
schedule changes) with who did it (`token:<name>`, `cli`, `dashboard`, …), what and on which target."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from db.core.models import AuditLog

A = cast(Table, AuditLog.__table__)
MAX_TEXT = 200
# What the log records (a filter's choices): every writer of a row uses one of these.
ACTIONS = (
    "task.create",
    "task.cancel",
    "task.retry",
    "task.delete",
    "token.create",
    "token.revoke",
    "budget.create",
    "budget.delete",
    "schedule.update",
    "alert.ack",
    "alert.action",
    "alert.silence",
    "alert.unsilence",
    "alert.rule.create",
    "alert.rule.update",
    "alert.rule.delete",
    # task schedules (issue 15), fleet control and concurrency limits
    "schedule.create",
    "schedule.edit",
    "schedule.pause",
    "schedule.resume",
    "schedule.remove",
    "worker.drain",
    "worker.resume",
    "worker.stop",
    "worker.forget",
    "limit.set",
    "limit.remove",
    # data lifecycle (issue 17)
    "data.prune",
    "data.archive",
    "data.import",
    "data.backup",
    "data.restore",
    "data.erase",
)


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    details: dict[str, Any]


def record(
    session: Session,
    actor: str,
    action: str,
    target: str = "",
    details: dict[str, Any] | None = None,
    *,
    now: datetime,
) -> None:
    """Adds a row in the caller's transaction, so it is kept exactly when the change is."""
    session.execute(
        insert(A).values(
            at=now,
            actor=actor[:MAX_TEXT],
            action=action[:50],
            target=target[:MAX_TEXT],
            details=details or {},
        )
    )


def entries(
    session: Session,
    *,
    limit: int = 100,
    action: str | None = None,
    actor: str | None = None,
    target: str | None = None,
    before: int | None = None,
) -> list[AuditEntry]:
    """The latest rows first. `action` ending in "." takes every action under it ("task." for all task
    changes); `before` continues a page after its last row's id."""
    query = select(A).order_by(A.c.id.desc()).limit(limit)
    if action:
        query = query.where(
            A.c.action.startswith(action, autoescape=True) if action.endswith(".") else A.c.action == action
        )
    if actor:
        query = query.where(A.c.actor == actor)
    if target:
        query = query.where(A.c.target == target)
    if before is not None:
        query = query.where(A.c.id < before)
    return [
        AuditEntry(r.id, r.at, r.actor, r.action, r.target, dict(r.details or {}))
        for r in session.execute(query)
    ]
