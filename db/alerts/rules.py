"""Data layer: alert rules as data — the kinds, scopes and severities there are, validation that names the
field at fault, the built-in rules, and reading and editing rules (functions take a session, never commit)."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any, cast
from urllib.parse import urlsplit

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.orm import Session

from db.core.models import AlertRule

AR = cast(Table, AlertRule.__table__)


class RuleKind(StrEnum):
    STUCK_TASK = "stuck_task"  # a running task silent for longer than the threshold (seconds)
    TASK_FAILED = "task_failed"  # a task of the scope failed within the window
    FAILURE_RATE = "failure_rate"  # failed / finished over the window, above the threshold (0..1)
    QUEUE_DEPTH = "queue_depth"  # queued tasks above the threshold
    BUDGET_USED = "budget_used"  # a budget's spend / limit at or above the threshold (0.8 = 80 %)
    BUDGET_PROJECTED = "budget_projected"  # a budget's projected spend / limit above the threshold
    WORKER_OFFLINE = "worker_offline"  # a worker lost its heartbeat within the window
    COST_SPIKE = "cost_spike"  # spend over the window above threshold x the same window's 7-day mean
    RESPONSE_TIME = (
        "response_time"  # mean duration (s) of the calls started in the window above the threshold
    )
    WORKERS_UNAVAILABLE = "workers_unavailable"  # share of the workers seen in the window that are offline
    CONTEXT_WINDOW = (
        "context_window"  # a call's prompt (input + cache read tokens) over threshold x its model's window
    )
    # A Celery broker queue holding more waiting messages than the threshold, as the Celery source measured it.
    BROKER_QUEUE_DEPTH = "broker_queue_depth"


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class ChannelType(StrEnum):
    WEBHOOK = "webhook"
    SLACK = "slack"
    DISCORD = "discord"
    EMAIL = "email"


class ActionType(StrEnum):
    CANCEL_TASK = "cancel_task"  # stuck task: cancel it
    CANCEL_AND_RETRY = "cancel_and_retry"  # stuck task: cancel it, then queue it again once cancelled
    PAUSE_KIND = "pause_kind"  # failure rate of a kind: workers claim none of that kind until acknowledged
    PAUSE_TAG = "pause_tag"  # a tag's budget: its queued tasks are not claimed until acknowledged


SCOPES = ("all", "kind", "tag", "created_by", "worker")
CALL_SCOPES = ("all", "model", "role")
# Which scopes each kind can narrow to (the queries behind the others read tables without those columns).
SCOPES_OF: dict[RuleKind, tuple[str, ...]] = {
    RuleKind.STUCK_TASK: SCOPES,
    RuleKind.TASK_FAILED: SCOPES,
    RuleKind.FAILURE_RATE: SCOPES,
    RuleKind.QUEUE_DEPTH: ("all", "kind", "tag", "created_by"),
    RuleKind.BUDGET_USED: ("all",),
    RuleKind.BUDGET_PROJECTED: ("all",),
    RuleKind.WORKER_OFFLINE: ("all", "worker"),
    RuleKind.COST_SPIKE: ("all", "kind", "tag", "model", "role", "worker"),
    RuleKind.RESPONSE_TIME: CALL_SCOPES,
    RuleKind.WORKERS_UNAVAILABLE: ("all",),
    RuleKind.CONTEXT_WINDOW: CALL_SCOPES,
    RuleKind.BROKER_QUEUE_DEPTH: ("all",),
}
# Kinds whose threshold is required; the others have a default (stuck: TASKLENS_STUCK_AFTER_SECONDS).
NEEDS_THRESHOLD = frozenset(
    {
        RuleKind.FAILURE_RATE,
        RuleKind.QUEUE_DEPTH,
        RuleKind.BUDGET_USED,
        RuleKind.BUDGET_PROJECTED,
        RuleKind.COST_SPIKE,
        RuleKind.RESPONSE_TIME,
        RuleKind.WORKERS_UNAVAILABLE,
        RuleKind.CONTEXT_WINDOW,
        RuleKind.BROKER_QUEUE_DEPTH,
    }
)
NEEDS_WINDOW = frozenset(
    {
        RuleKind.TASK_FAILED,
        RuleKind.FAILURE_RATE,
        RuleKind.WORKER_OFFLINE,
        RuleKind.COST_SPIKE,
        RuleKind.RESPONSE_TIME,
        RuleKind.WORKERS_UNAVAILABLE,
        RuleKind.CONTEXT_WINDOW,
    }
)
ACTIONS_OF: dict[RuleKind, frozenset[ActionType]] = {
    RuleKind.STUCK_TASK: frozenset({ActionType.CANCEL_TASK, ActionType.CANCEL_AND_RETRY}),
    RuleKind.FAILURE_RATE: frozenset({ActionType.PAUSE_KIND}),
    RuleKind.BUDGET_USED: frozenset({ActionType.PAUSE_TAG}),
    RuleKind.BUDGET_PROJECTED: frozenset({ActionType.PAUSE_TAG}),
}
PAUSES = frozenset({ActionType.PAUSE_KIND.value, ActionType.PAUSE_TAG.value})


# The rules a fresh database starts with, switched on (migration 0010 holds a literal copy; a test compares):
# name, kind, threshold, window_seconds, for_seconds, severity, repeat_seconds.
BUILTIN_RULES: tuple[tuple[str, str, float | None, float, float, str, float | None], ...] = (
    ("Stuck task", "stuck_task", None, 0.0, 0.0, "high", 3600.0),
    ("Failure rate over 20%", "failure_rate", 0.2, 900.0, 60.0, "high", 3600.0),
    ("Queue depth over 100", "queue_depth", 100.0, 0.0, 60.0, "medium", 3600.0),
    ("Budget 80% used", "budget_used", 0.8, 0.0, 0.0, "medium", None),
    ("Budget exceeded", "budget_used", 1.0, 0.0, 0.0, "critical", 3600.0),
    ("Budget projected over", "budget_projected", 1.0, 0.0, 300.0, "medium", None),
    ("Worker offline", "worker_offline", None, 3600.0, 0.0, "high", None),
    ("Cost spike", "cost_spike", 2.0, 3600.0, 0.0, "medium", None),
)


class RuleError(ValueError):
    """A rule field that cannot be used; `field` names it (the API answers 422 with it)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Rule:
    id: int
    name: str
    kind: str
    enabled: bool
    builtin: bool
    scope_kind: str
    scope_value: str | None
    threshold: float | None
    pattern: str | None
    window_seconds: float
    for_seconds: float
    severity: str
    repeat_seconds: float | None
    channels: tuple[dict[str, Any], ...]
    actions: tuple[dict[str, Any], ...]
    created_at: datetime
    updated_at: datetime

    def as_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["channels"], out["actions"] = list(self.channels), list(self.actions)
        return out


EDITABLE = (
    "name",
    "kind",
    "enabled",
    "scope_kind",
    "scope_value",
    "threshold",
    "pattern",
    "window_seconds",
    "for_seconds",
    "severity",
    "repeat_seconds",
    "channels",
    "actions",
)
DEFAULTS: dict[str, Any] = {
    "enabled": True,
    "scope_kind": "all",
    "scope_value": None,
    "threshold": None,
    "pattern": None,
    "window_seconds": 900.0,
    "for_seconds": 0.0,
    "severity": Severity.HIGH.value,
    "repeat_seconds": 3600.0,
    "channels": [],
    "actions": [],
}


def _number(values: dict[str, Any], name: str, *, minimum: float = 0.0, optional: bool = False) -> None:
    value = values.get(name)
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise RuleError(name, "must be a number")
    if value < minimum:
        raise RuleError(name, f"must be at least {minimum:g}")
    values[name] = float(value)


def _http_url(field: str, url: Any) -> str:
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        raise RuleError(field, "must be an http:// or https:// URL")
    return url


def _channels(raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise RuleError("channels", "must be a list")
    out = []
    for i, channel in enumerate(raw):
        where = f"channels[{i}]"
        if not isinstance(channel, dict):
            raise RuleError(where, "must be an object with a type")
        try:
            kind = ChannelType(str(channel.get("type")))
        except ValueError:
            raise RuleError(f"{where}.type", f"must be one of {', '.join(ChannelType)}") from None
        if kind is ChannelType.EMAIL:
            to = channel.get("to")
            if not isinstance(to, list) or not to or not all(isinstance(a, str) and "@" in a for a in to):
                raise RuleError(f"{where}.to", "must be a non-empty list of e-mail addresses")
            out.append({"type": kind.value, "to": list(to)})
        else:
            out.append({"type": kind.value, "url": _http_url(f"{where}.url", channel.get("url"))})
    return out


def _actions(kind: RuleKind, raw: Any, scope_kind: str) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise RuleError("actions", "must be a list")
    out = []
    for i, action in enumerate(raw):
        name = action.get("type") if isinstance(action, dict) else None
        allowed = ACTIONS_OF.get(kind, frozenset())
        if name not in {a.value for a in allowed}:
            choices = ", ".join(sorted(allowed)) or "none for this kind"
            raise RuleError(f"actions[{i}].type", f"must be one of: {choices}")
        if name == ActionType.PAUSE_KIND.value and scope_kind != "kind":
            raise RuleError(
                f"actions[{i}].type", "pause_kind needs a rule scoped to one kind (scope_kind kind)"
            )
        out.append({"type": name})
    return out


def validate(values: dict[str, Any]) -> dict[str, Any]:
    """A full rule (defaults filled in) from what a user sent, or RuleError naming the first bad field."""
    unknown = sorted(set(values) - set(EDITABLE))
    if unknown:
        raise RuleError(unknown[0], "is not a rule field")
    out = {**DEFAULTS, **values}
    name = out.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise RuleError("name", "must be text of 1 to 200 characters")
    out["name"] = name.strip()
    try:
        kind = RuleKind(str(out.get("kind")))
    except ValueError:
        raise RuleError("kind", f"must be one of {', '.join(RuleKind)}") from None
    if not isinstance(out["enabled"], bool):
        raise RuleError("enabled", "must be true or false")
    if out["scope_kind"] not in SCOPES_OF[kind]:
        raise RuleError("scope_kind", f"must be one of {', '.join(SCOPES_OF[kind])} for a {kind.value} rule")
    if out["scope_kind"] == "all":
        out["scope_value"] = None
    elif not isinstance(out["scope_value"], str) or not out["scope_value"]:
        raise RuleError("scope_value", f"must name the {out['scope_kind']} the rule watches")
    _number(out, "threshold", optional=kind not in NEEDS_THRESHOLD)
    if (
        kind in (RuleKind.FAILURE_RATE, RuleKind.WORKERS_UNAVAILABLE, RuleKind.CONTEXT_WINDOW)
        and out["threshold"] > 1
    ):
        raise RuleError("threshold", "is a fraction, between 0 and 1")
    pattern = out["pattern"]
    if pattern is not None and (not isinstance(pattern, str) or not pattern.strip() or len(pattern) > 500):
        raise RuleError("pattern", "must be text of 1 to 500 characters")
    if pattern is not None and kind is not RuleKind.TASK_FAILED:
        raise RuleError("pattern", "matches error messages: only task_failed rules take one")
    _number(out, "window_seconds", minimum=1.0 if kind in NEEDS_WINDOW else 0.0)
    _number(out, "for_seconds")
    _number(out, "repeat_seconds", minimum=60.0, optional=True)
    try:
        out["severity"] = Severity(out["severity"]).value
    except ValueError:
        raise RuleError("severity", f"must be one of {', '.join(Severity)}") from None
    out["channels"] = _channels(out["channels"])
    out["actions"] = _actions(kind, out["actions"], out["scope_kind"])
    out["kind"] = kind.value
    return out


def _rule(row: Any) -> Rule:
    return Rule(
        id=row.id,
        name=row.name,
        kind=row.kind,
        enabled=bool(row.enabled),
        builtin=bool(row.builtin),
        scope_kind=row.scope_kind,
        scope_value=row.scope_value,
        threshold=row.threshold,
        pattern=row.pattern,
        window_seconds=row.window_seconds,
        for_seconds=row.for_seconds,
        severity=row.severity,
        repeat_seconds=row.repeat_seconds,
        channels=tuple(row.channels or ()),
        actions=tuple(row.actions or ()),
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def list_rules(session: Session, *, enabled_only: bool = False) -> list[Rule]:
    query = select(AR).order_by(AR.c.id)
    if enabled_only:
        query = query.where(AR.c.enabled.is_(True))
    return [_rule(r) for r in session.execute(query)]


def get_rule(session: Session, rule_id: int) -> Rule | None:
    row = session.execute(select(AR).where(AR.c.id == rule_id)).first()
    return None if row is None else _rule(row)


def _name_taken(session: Session, name: str, other_than: int | None = None) -> None:
    query = select(AR.c.id).where(AR.c.name == name)
    if other_than is not None:
        query = query.where(AR.c.id != other_than)
    if session.scalar(query) is not None:
        raise RuleError("name", f"a rule named {name!r} already exists")


def create_rule(session: Session, values: dict[str, Any], now: datetime) -> Rule:
    clean = validate(values)
    _name_taken(session, clean["name"])
    rule_id = session.execute(
        insert(AR).values(**clean, builtin=False, created_at=now, updated_at=now).returning(AR.c.id)
    ).scalar_one()
    rule = get_rule(session, rule_id)
    assert rule is not None
    return rule


def update_rule(session: Session, rule_id: int, values: dict[str, Any], now: datetime) -> Rule | None:
    """A partial update (PUT sends what changes); the merged rule is validated as a whole."""
    current = get_rule(session, rule_id)
    if current is None:
        return None
    merged = {k: getattr(current, k) for k in EDITABLE}
    merged["channels"], merged["actions"] = list(current.channels), list(current.actions)
    if current.builtin and "kind" in values and values["kind"] != current.kind:
        raise RuleError("kind", "a built-in rule keeps its kind (make a new rule instead)")
    clean = validate({**merged, **values})
    _name_taken(session, clean["name"], other_than=rule_id)
    session.execute(update(AR).where(AR.c.id == rule_id).values(**clean, updated_at=now))
    return get_rule(session, rule_id)


def delete_rule(session: Session, rule_id: int) -> bool:
    """Deletes a rule and (by cascade) its alerts; a built-in rule is switched off instead, so an upgrade never
    brings it back unasked."""
    rule = get_rule(session, rule_id)
    if rule is None:
        return False
    if rule.builtin:
        session.execute(update(AR).where(AR.c.id == rule_id).values(enabled=False))
    else:
        session.execute(delete(AR).where(AR.c.id == rule_id))
    return True
