"""Data layer: the notification outbox — due rows claimed by one worker at a time (PostgreSQL: FOR UPDATE
SKIP LOCKED; SQLite: BEGIN IMMEDIATE serialises claimers), then marked sent, or failed with a retry after an
exponential backoff. A claim is committed before anything is sent, so N workers never send one notification
twice; a worker that dies mid-send leaves its claim to expire and the row is sent again (at-least-once only
then; receivers can drop repeats by the notification id)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, or_, select, update
from sqlalchemy.orm import Session

from db.core.models import Alert, AlertNotification, AlertRule

NO = cast(Table, AlertNotification.__table__)
AL = cast(Table, Alert.__table__)
AR = cast(Table, AlertRule.__table__)

MAX_ATTEMPTS = 8
BACKOFF_FIRST = 2.0
BACKOFF_MAX = 300.0
MAX_ERROR = 2000


@dataclass(frozen=True)
class Notification:
    id: int
    alert_id: int
    channel: str
    channel_type: str
    event: str
    round: int
    target: dict[str, Any]
    attempts: int
    rule_id: int
    rule: str
    rule_kind: str
    severity: str
    state: str
    alert_target: str
    summary: str
    value: float | None
    labels: dict[str, Any]
    pending_at: datetime
    fired_at: datetime | None
    resolved_at: datetime | None
    acknowledged_by: str | None


def backoff_seconds(attempts: int) -> float:
    return float(min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** max(0, attempts - 1)))


def _due(now: datetime) -> Any:
    return or_(
        and_(NO.c.status == "pending", NO.c.next_attempt_at <= now),
        and_(NO.c.status == "sending", NO.c.claimed_until < now),  # a claimer that died mid-send
    )


def has_due(session: Session, now: datetime) -> bool:
    return session.scalar(select(NO.c.id).where(_due(now)).limit(1)) is not None


def claim_due(
    session: Session, worker_id: str, now: datetime, hold_seconds: float, limit: int = 20
) -> list[int]:
    ids = list(
        session.scalars(
            select(NO.c.id).where(_due(now)).order_by(NO.c.id).limit(limit).with_for_update(skip_locked=True)
        )
    )
    if ids:
        session.execute(
            update(NO)
            .where(NO.c.id.in_(ids))
            .values(
                status="sending",
                claimed_by=worker_id,
                claimed_until=now + timedelta(seconds=hold_seconds),
                attempts=NO.c.attempts + 1,
            )
        )
    return ids


def load(session: Session, ids: list[int]) -> list[Notification]:
    query = (
        select(
            NO,
            AR.c.name.label("rule"),
            AR.c.kind.label("rule_kind"),
            AL.c.rule_id,
            AL.c.severity,
            AL.c.state,
            AL.c.target.label("alert_target"),
            AL.c.summary,
            AL.c.value,
            AL.c.labels,
            AL.c.pending_at,
            AL.c.fired_at,
            AL.c.resolved_at,
            AL.c.acknowledged_by,
        )
        .join(AL, AL.c.id == NO.c.alert_id)
        .join(AR, AR.c.id == AL.c.rule_id)
        .where(NO.c.id.in_(ids))
        .order_by(NO.c.id)
    )
    return [
        Notification(
            id=r.id,
            alert_id=r.alert_id,
            channel=r.channel,
            channel_type=r.channel_type,
            event=r.event,
            round=r.round,
            target=dict(r.target or {}),
            attempts=r.attempts,
            rule_id=r.rule_id,
            rule=r.rule,
            rule_kind=r.rule_kind,
            severity=r.severity,
            state=r.state,
            alert_target=r.alert_target,
            summary=r.summary,
            value=r.value,
            labels=dict(r.labels or {}),
            pending_at=r.pending_at,
            fired_at=r.fired_at,
            resolved_at=r.resolved_at,
            acknowledged_by=r.acknowledged_by,
        )
        for r in session.execute(query)
    ]


def mark_sent(session: Session, notification_id: int, worker_id: str, now: datetime) -> bool:
    done = session.execute(
        update(NO)
        .where(NO.c.id == notification_id, NO.c.claimed_by == worker_id, NO.c.status == "sending")
        .values(status="sent", sent_at=now, last_error=None, claimed_until=None)
        .returning(NO.c.id)
    ).first()
    return done is not None


def mark_failed(session: Session, notification_id: int, worker_id: str, error: str, now: datetime) -> str:
    """Back to pending after the backoff, or failed for good after MAX_ATTEMPTS; returns the new status."""
    row = session.execute(
        select(NO.c.attempts).where(
            NO.c.id == notification_id, NO.c.claimed_by == worker_id, NO.c.status == "sending"
        )
    ).first()
    if row is None:
        return "lost"
    status = "failed" if row.attempts >= MAX_ATTEMPTS else "pending"
    session.execute(
        update(NO)
        .where(NO.c.id == notification_id)
        .values(
            status=status,
            last_error=error[:MAX_ERROR],
            claimed_until=None,
            next_attempt_at=now + timedelta(seconds=backoff_seconds(row.attempts)),
        )
    )
    return status


def of_alert(session: Session, alert_id: int) -> list[dict[str, Any]]:
    """Each channel's outcome for an alert, oldest first (the Alerts page and the API show them)."""
    query = select(
        NO.c.id,
        NO.c.channel,
        NO.c.channel_type,
        NO.c.event,
        NO.c.round,
        NO.c.status,
        NO.c.attempts,
        NO.c.last_error,
        NO.c.created_at,
        NO.c.sent_at,
    ).where(NO.c.alert_id == alert_id)
    return [dict(r._mapping) for r in session.execute(query.order_by(NO.c.id))]
