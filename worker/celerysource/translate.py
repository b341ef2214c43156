"""Worker layer: turns one Celery event (the JSON body its event dispatcher sent) into the data layer's
CeleryTaskEvent / CeleryWorkerEvent: Celery's clock checked against the skew window, arguments truncated and
redacted per TASKLENS_REDACT (secret keys' values masked, its expressions replaced). Pure; no broker, no database."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from db.domain.clientclock import OutOfWindow, SkewWindow
from db.write.celery_ingest import RANK, CeleryTaskEvent
from db.write.celery_workers import CeleryWorkerEvent
from db.write.redact import Redactor

MAX_TEXT = 20_000  # results, exceptions and tracebacks (the activity line's limit)
MASK = "'***'"


@dataclass(frozen=True)
class Translator:
    window: SkewWindow
    args_max_chars: int = 1000
    redact_keys: frozenset[str] = frozenset()
    # TASKLENS_REDACT's expressions: a task's arguments are stored in its payload, which the write path's
    # redaction (free text only) does not reach.
    redactor: Redactor | None = None

    def __call__(self, body: dict[str, Any], now: datetime) -> CeleryTaskEvent | CeleryWorkerEvent | None:
        """None for events TaskLens has no use for (task-progress of other tools, malformed bodies)."""
        type_ = body.get("type")
        if not isinstance(type_, str):
            return None
        raw_ts = body.get("timestamp")
        at = self.clock(raw_ts, now)
        if type_.startswith("worker-"):
            kind = type_[len("worker-") :]
            hostname = body.get("hostname")
            if kind not in ("online", "heartbeat", "offline") or not isinstance(hostname, str):
                return None
            return CeleryWorkerEvent(
                kind,
                hostname,
                at,
                pid=_int(body.get("pid")),
                active=_int(body.get("active")),
                processed=_int(body.get("processed")),
            )
        if not type_.startswith("task-"):
            return None
        kind = type_[len("task-") :]
        uuid = body.get("uuid")
        if kind not in RANK or not isinstance(uuid, str) or not uuid or "\x00" in uuid or len(uuid) > 200:
            return None
        return CeleryTaskEvent(
            kind=kind,
            uuid=uuid,
            at=at,
            # Unique per task: two events of one type and one exact timestamp are the same event delivered twice.
            event_id=f"{kind}@{raw_ts!r}"[:200],
            hostname=_text(body.get("hostname"), 200) or "",
            name=_text(body.get("name"), 500),
            args=self.arguments(body.get("args")),
            kwargs=self.arguments(body.get("kwargs")),
            retries=_int(body.get("retries")) if body.get("retries") is not None else None,
            queue=_text(body.get("queue"), 200),
            routing_key=_text(body.get("routing_key"), 200),
            exchange=_text(body.get("exchange"), 200),
            eta=_text(body.get("eta"), 64),
            expires=_text(body.get("expires"), 64),
            root_id=_text(body.get("root_id"), 200),
            parent_id=_text(body.get("parent_id"), 200),
            runtime=_float(body.get("runtime")),
            result=_text(body.get("result"), MAX_TEXT),
            exception=_text(body.get("exception"), MAX_TEXT),
            traceback=_text(body.get("traceback"), MAX_TEXT),
            terminated=bool(body.get("terminated")),
            expired=bool(body.get("expired")),
            signum=body.get("signum"),
            requeue=bool(body.get("requeue")),
        )

    def clock(self, raw: Any, now: datetime) -> datetime:
        """Celery's timestamp (epoch seconds of the sender's clock) as naive UTC; outside the skew window (a
        wrong clock) or missing, the time it was received here: a stream cannot refuse an event as the API does."""
        if not isinstance(raw, int | float) or isinstance(raw, bool):
            return now
        try:
            at = datetime.fromtimestamp(float(raw), UTC).replace(tzinfo=None)
            return self.window.check(at, now)
        except (OutOfWindow, OverflowError, OSError, ValueError):
            return now

    def arguments(self, raw: Any) -> str | None:
        """Celery's repr of args or kwargs (a string since Celery 4: argsrepr), redacted, then truncated."""
        if raw is None or self.args_max_chars == 0:
            return None
        text = raw if isinstance(raw, str) else repr(raw)
        lowered = text.lower()
        if any(
            key in lowered for key in self.redact_keys
        ):  # parsing every repr would cost more than the rest
            text = redact(text, self.redact_keys)
        if self.redactor is not None:
            text = self.redactor.text(text)
        if len(text) > self.args_max_chars:
            text = text[: self.args_max_chars - 1] + "…"
        return text


def redact(text: str, keys: frozenset[str]) -> str:
    """Masks the values of dict entries whose key is one of `keys` (lower case) in a Python repr: parsed when
    it is a literal (nested dicts and lists too), else by pattern, so a truncated or odd repr still hides them."""
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return _redact_pattern(text, keys)
    masked, changed = _mask(value, keys)
    return repr(masked) if changed else text


def _mask(value: Any, keys: frozenset[str]) -> tuple[Any, bool]:
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        changed = False
        for k, v in value.items():
            if isinstance(k, str) and k.lower() in keys:
                out[k], changed = "***", True
            else:
                out[k], inner = _mask(v, keys)
                changed = changed or inner
        return out, changed
    if isinstance(value, list | tuple):
        items = [_mask(v, keys) for v in value]
        if not any(c for _, c in items):
            return value, False
        seq = [v for v, _ in items]
        return (tuple(seq) if isinstance(value, tuple) else seq), True
    return value, False


def _redact_pattern(text: str, keys: frozenset[str]) -> str:
    names = "|".join(re.escape(k) for k in sorted(keys))
    pattern = re.compile(
        rf"""(['"]?)({names})\1(\s*[:=]\s*)('(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|[^,}})\]\s]+)""",
        re.IGNORECASE,
    )
    return pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(1)}{m.group(3)}{MASK}", text)


def _text(value: Any, limit: int) -> str | None:
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text[:limit]


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
