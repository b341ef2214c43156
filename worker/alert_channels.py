"""Worker layer: what each alert channel is sent — the generic webhook's documented JSON, Slack's and
Discord's incoming-webhook formats, an e-mail — as pure functions of a notification, and the sending itself
(the report delivery's POST and SMTP code, reused)."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

from config import Settings
from db.alerts.outbox import Notification
from db.core.timeutil import iso, utcnow
from reports.deliver import DeliveryError, SmtpConfig, post_webhook, send_email

SCHEMA_VERSION = 1
USER_AGENT = "TaskLens-alerts/1"
# Discord embed colours (decimal RGB) and Slack emoji by severity; resolved is green whatever the severity.
COLOURS = {"critical": 0xB00020, "high": 0xE8590C, "medium": 0xF2C200, "low": 0x4263EB, "resolved": 0x2B8A3E}
EMOJI = {"critical": ":red_circle:", "high": ":large_orange_circle:", "medium": ":large_yellow_circle:"}
SLACK_TEXT_MAX = 3000  # a section block's text limit
DISCORD_TITLE_MAX = 256
DISCORD_DESCRIPTION_MAX = 4096


def task_of(n: Notification) -> int | None:
    task_id = n.labels.get("task_id")
    return int(task_id) if isinstance(task_id, int | str) and str(task_id).isdigit() else None


def headline(n: Notification) -> str:
    word = "RESOLVED" if n.event == "resolved" else "FIRING"
    return f"[{word} · {n.severity}] {n.rule}"


def webhook_payload(n: Notification, base_url: str) -> dict[str, Any]:
    """The generic webhook's JSON (README "Alerts": webhook JSON): one POST when an alert fires (again on each
    repeat, with `repeat` > 0) and one when it resolves."""
    task_id = task_of(n)
    return {
        "version": SCHEMA_VERSION,
        "notification_id": n.id,
        "event": n.event,
        "repeat": n.round if n.event == "firing" else 0,
        "alert": {
            "id": n.alert_id,
            "state": n.state,
            "severity": n.severity,
            "rule": {"id": n.rule_id, "name": n.rule, "kind": n.rule_kind},
            "target": n.alert_target,
            "summary": n.summary,
            "value": n.value,
            "labels": n.labels,
            "started_at": iso(n.pending_at),
            "fired_at": iso(n.fired_at),
            "resolved_at": iso(n.resolved_at),
            "acknowledged_by": n.acknowledged_by,
            "url": f"{base_url}/alerts?alert={n.alert_id}",
        },
        "task": None
        if task_id is None
        else {"id": task_id, "title": n.labels.get("task_title"), "url": f"{base_url}/tasks/{task_id}"},
        "sent_at": iso(utcnow()),
    }


def slack_payload(n: Notification, base_url: str) -> dict[str, Any]:
    """Slack incoming webhook: `text` (the notification's fallback) plus one mrkdwn section block."""
    mark = ":white_check_mark:" if n.event == "resolved" else EMOJI.get(n.severity, ":large_blue_circle:")
    link = f"<{base_url}/alerts?alert={n.alert_id}|alert #{n.alert_id}>"
    text = f"{mark} *{headline(n)}*\n{n.summary}\n{link}"
    task_id = task_of(n)
    if task_id is not None:
        text += f" · <{base_url}/tasks/{task_id}|task #{task_id}>"
    return {
        "text": f"{headline(n)}: {n.summary}",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text[:SLACK_TEXT_MAX]}}],
    }


def discord_payload(n: Notification, base_url: str) -> dict[str, Any]:
    """Discord incoming webhook: a short `content` and one embed (title, description, url, colour, fields)."""
    colour = COLOURS["resolved"] if n.event == "resolved" else COLOURS.get(n.severity, COLOURS["low"])
    fields = [
        {"name": "Severity", "value": n.severity, "inline": True},
        {"name": "Target", "value": n.alert_target[:1024], "inline": True},
    ]
    return {
        "content": headline(n)[:2000],
        "embeds": [
            {
                "title": headline(n)[:DISCORD_TITLE_MAX],
                "description": n.summary[:DISCORD_DESCRIPTION_MAX],
                "url": f"{base_url}/alerts?alert={n.alert_id}",
                "color": colour,
                "fields": fields,
                "timestamp": iso(n.resolved_at if n.event == "resolved" else n.fired_at or n.pending_at),
            }
        ],
        "allowed_mentions": {"parse": []},  # a summary quoting "@everyone" must not ping anyone
    }


def email_message(n: Notification, base_url: str, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = f"{headline(n)}: {n.summary}"[:250]
    message["From"] = sender
    message["To"] = ", ".join(n.target.get("to", []))
    lines = [
        headline(n),
        "",
        n.summary,
        "",
        f"Target: {n.alert_target}",
        f"Alert: {base_url}/alerts?alert={n.alert_id}",
    ]
    task_id = task_of(n)
    if task_id is not None:
        lines.append(f"Task: {base_url}/tasks/{task_id}")
    message.set_content("\n".join(lines))
    return message


def send(n: Notification, settings: Settings) -> None:
    """Deliver one notification; DeliveryError says why it could not."""
    base = settings.base_url
    if n.channel_type == "email":
        smtp = SmtpConfig.from_settings(settings)
        if smtp is None:
            raise DeliveryError("e-mail channel but TASKLENS_SMTP_HOST is not set")
        send_email(smtp, email_message(n, base, smtp.sender))
        return
    builders = {"webhook": webhook_payload, "slack": slack_payload, "discord": discord_payload}
    build = builders.get(n.channel_type)
    if build is None:
        raise DeliveryError(f"unknown channel type {n.channel_type!r}")
    # Receivers can drop a repeat (a worker that died mid-send leaves its claim to expire) by this key.
    headers = {"User-Agent": USER_AGENT, "Idempotency-Key": f"tasklens-alert-notification-{n.id}"}
    post_webhook(str(n.target.get("url")), build(n, base), headers=headers)
