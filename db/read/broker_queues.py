"""Data layer: the Celery broker's queue lengths (table broker_queues), written by the Celery source after each
measurement and read by the Agents page, the API and the broker_queue_depth alert rule; and the queues worth
measuring (Celery's default and every queue recorded tasks were sent to)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select
from sqlalchemy.orm import Session

from db.core.models import BrokerQueue, TaskTag

BQ = cast(Table, BrokerQueue.__table__)
MAX_QUEUES = 100


def queue_names(session: Session) -> list[str]:
    tags = session.scalars(
        select(TaskTag.tag).where(TaskTag.tag.like("queue:%")).distinct().limit(MAX_QUEUES)
    )
    return sorted({"celery", *(t.removeprefix("queue:") for t in tags)})


def record(session: Session, broker: str, depths: Sequence[tuple[str, int | None]], now: datetime) -> None:
    """Replaces the broker's measurement (queues gone since are dropped with it)."""
    session.execute(delete(BQ).where(BQ.c.broker == broker))
    if depths:
        session.execute(
            insert(BQ),
            [{"broker": broker, "name": n[:200], "messages": m, "measured_at": now} for n, m in depths],
        )


def latest(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(select(BQ).order_by(BQ.c.broker, BQ.c.name))
    return [dict(r._mapping) for r in rows]
