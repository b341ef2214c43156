"""Data layer: what the Data page reads — rows written per day (tasks created, calls started, events), the
retention horizon, and the latest prune, backup, archive, import, restore and erasure from the audit log."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

import pandas as pd
from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from db.core.models import AuditLog, EventsHourly, Invocation, Task
from db.core.sqlfuncs import day_floor
from db.lifecycle import horizon

T = cast(Table, Task.__table__)
I = cast(Table, Invocation.__table__)  # noqa: E741
EH = cast(Table, EventsHourly.__table__)
AL = cast(Table, AuditLog.__table__)
LIFECYCLE = ("data.prune", "data.backup", "data.archive", "data.import", "data.restore", "data.erase")
DAY_COLUMNS = ["day", "tasks", "calls", "events"]


def _by_day(session: Session, column: Any, since: datetime, value: Any = None) -> dict[str, int]:
    day = day_floor(column)
    query = select(day, value if value is not None else func.count()).where(column >= since).group_by(day)
    return {str(d)[:10]: int(n or 0) for d, n in session.execute(query)}


def per_day(session: Session, now: datetime, days: int = 30) -> pd.DataFrame:
    """Rows written per UTC day over the last `days`: tasks by creation, calls by start (source rows, so a
    pruned day shows what is left), events from the events_hourly rollup (kept after pruning)."""
    since = (now - timedelta(days=days)).replace(hour=0, minute=0, second=0, microsecond=0)
    tasks = _by_day(session, T.c.created_at, since)
    calls = _by_day(session, I.c.started_at, since)
    events = _by_day(session, EH.c.hour, since, func.sum(EH.c.events))
    days_seen = sorted(set(tasks) | set(calls) | set(events), reverse=True)
    records = [(d, tasks.get(d, 0), calls.get(d, 0), events.get(d, 0)) for d in days_seen]
    return pd.DataFrame(records, columns=DAY_COLUMNS)


def latest(session: Session) -> dict[str, dict[str, Any]]:
    """The newest audit row of each lifecycle action: {action: {at, actor, target, details}}."""
    found: dict[str, dict[str, Any]] = {}
    for action in LIFECYCLE:
        row = session.execute(
            select(AL.c.at, AL.c.actor, AL.c.target, AL.c.details)
            .where(AL.c.action == action)
            .order_by(AL.c.id.desc())
            .limit(1)
        ).first()
        if row is not None:
            found[action] = {
                "at": row.at,
                "actor": row.actor,
                "target": row.target,
                "details": row.details or {},
            }
    return found


def pruned_before(session: Session) -> datetime | None:
    return horizon.pruned_before(session)
