"""API layer: the pydantic models of /api/v1/alerts — alerts, acknowledgements, rules and silences (the
OpenAPI document's schemas come from these). Rule bodies are typed here; the rules that tie fields together
(a threshold a kind needs, the scopes a kind can narrow to) are db/alerts/rules.validate's, with the same 422."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from dashboard.api.schemas import MAX_ID, MAX_LIMIT, Body, Model, UtcDateTime
from db.alerts.rules import ChannelType, RuleKind, Severity

AlertStateName = Literal["pending", "firing", "resolved"]
ScopeName = Literal[
    "all", "kind", "tag", "created_by", "worker", "model", "role"
]  # per kind: db/alerts/rules.SCOPES_OF


class AlertsQuery(Model):
    state: list[AlertStateName] = Field(default_factory=list, description="repeat or comma-separate")
    severity: list[Severity] = Field(default_factory=list, description="repeat or comma-separate")
    rule: int | None = Field(None, ge=1, le=MAX_ID, description="a rule's id")
    acknowledged: bool | None = Field(None, description="true: acknowledged only; false: not acknowledged")
    before: int | None = Field(None, ge=1, le=MAX_ID, description="next_before of the previous page")
    limit: int = Field(50, ge=1, le=MAX_LIMIT)


class AlertOut(Model):
    id: int
    rule_id: int
    rule: str
    rule_kind: str
    target: str = Field(
        description="what the alert is about: task:<id>, worker:<id>, budget:<id>:<period>, scope:…"
    )
    state: AlertStateName
    severity: Severity
    summary: str
    value: float | None
    labels: dict[str, Any] = Field(description="what silences match on: rule, severity, target, task_kind, …")
    pending_at: UtcDateTime = Field(description="when the condition was first seen to hold")
    fired_at: UtcDateTime | None
    resolved_at: UtcDateTime | None
    acknowledged_at: UtcDateTime | None
    acknowledged_by: str | None
    ack_note: str | None
    last_notified_at: UtcDateTime | None
    notify_round: int = Field(description="repeat notifications sent while firing")
    silenced_by: int | None = Field(description="the silence in force that matches it, if any")
    actions_taken: list[dict[str, Any]]
    updated_at: UtcDateTime


class DeliveryOut(Model):
    id: int
    channel: str = Field(description="channel type and a digest of its address (URLs can be secrets)")
    channel_type: ChannelType
    event: Literal["firing", "resolved", "digest"]
    round: int
    status: Literal["pending", "sending", "sent", "failed"]
    attempts: int
    last_error: str | None
    created_at: UtcDateTime
    sent_at: UtcDateTime | None


class AckOut(Model):
    actor: str
    note: str
    at: UtcDateTime


class AlertDetail(AlertOut):
    notifications: list[DeliveryOut]
    acks: list[AckOut]


class AlertPage(Model):
    items: list[AlertOut] = Field(description="newest first")
    next_before: int | None = Field(description="pass as ?before= for the next page; null on the last one")
    limit: int


class AckBody(Body):
    note: str = Field("", max_length=2000)


class ChannelIn(Body):
    type: ChannelType
    url: str | None = Field(
        None, max_length=2000, description="webhook, slack, discord: the incoming-webhook URL"
    )
    to: list[str] | None = Field(None, max_length=50, description="email: the recipients")


class ActionIn(Body):
    type: Literal["cancel_task", "cancel_and_retry", "pause_kind", "pause_tag"] = Field(
        description="stuck_task: cancel_task, cancel_and_retry; failure_rate of a kind: pause_kind; "
        "budget_used / budget_projected of a tag's budget: pause_tag (until acknowledged)"
    )


class RuleUpdate(Body):
    """Every field optional: a PUT changes what it names."""

    name: str | None = Field(None, min_length=1, max_length=200)
    kind: RuleKind | None = None
    enabled: bool | None = None
    scope_kind: ScopeName | None = None
    scope_value: str | None = Field(None, max_length=200)
    threshold: float | None = Field(
        None,
        ge=0,
        description="per kind: seconds (stuck), fraction 0..1 (failure rate, budgets), count, ratio",
    )
    pattern: str | None = Field(
        None,
        min_length=1,
        max_length=500,
        description="task_failed: error messages containing this (any case)",
    )
    window_seconds: float | None = Field(None, ge=0, le=90 * 86400)
    for_seconds: float | None = Field(None, ge=0, le=86400, description="how long it holds before firing")
    severity: Severity | None = None
    repeat_seconds: float | None = Field(None, ge=60, le=30 * 86400)
    channels: list[ChannelIn] | None = Field(None, max_length=20)
    actions: list[ActionIn] | None = Field(None, max_length=5)


class RuleCreate(RuleUpdate):
    name: str = Field(min_length=1, max_length=200)
    kind: RuleKind


class RuleOut(Model):
    id: int
    name: str
    kind: RuleKind
    enabled: bool
    builtin: bool
    scope_kind: str
    scope_value: str | None
    threshold: float | None = Field(
        description="null: the kind's default (stuck: TASKLENS_STUCK_AFTER_SECONDS)"
    )
    pattern: str | None
    window_seconds: float
    for_seconds: float
    severity: Severity
    repeat_seconds: float | None
    channels: list[dict[str, Any]] = Field(
        description="URLs shown by scheme and host only (they can be secrets)"
    )
    actions: list[dict[str, Any]]
    created_at: UtcDateTime
    updated_at: UtcDateTime


class RuleList(Model):
    items: list[RuleOut]


class MatcherIn(Body):
    name: str = Field(
        description="rule, rule_id, rule_kind, severity, target, task_kind, worker_id or budget"
    )
    value: str = Field(min_length=1, max_length=500)


class SilenceCreate(Body):
    matchers: list[MatcherIn] = Field(min_length=1, max_length=20, description="all must match")
    starts_at: UtcDateTime | None = Field(None, description="default now")
    ends_at: UtcDateTime | None = Field(None, description="give ends_at or duration_seconds")
    duration_seconds: float | None = Field(None, gt=0, le=366 * 86400)
    comment: str = Field("", max_length=2000)


class SilenceOut(Model):
    id: int
    matchers: list[dict[str, str]]
    starts_at: UtcDateTime
    ends_at: UtcDateTime
    created_by: str
    comment: str
    created_at: UtcDateTime


class SilenceList(Model):
    items: list[SilenceOut]


class SilencesQuery(Model):
    expired: bool = Field(False, description="include silences that have ended")
