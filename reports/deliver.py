"""Reports layer: delivery of a finished scheduled run — an e-mail over SMTP (the files attached while they
fit under a size limit, links otherwise) and a JSON POST to a webhook, each with a timeout. A failure is
returned to the caller, which records it per channel; it never fails the run."""

from __future__ import annotations

import json
import mimetypes
import smtplib
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote

from config import Settings
from db.core.timeutil import iso
from db.reporting.store import Run
from reports.period import Period, PeriodKind

SMTP_TIMEOUT_SECONDS = 30.0
WEBHOOK_TIMEOUT_SECONDS = 10.0
USER_AGENT = "TaskLens-report-webhook/1"


class DeliveryError(RuntimeError):
    """A channel could not deliver; the message says why, for the run's delivery status."""


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    user: str | None
    password: str | None
    sender: str
    starttls: bool
    timeout: float = SMTP_TIMEOUT_SECONDS

    @classmethod
    def from_settings(cls, settings: Settings) -> SmtpConfig | None:
        if not settings.smtp_host:
            return None
        return cls(
            host=settings.smtp_host,
            port=settings.smtp_port,
            user=settings.smtp_user,
            password=settings.smtp_password,
            sender=settings.smtp_from,
            starttls=settings.smtp_starttls,
        )


def file_path(run_id: int, name: str) -> str:
    """The dashboard route that serves a run's file (dashboard/routes.py)."""
    return f"/reports/files/{run_id}/{quote(name)}"


def run_period(run: Run) -> Period:
    return Period(PeriodKind(run.period_kind), run.period_start, run.period_end)


def size_text(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size / 1024 / 1024:.1f} MB"


def filters_text(kinds: tuple[str, ...], tags: tuple[str, ...]) -> str:
    parts = [f"kind {', '.join(kinds)}"] if kinds else []
    parts += [f"tag {', '.join(tags)}"] if tags else []
    return "; ".join(parts) or "all tasks"


def email_message(
    run: Run, files_dir: Path, recipients: tuple[str, ...], sender: str, base_url: str, attach_max_bytes: int
) -> EmailMessage:
    """The e-mail of a run: what it covers, each file as an attachment while the total fits under
    `attach_max_bytes` (smallest first, so the most files fit), the rest as links; or why it failed."""
    period = run_period(run)
    title = run.schedule_name or "TaskLens report"
    outcome = "" if run.status == "completed" else " FAILED"
    message = EmailMessage()
    message["Subject"] = f"{title}{outcome}: {period.label}"
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    lines = [f"{title} — {period.label}", f"Tasks: {filters_text(run.kinds, run.tags)}", ""]
    attached: list[Path] = []
    if run.status == "completed":
        budget = attach_max_bytes
        for f in sorted(run.files, key=lambda f: int(f.get("size") or 0)):
            name, size = str(f["name"]), int(f.get("size") or 0)
            path = files_dir / name
            if size <= budget and path.is_file():
                attached.append(path)
                budget -= size
                lines.append(f"- {name} ({size_text(size)}, attached)")
            else:
                lines.append(f"- {name} ({size_text(size)}): {base_url}{file_path(run.id, name)}")
    else:
        lines.append(f"The report could not be built: {run.error or 'unknown error'}")
    lines += ["", f"All reports: {base_url}/reports"]
    message.set_content("\n".join(lines))
    for path in attached:
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        maintype, subtype = kind.split("/", 1)
        message.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name)
    return message


def send_email(config: SmtpConfig, message: EmailMessage) -> None:
    try:
        with smtplib.SMTP(config.host, config.port, timeout=config.timeout) as smtp:
            if config.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if config.user:
                smtp.login(config.user, config.password or "")
            smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise DeliveryError(f"SMTP {config.host}:{config.port}: {exc}") from None


def webhook_payload(run: Run, base_url: str) -> dict[str, Any]:
    period = run_period(run)
    return {
        "event": f"report.{run.status}",
        "run_id": run.id,
        "schedule_id": run.schedule_id,
        "schedule": run.schedule_name,
        "trigger": run.trigger,
        "status": run.status,
        "error": run.error,
        "period": {
            "kind": period.kind.value,
            "start": iso(period.start),
            "end": iso(period.end),
            "label": period.label,
        },
        "filters": {"kind": list(run.kinds), "tag": list(run.tags)},
        "scheduled_for": iso(run.scheduled_for),
        "completed_at": iso(run.completed_at),
        "files": [
            {
                "format": f.get("format"),
                "name": f.get("name"),
                "size": f.get("size"),
                "path": file_path(run.id, str(f.get("name"))),
                "url": base_url + file_path(run.id, str(f.get("name"))),
            }
            for f in run.files
        ],
        "reports_url": f"{base_url}/reports",
    }


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # A redirected POST would arrive as a GET without its body: report the redirect instead of following it.
    def redirect_request(self, *_: Any, **__: Any) -> None:
        return None


def post_webhook(
    url: str,
    payload: dict[str, Any],
    timeout: float = WEBHOOK_TIMEOUT_SECONDS,
    headers: dict[str, str] | None = None,
) -> int:
    """POST the payload as JSON; returns the HTTP status (2xx), raises DeliveryError otherwise. `headers` are
    added to (or replace) the defaults: alerts send their own User-Agent and an idempotency key."""
    body = json.dumps(payload).encode()
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **(headers or {})},
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=timeout) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"the webhook answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"could not reach the webhook: {reason}") from None
    if not 200 <= status < 300:
        raise DeliveryError(f"the webhook answered HTTP {status}")
    return status
