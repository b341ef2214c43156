"""Data layer: erasure (the right to be forgotten) — deletes a person's tasks, or one task, with everything under
them (calls with their prompts, responses and messages, events, activity, search rows), and leaves an audit row
that says an erasure happened, by whom and how much, naming the person only by a hash."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from sqlalchemy import Table, func, select, update
from sqlalchemy.orm import Session

from db.access import audit
from db.core.models import Task, TaskEvent
from db.domain.states import TERMINAL
from db.lifecycle.retention import PruneResult, delete_tasks

T = cast(Table, Task.__table__)
E = cast(Table, TaskEvent.__table__)
FINISHED = sorted(s.value for s in TERMINAL)


@dataclass
class Erasure:
    erased: list[int] = field(default_factory=list)
    unfinished: list[int] = field(default_factory=list)  # queued or running: cancel them, then erase again
    rows: dict[str, int] = field(default_factory=dict)


def subject_hash(value: str) -> str:
    """Who was erased, without keeping who: the same person gives the same hash, so a later request can be
    matched to this one."""
    return hashlib.sha256(value.encode()).hexdigest()[:16]


def erase(
    session: Session,
    *,
    actor: str,
    now: datetime,
    created_by: str | None = None,
    task_id: int | None = None,
) -> Erasure:
    """In the caller's transaction. Finished tasks only: a running one would vanish under its worker. The
    analytics rollups keep their anonymous counts (no person is in them)."""
    if (created_by is None) == (task_id is None):
        raise ValueError("erase takes exactly one of created_by and task_id")
    where = T.c.created_by == created_by if created_by is not None else T.c.id == task_id
    found = session.execute(select(T.c.id, T.c.status).where(where).order_by(T.c.id)).all()
    done = Erasure(
        erased=[int(i) for i, s in found if s in FINISHED],
        unfinished=[int(i) for i, s in found if s not in FINISHED],
    )
    _hollow_newest_event(session, done.erased)
    result = PruneResult()
    for start in range(0, len(done.erased), 500):
        delete_tasks(session, done.erased[start : start + 500], result)
    done.rows = dict(result.rows)
    subject = {"created_by_sha256": subject_hash(created_by)} if created_by is not None else {"task": task_id}
    details = {**subject, "tasks": len(done.erased), "rows": done.rows, "left_unfinished": done.unfinished}
    target = f"task:{task_id}" if task_id is not None else "created_by"
    audit.record(session, actor, "data.erase", target, details, now=now)
    return done


def _hollow_newest_event(session: Session, task_ids: list[int]) -> None:
    """The newest event of the log stays as a row without task or content when it is an erased task's:
    SQLite hands out max(seq) + 1, so deleting it would give its seq to the next event, which clients that
    saw the old one would skip."""
    top = session.scalar(select(func.max(E.c.seq)))
    if top is None:
        return
    owner = session.scalar(select(E.c.task_id).where(E.c.seq == top))
    if owner is not None and int(owner) in set(task_ids):
        session.execute(
            update(E)
            .where(E.c.seq == top)
            .values(task_id=None, payload={}, actor="erased", correlation_id=None)
        )
