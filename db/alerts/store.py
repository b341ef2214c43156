"""Data layer: the alert lifecycle — pending → firing → resolved, one open alert per rule and target,
acknowledgements, repeat notifications and actions taken. Every change appends an `alert` event to the log
(so the websocket carries it) and writes the notifications it owes into the outbox, in the caller's
transaction: the change and its notifications commit together or not at all."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from db.alerts.rules import Rule
from db.alerts.silences import Silence, silenced_by
from db.core.models import Alert, AlertAck, AlertNotification
from db.domain.states import EventType
from db.write.writes import E, note_events

AL = cast(Table, Alert.__table__)
ACK = cast(Table, AlertAck.__table__)
NO = cast(Table, AlertNotification.__table__)

DEFAULT_WEBHOOK = "default-webhook"
LOW = "low"


class AlertState(StrEnum):
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


OPEN = (AlertState.PENDING.value, AlertState.FIRING.value)


@dataclass(frozen=True)
class Finding:
    """A target for which a rule's condition holds now."""

    target: str
    summary: str
    value: float | None = None
    labels: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    """Where a notification goes: its outbox key, channel type and address (url or recipients)."""

    key: str
    type: str
    target: dict[str, Any]


@dataclass(frozen=True)
class Context:
    """What the lifecycle needs besides the rule: the clock, silences in force, the default webhook."""

    now: datetime
    silences: list[Silence]
    default_webhook: str | None = None
    actor: str = "alerts"


class AlertNotOpen(LookupError):
    def __init__(self, alert_id: int) -> None:
        super().__init__(f"alert {alert_id} does not exist or is resolved")
        self.alert_id = alert_id


def open_key(rule_id: int, target: str) -> str:
    return f"{rule_id}|{target}"[:250]


def labels_of(rule: Rule, finding: Finding) -> dict[str, Any]:
    return {
        **finding.labels,
        "rule": rule.name,
        "rule_id": str(rule.id),
        "rule_kind": rule.kind,
        "severity": rule.severity,
        "target": finding.target,
    }


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def deliveries(rule: Rule, default_webhook: str | None) -> list[Delivery]:
    out = []
    for channel in rule.channels:
        if channel["type"] == "email":
            out.append(Delivery("email:" + ",".join(channel["to"]), "email", {"to": list(channel["to"])}))
        else:
            out.append(
                Delivery(f"{channel['type']}:{channel['url']}", channel["type"], {"url": channel["url"]})
            )
    if default_webhook:
        out.append(Delivery(DEFAULT_WEBHOOK, "webhook", {"url": default_webhook}))
    return out


def _event(session: Session, alert_id: int, change: str, row: dict[str, Any], ctx: Context) -> None:
    payload = {
        "alert_id": alert_id,
        "change": change,
        "rule_id": row.get("rule_id"),
        "state": row.get("state"),
        "severity": row.get("severity"),
        "target": row.get("target"),
        "summary": row.get("summary"),
    }
    session.execute(
        insert(E).values(
            task_id=None, type=EventType.ALERT.value, actor=ctx.actor, payload=payload, at=ctx.now
        )
    )
    note_events(session, 1)


def _notify(
    session: Session, alert_id: int, rule: Rule, event: str, round_: int, labels: dict[str, Any], ctx: Context
) -> bool:
    """Outbox rows for each channel of the rule; none while a silence matches, and none for low severity (the
    daily digest tells of those: worker/alert_digest.py). True when any was written."""
    if rule.severity == LOW or silenced_by(ctx.silences, labels, ctx.now) is not None:
        return False
    targets = deliveries(rule, ctx.default_webhook)
    if not targets:
        return False
    session.execute(
        insert(NO),
        [
            {
                "alert_id": alert_id,
                "channel": d.key[:300],
                "channel_type": d.type,
                "event": event,
                "round": round_,
                "target": d.target,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": ctx.now,
                "created_at": ctx.now,
            }
            for d in targets
        ],
    )
    return True


def open_alerts(session: Session, rule_id: int) -> list[Any]:
    # ix_alerts_state: the open ones are a handful however long the history is.
    return list(session.execute(select(AL).where(AL.c.state.in_(OPEN), AL.c.rule_id == rule_id)))


def open_by_rule(session: Session) -> dict[int, list[Any]]:
    """Every open alert, by rule: one read for the evaluator's whole cycle."""
    out: dict[int, list[Any]] = {}
    for row in session.execute(select(AL).where(AL.c.state.in_(OPEN))):
        out.setdefault(row.rule_id, []).append(row)
    return out


def reconcile(session: Session, rule: Rule, findings: list[Finding], ctx: Context) -> list[int]:
    """Bring the rule's open alerts in line with what holds now; returns the ids of alerts that changed.
    Writes nothing when nothing changed, so a quiet evaluation cycle costs only its reads."""
    now, changed = ctx.now, []
    current = {row.target: row for row in open_alerts(session, rule.id)}
    wanted = {f.target: f for f in findings}
    hold = timedelta(seconds=rule.for_seconds)
    for target, finding in wanted.items():
        labels = labels_of(rule, finding)
        row = current.get(target)
        if row is None:
            firing = rule.for_seconds <= 0
            values: dict[str, Any] = {
                "rule_id": rule.id,
                "target": target,
                "open_key": open_key(rule.id, target),
                "state": AlertState.FIRING.value if firing else AlertState.PENDING.value,
                "severity": rule.severity,
                "summary": finding.summary,
                "value": finding.value,
                "labels": labels,
                "pending_at": now,
                "fired_at": now if firing else None,
                "notify_round": 0,
                "actions_taken": [],
                "updated_at": now,
            }
            alert_id = session.execute(insert(AL).values(**values).returning(AL.c.id)).scalar_one()
            if firing and _notify(session, alert_id, rule, "firing", 0, labels, ctx):
                session.execute(update(AL).where(AL.c.id == alert_id).values(last_notified_at=now))
            _event(session, alert_id, str(values["state"]), values, ctx)
            changed.append(alert_id)
        elif row.state == AlertState.PENDING.value and now - row.pending_at >= hold:
            values = {"state": AlertState.FIRING.value, "fired_at": now, "updated_at": now}
            values |= {"summary": finding.summary, "value": finding.value, "labels": labels}
            if _notify(session, row.id, rule, "firing", 0, labels, ctx):
                values["last_notified_at"] = now
            session.execute(update(AL).where(AL.c.id == row.id).values(**values))
            _event(session, row.id, "firing", {**row._asdict(), **values}, ctx)
            changed.append(row.id)
        elif owes_first(rule, row, ctx):
            if _notify(session, row.id, rule, "firing", row.notify_round, labels, ctx):
                session.execute(
                    update(AL).where(AL.c.id == row.id).values(last_notified_at=now, updated_at=now)
                )
                changed.append(row.id)
        elif row.state == AlertState.FIRING.value and _repeat_due(rule, row, now):
            round_ = row.notify_round + 1
            values = {"notify_round": round_, "last_notified_at": now, "updated_at": now}
            _notify(session, row.id, rule, "firing", round_, labels, ctx)
            session.execute(update(AL).where(AL.c.id == row.id).values(**values))
            changed.append(row.id)
    for target, row in current.items():
        if target in wanted:
            continue
        values = {"state": AlertState.RESOLVED.value, "open_key": None, "resolved_at": now, "updated_at": now}
        # Resolved goes where firing went: a pending alert, or one silenced throughout, told no one.
        if row.state == AlertState.FIRING.value and row.last_notified_at is not None:
            _notify(session, row.id, rule, "resolved", row.notify_round, dict(row.labels or {}), ctx)
        session.execute(update(AL).where(AL.c.id == row.id).values(**values))
        _event(session, row.id, "resolved", {**row._asdict(), **values}, ctx)
        changed.append(row.id)
    return changed


def owes_first(rule: Rule, row: Any, ctx: Context) -> bool:
    """A firing alert that told no one (a silence matched when it fired) and now may: the silence ended, as
    Alertmanager sends what a silence held back once it expires."""
    return bool(
        row.state == AlertState.FIRING.value
        and row.last_notified_at is None
        and row.acknowledged_at is None
        and rule.severity != LOW
        and deliveries(rule, ctx.default_webhook)
        and silenced_by(ctx.silences, dict(row.labels or {}), ctx.now) is None
    )


def _repeat_due(rule: Rule, row: Any, now: datetime) -> bool:
    if not rule.repeat_seconds or row.acknowledged_at is not None or row.last_notified_at is None:
        return False
    return bool(now - row.last_notified_at >= timedelta(seconds=rule.repeat_seconds))


def acknowledge(session: Session, alert_id: int, actor: str, note: str, now: datetime) -> None:
    """Marks an open alert acknowledged (who, when, note; each ack is kept): its repeats stop."""
    row = session.execute(
        update(AL)
        .where(AL.c.id == alert_id, AL.c.state.in_(OPEN))
        .values(acknowledged_at=now, acknowledged_by=actor, ack_note=note, updated_at=now)
        .returning(*AL.c)
    ).first()
    if row is None:
        raise AlertNotOpen(alert_id)
    session.execute(insert(ACK).values(alert_id=alert_id, actor=actor, note=note, at=now))
    _event(session, alert_id, "acknowledged", row._asdict(), Context(now, [], actor=actor))


def record_action(session: Session, alert_id: int, action: dict[str, Any], now: datetime, actor: str) -> None:
    """Appends an action taken (what, when, outcome) to the alert, shown on it and announced like a change."""
    row = session.execute(select(AL).where(AL.c.id == alert_id)).first()
    if row is not None:
        set_actions(session, alert_id, [*(row.actions_taken or []), action], now, actor)


def set_actions(
    session: Session, alert_id: int, taken: list[dict[str, Any]], now: datetime, actor: str
) -> None:
    """Replaces the alert's list of actions taken (an entry's follow-up changed, e.g. its retry queued)."""
    row = session.execute(
        update(AL).where(AL.c.id == alert_id).values(actions_taken=taken, updated_at=now).returning(*AL.c)
    ).first()
    if row is not None:
        _event(session, alert_id, "action", row._asdict(), Context(now, [], actor=actor))
