"""Data layer: one worker's page — its row and state (online / busy / draining / stopping / offline, heartbeat
age, what it claims), the tasks it runs now, its history (tasks it ran that ended in the range, newest first)
and its throughput and outcomes per bucket of the range (worker_hourly for whole hours, the tasks for the
edges, as the Agents page counts them). Aggregation happens in SQL; each list is one DataFrame."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from db.analytics.performance import finished_in
from db.analytics.rollup_read import UNITS, Read, run
from db.analytics.rollup_spec import WORKERS
from db.core.frames import to_frame
from db.core.models import Task, Worker
from db.core.sqlfuncs import seconds_between
from db.domain.states import TaskStatus, WorkerStatus
from db.read.scope import Scope

T = Task.__table__.c
W = Worker.__table__.c

FREQ = {"minute": "min", "hour": "h", "day": "D"}
STEP = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
CURRENT_COLUMNS = [
    "id",
    "title",
    "kind",
    "started_at",
    "progress",
    "last_activity_at",
    "attempt",
    "max_attempts",
]
HISTORY_COLUMNS = [
    "id",
    "title",
    "kind",
    "status",
    "started_at",
    "completed_at",
    "duration_s",
    "error_message",
]
THROUGHPUT = Read("worker.throughput", WORKERS, ("done", "failed"), units=UNITS)
THROUGHPUT_COLUMNS = [
    "bucket",
    "done",
    "failed",
    "done_per_minute",
    "failed_per_minute",
    "per_minute",
    "complete",
]


@dataclass(frozen=True)
class WorkerState:
    """A worker's row as its page shows it."""

    id: str
    name: str
    host: str
    pid: int
    status: str
    control: str | None
    concurrency: int
    running_count: int
    started_at: datetime
    last_seen_at: datetime
    stopped_at: datetime | None
    tasks_completed: int
    tasks_failed: int
    claim_kinds: tuple[str, ...] | None  # None: every kind it can run
    claim_tags: tuple[str, ...] | None  # None: any task
    heartbeat_age_s: float

    @property
    def state(self) -> str:
        """offline, else what fleet control asked (draining, stopping), else online or busy."""
        if self.status == WorkerStatus.OFFLINE.value:
            return "offline"
        return {"drain": "draining", "stop": "stopping"}.get(self.control or "", self.status)


def worker(session: Session, worker_id: str, now: datetime) -> WorkerState | None:
    row = session.execute(select(Worker.__table__).where(W.id == worker_id)).mappings().first()
    if row is None:
        return None
    return WorkerState(
        id=row["id"],
        name=row["name"],
        host=row["host"],
        pid=int(row["pid"]),
        status=row["status"],
        control=row["control"],
        concurrency=int(row["concurrency"]),
        running_count=int(row["running_count"]),
        started_at=row["started_at"],
        last_seen_at=row["last_seen_at"],
        stopped_at=row["stopped_at"],
        tasks_completed=int(row["tasks_completed"]),
        tasks_failed=int(row["tasks_failed"]),
        claim_kinds=None if row["claim_kinds"] is None else tuple(row["claim_kinds"]),
        claim_tags=None if row["claim_tags"] is None else tuple(row["claim_tags"]),
        heartbeat_age_s=max(0.0, (now - row["last_seen_at"]).total_seconds()),
    )


def current_tasks(session: Session, worker_id: str) -> pd.DataFrame:
    """The tasks it holds now (ix_tasks_worker_status), longest-running first."""
    rows = session.execute(
        select(T.id, T.title, T.kind, T.started_at, T.progress, T.last_activity_at, T.attempt, T.max_attempts)
        .where(T.worker_id == worker_id, T.status == TaskStatus.RUNNING.value)
        .order_by(T.started_at, T.id)
    ).all()
    return to_frame(rows, CURRENT_COLUMNS)


def _mine(scope: Scope, worker_id: str) -> Scope:
    """The page's scope narrowed to this worker (its own worker filter, if any, is this page's subject)."""
    return replace(scope, worker=(worker_id,))


# History is first looked for in the range's last hour (or all of a shorter range) along ix_tasks_completed_at:
# a busy worker fills a page there in a few ms. Only when that holds too few, along ix_tasks_worker_status,
# whose cost is the number of tasks the worker ever ran (100 ms at 50,000), never that of the fleet's range.
RECENT = timedelta(hours=1)


def history(session: Session, worker_id: str, scope: Scope, limit: int = 50) -> pd.DataFrame:
    """Tasks it ran that ended in the range (any outcome), newest end first. A retried task counts under the
    worker of its latest attempt."""
    if scope.span <= RECENT:
        return _history(session, worker_id, scope, limit, by_time=True)
    found = _history(session, worker_id, replace(scope, start=scope.end - RECENT), limit, by_time=True)
    if len(found) >= limit:
        return found
    return _history(session, worker_id, scope, limit, by_time=False)


def _history(session: Session, worker_id: str, scope: Scope, limit: int, *, by_time: bool) -> pd.DataFrame:
    mine = T.worker_id.concat("") == worker_id if by_time else T.worker_id == worker_id  # see RECENT
    rows = session.execute(
        select(
            T.id,
            T.title,
            T.kind,
            T.status,
            T.started_at,
            T.completed_at,
            seconds_between(T.started_at, T.completed_at),
            T.error_message,
        )
        .where(*finished_in(replace(scope, worker=())), mine)
        .order_by(T.completed_at.desc(), T.id.desc())
        .limit(limit)
    ).all()
    frame = to_frame(rows, HISTORY_COLUMNS)
    frame["duration_s"] = frame["duration_s"].astype(float)
    return frame


def throughput(session: Session, worker_id: str, scope: Scope) -> pd.DataFrame:
    """Per bucket of the scope's unit, every bucket of the range present: tasks it completed and failed (or
    timed out), and those per minute (the bucket's count over its length). `complete` is False for a bucket
    the range only partly covers."""
    unit = scope.unit
    # worker_hourly's own counting (db/analytics/rollup_spec.WORKERS): tasks that had started, completed or failed /
    # timed out (not cancelled).
    both = run(session, THROUGHPUT, _mine(scope, worker_id), unit=unit)
    start, end = pd.Timestamp(scope.start), pd.Timestamp(scope.end)
    index = pd.date_range(start.floor(FREQ[unit]), end, freq=FREQ[unit], inclusive="left")
    summed = both.set_index("bucket")[["done", "failed"]].astype(float)
    frame = summed.reindex(index, fill_value=0.0).rename_axis("bucket").reset_index()
    for column in ("done", "failed"):
        frame[column] = frame[column].round().astype(int)
    minutes = STEP[unit].total_seconds() / 60.0
    frame["done_per_minute"] = frame["done"] / minutes
    frame["failed_per_minute"] = frame["failed"] / minutes
    frame["per_minute"] = frame["done_per_minute"] + frame["failed_per_minute"]
    frame["complete"] = (frame["bucket"] >= start) & (frame["bucket"] + STEP[unit] <= end)
    return frame[THROUGHPUT_COLUMNS]


@dataclass(frozen=True)
class Outcomes:
    """Its tasks that ended in the range, counted as the throughput series counts them."""

    done: int
    failed: int
    minutes: float  # the range up to now

    @property
    def finished(self) -> int:
        return self.done + self.failed

    @property
    def failure_rate(self) -> float | None:
        return self.failed / self.finished if self.finished else None

    @property
    def per_minute(self) -> float:
        return self.finished / self.minutes if self.minutes > 0 else 0.0


def outcomes(series: pd.DataFrame, scope: Scope, now: datetime) -> Outcomes:
    """The range's totals from `throughput`'s series (already aggregated in SQL)."""
    minutes = max(0.0, (min(scope.end, now) - scope.start).total_seconds() / 60.0)
    return Outcomes(int(series["done"].sum()), int(series["failed"].sum()), minutes)
