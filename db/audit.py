"""Data layer: the audit log — one row per deliberate change (task create, cancel, retry, delete; token and
schedule changes) with who did it (`token:<name>`, `cli`, `dashboard`, …), what and on which target."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from db.models import AuditLog

A = cast(Table, AuditLog.__table__)
MAX_TEXT = 200


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


def entries(session: Session, *, limit: int = 100, action: str | None = None) -> list[AuditEntry]:
    """The latest rows first."""
    query = select(AuditLog).order_by(A.c.id.desc()).limit(limit)
    if action is not None:
        query = query.where(A.c.action == action)
    return [
        AuditEntry(r.id, r.at, r.actor, r.action, r.target, dict(r.details or {}))
        for r in session.scalars(query)
    ]
