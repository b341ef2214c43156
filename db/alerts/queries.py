"""Data layer: reading alerts — filtered lists paged by id (newest first), one alert with its deliveries and
acknowledgements, and the firing count the navbar's bell shows. Whether an alert is silenced is worked out
here from the silences in force, so it is always current (a silence can start or end at any moment)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from db.alerts import outbox as alert_outbox
from db.alerts.silences import active_silences, silenced_by
from db.alerts.store import AL, OPEN, AlertState
from db.core.models import AlertAck, AlertRule, TaskEvent
from db.domain.states import EventType
from db.live.feed import COLUMNS, FeedEvent

AR = cast(Table, AlertRule.__table__)
ACK = cast(Table, AlertAck.__table__)

# The Alerts page's tabs: what each shows.
VIEWS = ("firing", "acknowledged", "silenced", "pending", "history")


def _row(row: Any, silences: list[Any], now: datetime) -> dict[str, Any]:
    out = dict(row._mapping)
    silence = silenced_by(silences, out.get("labels") or {}, now) if out["state"] in OPEN else None
    out["silenced_by"] = silence.id if silence is not None else None
    out["labels"] = dict(out.get("labels") or {})
    out["actions_taken"] = list(out.get("actions_taken") or [])
    out.pop("open_key", None)
    return out


def _columns() -> Any:
    return select(
        AL.c.id,
        AL.c.rule_id,
        AR.c.name.label("rule"),
        AR.c.kind.label("rule_kind"),
        AL.c.target,
        AL.c.open_key,
        AL.c.state,
        AL.c.severity,
        AL.c.summary,
        AL.c.value,
        AL.c.labels,
        AL.c.pending_at,
        AL.c.fired_at,
        AL.c.resolved_at,
        AL.c.acknowledged_at,
        AL.c.acknowledged_by,
        AL.c.ack_note,
        AL.c.last_notified_at,
        AL.c.notify_round,
        AL.c.actions_taken,
        AL.c.updated_at,
    ).join(AR, AR.c.id == AL.c.rule_id)


def list_alerts(
    session: Session,
    now: datetime,
    *,
    states: tuple[str, ...] = (),
    severities: tuple[str, ...] = (),
    rule_id: int | None = None,
    acknowledged: bool | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    query = _columns()
    if states:
        query = query.where(AL.c.state.in_(states))
    if severities:
        query = query.where(AL.c.severity.in_(severities))
    if rule_id is not None:
        query = query.where(AL.c.rule_id == rule_id)
    if acknowledged is not None:
        query = query.where(
            AL.c.acknowledged_at.is_not(None) if acknowledged else AL.c.acknowledged_at.is_(None)
        )
    if before is not None:
        query = query.where(AL.c.id < before)
    silences = active_silences(session, now)
    return [_row(r, silences, now) for r in session.execute(query.order_by(AL.c.id.desc()).limit(limit))]


def view(session: Session, now: datetime, name: str, limit: int = 200) -> list[dict[str, Any]]:
    """One tab of the Alerts page: firing (neither acknowledged nor silenced), acknowledged, silenced,
    pending, or history (resolved, newest first)."""
    if name == "history":
        return list_alerts(session, now, states=(AlertState.RESOLVED.value,), limit=limit)
    if name == "pending":
        return list_alerts(session, now, states=(AlertState.PENDING.value,), limit=limit)
    firing = list_alerts(session, now, states=(AlertState.FIRING.value,), limit=limit)
    if name == "acknowledged":
        return [a for a in firing if a["acknowledged_at"] is not None]
    if name == "silenced":
        return [a for a in firing if a["silenced_by"] is not None and a["acknowledged_at"] is None]
    return [a for a in firing if a["silenced_by"] is None and a["acknowledged_at"] is None]


def get_alert(session: Session, alert_id: int, now: datetime) -> dict[str, Any] | None:
    row = session.execute(_columns().where(AL.c.id == alert_id)).first()
    if row is None:
        return None
    out = _row(row, active_silences(session, now), now)
    out["notifications"] = alert_outbox.of_alert(session, alert_id)
    acks = select(ACK.c.actor, ACK.c.note, ACK.c.at).where(ACK.c.alert_id == alert_id).order_by(ACK.c.id)
    out["acks"] = [dict(r._mapping) for r in session.execute(acks)]
    return out


def firing_counts(session: Session) -> dict[str, int]:
    """Firing alerts by severity (acknowledged ones included: they still fire), for the bell and /metrics."""
    query = (
        select(AL.c.severity, func.count())
        .where(AL.c.state == AlertState.FIRING.value)
        .group_by(AL.c.severity)
    )
    return {r[0]: int(r[1]) for r in session.execute(query)}


def firing_by_rule(session: Session) -> list[tuple[str, str, int]]:
    """(rule name, severity, firing count) for Prometheus."""
    query = (
        select(AR.c.name, AL.c.severity, func.count())
        .join(AR, AR.c.id == AL.c.rule_id)
        .where(AL.c.state == AlertState.FIRING.value)
        .group_by(AR.c.name, AL.c.severity)
    )
    return [(r[0], r[1], int(r[2])) for r in session.execute(query)]


def alert_events(session: Session, after: int, upto: int, limit: int = 500) -> list[FeedEvent]:
    """The alert events with after < seq <= upto, in seq order, at most the newest `limit` (what the shell's
    toasts read when a push wakes them; alert events have no task, so the (task_id, seq) index serves)."""
    e = TaskEvent.__table__.c
    rows = session.execute(
        select(*COLUMNS)
        .where(e.task_id.is_(None), e.type == EventType.ALERT.value, e.seq > after, e.seq <= upto)
        .order_by(e.seq.desc())
        .limit(limit)
    ).all()
    return [FeedEvent(*row) for row in reversed(rows)]
