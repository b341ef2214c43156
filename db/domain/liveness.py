"""Domain layer: the "possibly stuck" rule in one place — a running task silent for longer than the threshold
(TASKLENS_STUCK_AFTER_SECONDS, or an alert rule's own) — as a SQL condition for the overview count, the
report's table and the stuck-task alert, and as a predicate for the pages (assets/live.js compares the same
way while it counts)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func

from db.core.models import Task
from db.domain.states import TaskStatus

_T = Task.__table__.c


def silent_since() -> ColumnElement[Any]:
    """Since when a task has said nothing: its last activity, else its start (a task that never reported
    anything after its claim is silent since it started)."""
    return func.coalesce(_T.last_activity_at, _T.started_at)


def stuck_condition(now: datetime, after: timedelta) -> ColumnElement[bool]:
    """Running and silent for longer than `after` at `now` (strictly: exactly `after` is not yet stuck)."""
    return and_(_T.status == TaskStatus.RUNNING.value, silent_since() < now - after)


def possibly_stuck(silence_s: float | None, after_s: float) -> bool:
    """The same rule for a task already known to be running, from its silence in seconds."""
    return silence_s is not None and silence_s > after_s
