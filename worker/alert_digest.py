"""Worker layer: the daily digest of low-severity alerts — low alerts send nothing one by one; after midnight
UTC the evaluator sends, to each channel of the low rules and to TASKLENS_ALERT_WEBHOOK_URL, one message
listing the low alerts that fired the day before. Marked sent per day in `job_leases` before sending, so N
workers send it once (at most once: a failed POST is logged, not retried)."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

from sqlalchemy import select

from db import leases
from db.alert_rules import list_rules
from db.alert_store import AL, LOW, Delivery, deliveries
from db.recorder import Recorder
from db.settings import Settings
from db.timeutil import day_start, iso
from reports.deliver import DeliveryError, SmtpConfig, post_webhook, send_email
from worker.alert_channels import USER_AGENT

log = logging.getLogger(__name__)

DIGEST = "alerts:digest"
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


def _send(d: Delivery, day: str, alerts: list[dict[str, Any]], settings: Settings) -> None:
    title = f"TaskLens daily digest {day}: {len(alerts)} low-severity alert{'s' if len(alerts) != 1 else ''}"
    if d.type == "email":
        smtp = SmtpConfig.from_settings(settings)
        if smtp is None:
            raise DeliveryError("e-mail channel but TASKLENS_SMTP_HOST is not set")
        message = EmailMessage()
        message["Subject"], message["From"], message["To"] = title, smtp.sender, ", ".join(d.target["to"])
        message.set_content("\n".join([title, "", *_lines(alerts), "", f"{settings.base_url}/alerts"]))
        send_email(smtp, message)
        return
    text = "\n".join([title, *_lines(alerts)])
    body: dict[str, Any]
    if d.type == "slack":
        body = {
            "text": title,
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}],
        }
    elif d.type == "discord":
        body = {
            "content": title[:2000],
            "embeds": [
                {"title": title[:256], "description": text[:4096], "url": f"{settings.base_url}/alerts"}
            ],
            "allowed_mentions": {"parse": []},
        }
    else:
        body = digest_payload(day, alerts, settings.base_url)
    headers = {"User-Agent": USER_AGENT, "Idempotency-Key": f"tasklens-digest-{day}"}
    post_webhook(str(d.target["url"]), body, headers=headers)


def send_digest(recorder: Recorder, settings: Settings, now: datetime) -> int:
    """Yesterday's (UTC) digest, once across the fleet; returns the messages sent (0 when already sent or
    when no low alert fired)."""
    end = day_start(now)
    start = end - timedelta(days=1)
    day = start.date().isoformat()
    with recorder.transaction() as session:
        if not leases.mark_once(session, DIGEST, day, now):
            return 0
        rules = {r.id: r for r in list_rules(session) if r.severity == LOW}
    if not rules:
        return 0
    with recorder.db.reading() as session:
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
    sent = 0
    for d, alerts in by_channel.values():
        try:
            _send(d, day, alerts, settings)
            sent += 1
        except DeliveryError as exc:
            log.warning("alert digest of %s via %s: %s", day, d.type, exc)
    return sent
