"""Worker layer: the daily digest of low-severity alerts — low alerts send nothing one by one; after midnight
UTC the evaluator enqueues, for each channel of the low rules and TASKLENS_ALERT_WEBHOOK_URL, one outbox row
(event "digest") listing the low alerts that fired the day before, in the transaction that marks the day done
in `job_leases`: N workers enqueue it once, and the outbox's delivery sends it like every notification
(claimed, retried with backoff, recorded per channel)."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from sqlalchemy import insert, select

from config import Settings
from db.alerts.outbox import NO, Notification
from db.alerts.rules import list_rules
from db.alerts.store import AL, LOW, Delivery, deliveries
from db.control import leases
from db.core.timeutil import day_start, iso, utcnow
from db.write.recorder import Recorder
from reports.deliver import DeliveryError, SmtpConfig, post_webhook, send_email
from worker.alert_channels import USER_AGENT

log = logging.getLogger(__name__)

DIGEST = "alerts:digest"
EVENT = "digest"  # the outbox rows' event
MAX_LISTED = 200


def digest_payload(day: str, alerts: list[dict[str, Any]], base_url: str) -> dict[str, Any]:
    """The generic webhook's digest body (README "Alerts")."""
    return {
        "version": 1,
        "event": "digest",
        "severity": LOW,
        "day": day,
        "count": len(alerts),
        "alerts": alerts[:MAX_LISTED],
        "url": f"{base_url}/alerts",
    }


def _lines(alerts: list[dict[str, Any]]) -> list[str]:
    return [f"• {a['rule']}: {a['summary']}" for a in alerts[:MAX_LISTED]]


def send_digest(n: Notification, settings: Settings) -> None:
    """Deliver one digest outbox row (its target carries the channel's address and the digest); DeliveryError
    says why it could not."""
    digest = n.target.get("digest") or {}
    day, alerts = str(digest.get("day")), list(digest.get("alerts") or [])
    count = int(digest.get("count", len(alerts)))
    title = f"TaskLens daily digest {day}: {count} low-severity alert{'s' if count != 1 else ''}"
    if n.channel_type == "email":
        smtp = SmtpConfig.from_settings(settings)
        if smtp is None:
            raise DeliveryError("e-mail channel but TASKLENS_SMTP_HOST is not set")
        message = EmailMessage()
        message["Subject"], message["From"], message["To"] = title, smtp.sender, ", ".join(n.target["to"])
        message.set_content("\n".join([title, "", *_lines(alerts), "", f"{settings.base_url}/alerts"]))
        send_email(smtp, message)
        return
    text = "\n".join([title, *_lines(alerts)])
    body: dict[str, Any]
    if n.channel_type == "slack":
        body = {
            "text": title,
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}],
        }
    elif n.channel_type == "discord":
        body = {
            "content": title[:2000],
            "embeds": [
                {"title": title[:256], "description": text[:4096], "url": f"{settings.base_url}/alerts"}
            ],
            "allowed_mentions": {"parse": []},
        }
    elif n.channel_type == "webhook":
        body = {**digest_payload(day, alerts, settings.base_url), "count": count}
    else:
        raise DeliveryError(f"unknown channel type {n.channel_type!r}")
    headers = {"User-Agent": USER_AGENT, "Idempotency-Key": f"tasklens-digest-{day}"}
    post_webhook(str(n.target.get("url")), body, headers=headers)


def enqueue_digest(recorder: Recorder, settings: Settings, now: datetime) -> int:
    """Yesterday's (UTC) digest, once across the fleet: one outbox row per channel, written in the transaction
    that marks the day done; returns the rows written (0 when already done or when no low alert fired). A row
    hangs on the channel's first listed alert (the outbox's key: alert, channel, event, round)."""
    end = day_start(now)
    start = end - timedelta(days=1)
    day = start.date().isoformat()
    with recorder.transaction() as session:
        if not leases.mark_once(session, DIGEST, day, now):
            return 0
        rules = {r.id: r for r in list_rules(session) if r.severity == LOW}
        if not rules:
            return 0
        rows = session.execute(
            select(AL.c.id, AL.c.rule_id, AL.c.target, AL.c.summary, AL.c.fired_at, AL.c.resolved_at)
            .where(AL.c.fired_at >= start, AL.c.fired_at < end, AL.c.rule_id.in_(list(rules)))
            .order_by(AL.c.id)
        ).all()
        by_channel: dict[str, tuple[Delivery, list[dict[str, Any]]]] = {}
        grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for r in rows:
            entry = {"id": r.id, "rule": rules[r.rule_id].name, "target": r.target, "summary": r.summary,
                     "fired_at": iso(r.fired_at), "resolved_at": iso(r.resolved_at)}  # fmt: skip
            for d in deliveries(rules[r.rule_id], settings.alert_webhook_url):
                by_channel.setdefault(d.key, (d, grouped[d.key]))
                grouped[d.key].append(entry)
        written = utcnow()
        outbox = [
            {
                "alert_id": alerts[0]["id"],
                "channel": d.key[:300],
                "channel_type": d.type,
                "event": EVENT,
                "round": 0,
                "target": {
                    **d.target,
                    "digest": {"day": day, "count": len(alerts), "alerts": alerts[:MAX_LISTED]},
                },
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": written,  # due at once (`now` picks the day)
                "created_at": written,
            }
            for d, alerts in by_channel.values()
        ]
        if outbox:
            session.execute(insert(NO), outbox)
    if outbox:
        log.info("alert digest of %s enqueued for %d channel(s)", day, len(outbox))
    return len(outbox)
