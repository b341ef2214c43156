"""Domain layer: the "possibly stuck" rule in one place — a running task silent for longer than the threshold
(TASKLENS_STUCK_AFTER_SECONDS, or an alert rule's own) — as a SQL condition for the overview count, the
report's table and the stuck-task alert, and as a predicate for the pages (assets/live.js compares the same
way while it counts); and a call's last activity, which a finished call does not store twice."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func

from db.core.models import Invocation, Task
from db.domain.states import TaskStatus

_T = Task.__table__.c
_I = Invocation.__table__.c


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


def call_last_activity() -> ColumnElement[Any]:
    """When a call last reported anything: a finished call stores NULL for its end (migration 0020: it
    repeated completed_at), unless it reported something after its end."""
    return func.coalesce(_I.last_activity_at, _I.completed_at)


def call_activity_value(last_activity_at: datetime | None, completed_at: datetime | None) -> datetime | None:
    """The same rule for a call's row read in Python."""
    return completed_at if last_activity_at is None else last_activity_at


def call_activity_stored(last_activity_at: datetime | None, completed_at: datetime | None) -> datetime | None:
    """What a call's row stores for its last activity: NULL when it is the call's end."""
    return None if completed_at is not None and last_activity_at == completed_at else last_activity_at
