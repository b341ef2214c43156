"""Data layer: read queries of one task's detail page — the row, its transitions, invocations, activity and
the write-path figures of the database perspective."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.core.frames import to_frame
from db.core.models import Activity, Invocation, Task, TaskEvent, WriteStat
from db.core.sqlfuncs import seconds_between
from db.domain.states import EventType, TaskStatus
from db.live.feed import COLUMNS, FeedEvent


def transitions(session: Session, task_id: int) -> pd.DataFrame:
    e = TaskEvent.__table__.c
    rows = session.execute(
        select(e.seq, e.at, e.from_status, e.to_status, e.actor, e.payload)
        .where(e.task_id == task_id, e.type.in_(["task.created", "task.transition"]))
        .order_by(e.seq)
    ).all()
    frame = to_frame(rows, ["seq", "at", "from_status", "to_status", "actor", "payload"])
    # When it happened: the producer's time where a source gave one (Celery, POST /events `at`, OTLP), and
    # the task's created_at for its creation (a source's too), else when it was recorded.
    created = session.scalar(select(Task.created_at).where(Task.id == task_id))
    frame["at"] = [
        created
        if created is not None and not isinstance(frm, str)  # the creation: no status before it
        else datetime.fromisoformat(p["happened_at"])
        if isinstance(p, dict) and p.get("happened_at")
        else at
        for at, frm, p in zip(frame["at"], frame["from_status"], frame["payload"], strict=True)
    ]
    frame["reason"] = [p.get("reason") if isinstance(p, dict) else None for p in frame["payload"]]
    frame["attempt"] = [p.get("attempt") if isinstance(p, dict) else None for p in frame["payload"]]
    return frame.drop(columns=["payload"])


def invocations(session: Session, task_id: int) -> pd.DataFrame:
    i = Invocation.__table__.c
    rows = session.execute(
        select(
            i.id,
            i.iteration,
            i.role,
            i.provider,
            i.model,
            i.status,
            i.started_at,
            i.completed_at,
            seconds_between(i.started_at, i.completed_at).label("duration_s"),
            i.input_tokens,
            i.output_tokens,
            i.cache_read_tokens,
            i.cost_usd,
            i.error,
        )
        .where(i.task_id == task_id)
        .order_by(i.started_at)
    ).all()
    frame = pd.DataFrame(
        rows,
        columns=[
            "id",
            "iteration",
            "role",
            "provider",
            "model",
            "status",
            "started_at",
            "completed_at",
            "duration_s",
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cost_usd",
            "error",
        ],
    )
    frame["attempt"] = _attempts(session, task_id, frame)
    return frame


# Ids reported by command scripts and the events API are stored as t{task}a{attempt}-{client id}.
_NAMESPACED = re.compile(r"^t\d+a(\d+)-")


def _attempts(session: Session, task_id: int, frame: pd.DataFrame) -> list[int | None]:
    """Each call's attempt: from its namespaced id, else the attempt whose run had started when the call
    did (the task's transitions to running carry their attempt)."""
    if frame.empty:
        return []
    e = TaskEvent.__table__.c
    runs = session.execute(
        select(e.at, e.payload)
        .where(
            e.task_id == task_id,
            e.type == EventType.TRANSITION.value,
            e.to_status == TaskStatus.RUNNING.value,
        )
        .order_by(e.seq)
    ).all()
    starts = [(at, int(p["attempt"])) for at, p in runs if isinstance(p, dict) and p.get("attempt")]
    found: list[int | None] = []
    for call_id, started in zip(frame["id"], frame["started_at"], strict=True):
        match = _NAMESPACED.match(str(call_id))
        if match:
            found.append(int(match.group(1)))
            continue
        attempt = None
        for at, run_attempt in starts:
            if started is not None and not pd.isna(started) and at <= started:
                attempt = run_attempt
        found.append(attempt)
    return found


def activity(session: Session, task_id: int, limit: int = 300) -> pd.DataFrame:
    """The newest `limit` lines, oldest first."""
    a = Activity.__table__.c
    rows = session.execute(
        select(a.id, a.at, a.type, a.stream, a.message, a.invocation_id)
        .where(a.task_id == task_id)
        .order_by(a.id.desc())
        .limit(limit)
    ).all()
    frame = to_frame(rows, ["id", "at", "type", "stream", "message", "invocation_id"])
    return frame.iloc[::-1].reset_index(drop=True)


def one_snapshot(session: Session) -> None:
    """Makes the session's later reads one snapshot: on PostgreSQL each statement of a READ COMMITTED
    transaction sees the commits made since the last, so lines read by one and seqs read by the next could
    disagree. (A SQLite read transaction is one snapshot already.) Call before the session's first read."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def activity_seqs(session: Session, task_id: int, after: int) -> list[int]:
    """Seqs of the task's activity events after `after`: which of them a load of its lines already holds."""
    e = TaskEvent.__table__.c
    return list(
        session.scalars(
            select(e.seq)
            .where(e.task_id == task_id, e.type == EventType.ACTIVITY.value, e.seq > after)
            .order_by(e.seq)
        )
    )


def activity_events(session: Session, task_id: int, after: int, upto: int, limit: int) -> list[FeedEvent]:
    """The task's first `limit` activity events with after < seq <= upto, in seq order (what a live page
    appends)."""
    e = TaskEvent.__table__.c
    rows = session.execute(
        select(*COLUMNS)
        .where(e.task_id == task_id, e.type == EventType.ACTIVITY.value, e.seq > after, e.seq <= upto)
        .order_by(e.seq)
        .limit(limit)
    )
    return [FeedEvent(*row) for row in rows]


def write_latency(session: Session, now: datetime, minutes: int = 15) -> tuple[float | None, float | None]:
    """Commit latency p50/p95 (ms) of the write path over recent minutes, all processes, commit-weighted."""
    w = WriteStat.__table__.c
    row = session.execute(
        select(
            func.sum(w.p50_ms * w.commits) / func.nullif(func.sum(w.commits), 0),
            func.max(w.p95_ms),
        ).where(w.minute >= now - timedelta(minutes=minutes))
    ).one()
    return (float(row[0]) if row[0] is not None else None, float(row[1]) if row[1] is not None else None)
