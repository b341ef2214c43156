"""Data layer: the task board's reads — each lane's newest cards (the view's `card` fields) and how many tasks
each lane truly holds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.core.frames import to_frame
from db.domain.states import TaskStatus
from db.read import overview
from db.read.task_view import TASKS, T

# The board's lanes; the failed lane also shows timed-out and cancelled tasks (colour tells them apart).
LANES: dict[str, tuple[TaskStatus, ...]] = {
    "queued": (TaskStatus.QUEUED,),
    "running": (TaskStatus.RUNNING,),
    "completed": (TaskStatus.COMPLETED,),
    "failed": (TaskStatus.FAILED, TaskStatus.TIMED_OUT, TaskStatus.CANCELLED),
}

# What a card reads: the declared view's `card` fields.
CARD_COLUMNS = tuple(f.selected() for f in TASKS.card_fields)
CARD_NAMES = [f.name for f in TASKS.card_fields]


def lane_cards(session: Session, per_lane: int = 25) -> dict[str, pd.DataFrame]:
    """Each lane's cards: queued by claim order, running by start, finished ones newest first."""
    lanes: dict[str, pd.DataFrame] = {}
    for lane, statuses in LANES.items():
        if lane in ("queued", "running"):
            q = select(*CARD_COLUMNS).where(T.c.status.in_([s.value for s in statuses]))
            q = q.order_by(T.c.priority.desc(), T.c.id) if lane == "queued" else q.order_by(T.c.started_at)
            lanes[lane] = to_frame(session.execute(q.limit(per_lane)).all(), CARD_NAMES)
            continue
        # One status at a time, each the top of its (status, completed_at) index: with IN over several
        # statuses SQLite sorts every failed, timed-out and cancelled task instead (270 ms at 1M tasks).
        rows: list[Any] = []
        for status in statuses:
            q = select(*CARD_COLUMNS).where(T.c.status == status.value).order_by(T.c.completed_at.desc())
            rows += session.execute(q.limit(per_lane)).all()
        rows.sort(key=lambda r: r.completed_at or datetime.min, reverse=True)
        lanes[lane] = to_frame(rows[:per_lane], CARD_NAMES)
    return lanes


def lane_counts(session: Session, now: datetime) -> dict[str, int]:
    """How many tasks each status holds: all queued and running ones, and of the finished statuses those that
    ended today (UTC), read from the rollups as the overview's cards are (buckets, however busy the day)."""
    active: dict[str, int] = dict(
        session.execute(
            select(T.c.status, func.count())
            .where(T.c.status.in_([TaskStatus.QUEUED.value, TaskStatus.RUNNING.value]))
            .group_by(T.c.status)
        ).all()
    )
    ended = overview.ended_today(session, now).set_index("status")["tasks"]
    counts = {s.value: int(active.get(s.value, 0)) for s in (TaskStatus.QUEUED, TaskStatus.RUNNING)}
    counts.update({s.value: int(ended.get(s.value, 0)) for s in (*LANES["completed"], *LANES["failed"])})
    return counts
