"""API layer: /alerts — alerts (filters state, severity, rule; paged by id), one alert with its deliveries and
acknowledgements, acknowledging, rules (admins edit) and silences (operators). Reads go through
db/alerts/queries.py; every write through the recorder's transaction, so its `alert` events reach /ws."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Response
from flask.typing import ResponseReturnValue

from dashboard.api.alert_schemas import (
    AckBody,
    AlertDetail,
    AlertPage,
    AlertsQuery,
    RuleCreate,
    RuleList,
    RuleOut,
    RuleUpdate,
    SilenceCreate,
    SilenceList,
    SilenceOut,
    SilencesQuery,
)
from dashboard.api.context import ctx, respond
from dashboard.api.errors import ApiError, not_found
from dashboard.api.registry import Role, actor, endpoint
from db.alerts import queries as alert_queries
from db.alerts import rules as alert_rules
from db.alerts import silences as alert_silences
from db.alerts.rules import Rule, RuleError
from db.alerts.silences import SilenceError
from db.alerts.store import AlertNotOpen, acknowledge
from db.core.timeutil import utcnow

ALERT = "/alerts/<task_id:alert_id>"
RULE = "/alerts/rules/<task_id:rule_id>"
SILENCE = "/alerts/silences/<task_id:silence_id>"


def _invalid(exc: RuleError | SilenceError) -> ApiError:
    return ApiError(422, "validation_error", f"{exc.field}: {exc.message}", field=exc.field)


def redact(url: str) -> str:
    """Incoming-webhook URLs carry their secret in the path: shown by scheme and host only."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/…"


def rule_out(rule: Rule) -> dict[str, Any]:
    out = rule.as_dict()
    out["channels"] = [{**c, "url": redact(c["url"])} if "url" in c else c for c in rule.channels]
    return out


# ---- alerts ------------------------------------------------------------------------------------------
@endpoint(
    "GET",
    "/alerts",
    Role.VIEWER,
    summary="Alerts, newest first: filters state, severity, rule, acknowledged; paged by id",
    responses={200: ("a page of alerts", AlertPage)},
    query=AlertsQuery,
)
def list_alerts(q: AlertsQuery) -> ResponseReturnValue:
    with ctx().svc.db.reading() as session:
        rows = alert_queries.list_alerts(
            session,
            utcnow(),
            states=tuple(q.state),
            severities=tuple(s.value for s in q.severity),
            rule_id=q.rule,
            acknowledged=q.acknowledged,
            before=q.before,
            limit=q.limit + 1,
        )
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    return respond(
        AlertPage, {"items": rows, "next_before": rows[-1]["id"] if more else None, "limit": q.limit}
    )


@endpoint(
    "GET",
    ALERT,
    Role.VIEWER,
    summary="One alert with each channel's delivery and its acknowledgements",
    responses={200: ("the alert", AlertDetail)},
    errors=(400, 404),
)
def get_alert(alert_id: int) -> ResponseReturnValue:
    with ctx().svc.db.reading() as session:
        found = alert_queries.get_alert(session, alert_id, utcnow())
    if found is None:
        raise not_found(f"alert {alert_id}", alert_id=alert_id)
    return respond(AlertDetail, found)


@endpoint(
    "POST",
    ALERT + "/ack",
    Role.OPERATOR,
    summary="Acknowledge an open alert (who, a note): its repeat notifications stop",
    responses={200: ("the alert", AlertDetail)},
    errors=(400, 404, 409, 413, 415, 422),
    body=AckBody,
)
def ack_alert(alert_id: int, body: AckBody) -> ResponseReturnValue:
    try:
        with ctx().svc.recorder.transaction() as session:
            acknowledge(session, alert_id, actor(), body.note, utcnow())
    except AlertNotOpen as exc:
        with ctx().svc.db.reading() as session:
            exists = alert_queries.get_alert(session, alert_id, utcnow()) is not None
        if not exists:
            raise not_found(f"alert {alert_id}", alert_id=alert_id) from None
        raise ApiError(409, "alert_resolved", str(exc), alert_id=alert_id) from None
    with ctx().svc.db.reading() as session:
        return respond(AlertDetail, alert_queries.get_alert(session, alert_id, utcnow()))


# ---- rules -------------------------------------------------------------------------------------------
@endpoint(
    "GET",
    "/alerts/rules",
    Role.VIEWER,
    summary="Alert rules, built-in ones included",
    responses={200: ("rules", RuleList)},
)
def list_rules() -> ResponseReturnValue:
    with ctx().svc.db.reading() as session:
        rules = alert_rules.list_rules(session)
    return respond(RuleList, {"items": [rule_out(r) for r in rules]})


@endpoint(
    "GET",
    RULE,
    Role.VIEWER,
    summary="One rule",
    responses={200: ("the rule", RuleOut)},
    errors=(400, 404),
)
def get_rule(rule_id: int) -> ResponseReturnValue:
    with ctx().svc.db.reading() as session:
        rule = alert_rules.get_rule(session, rule_id)
    if rule is None:
        raise not_found(f"rule {rule_id}", rule_id=rule_id)
    return respond(RuleOut, rule_out(rule))


def _values(body: RuleUpdate) -> dict[str, Any]:
    return body.model_dump(mode="json", exclude_unset=True, exclude_none=False)


@endpoint(
    "POST",
    "/alerts/rules",
    Role.ADMIN,
    summary="Add a rule",
    responses={201: ("the rule; Location gives its URL", RuleOut)},
    errors=(400, 413, 415, 422),
    body=RuleCreate,
    description=(
        "A 422's details.field names the field at fault, also for checks across fields (a threshold the kind "
        "needs, a scope the kind cannot narrow to, a channel's url)."
    ),
)
def create_rule(body: RuleCreate) -> ResponseReturnValue:
    try:
        with ctx().svc.recorder.transaction() as session:
            rule = alert_rules.create_rule(session, _values(body), utcnow())
    except RuleError as exc:
        raise _invalid(exc) from None
    return respond(RuleOut, rule_out(rule), 201, {"Location": f"/api/v1/alerts/rules/{rule.id}"})


@endpoint(
    "PUT",
    RULE,
    Role.ADMIN,
    summary="Change the fields given (the rest stay)",
    responses={200: ("the rule", RuleOut)},
    errors=(400, 404, 413, 415, 422),
    body=RuleUpdate,
)
def update_rule(rule_id: int, body: RuleUpdate) -> ResponseReturnValue:
    try:
        with ctx().svc.recorder.transaction() as session:
            rule = alert_rules.update_rule(session, rule_id, _values(body), utcnow())
    except RuleError as exc:
        raise _invalid(exc) from None
    if rule is None:
        raise not_found(f"rule {rule_id}", rule_id=rule_id)
    return respond(RuleOut, rule_out(rule))


@endpoint(
    "DELETE",
    RULE,
    Role.ADMIN,
    summary="Delete a rule and its alerts (a built-in rule is switched off instead)",
    responses={204: ("deleted", None)},
    errors=(400, 404),
)
def delete_rule(rule_id: int) -> ResponseReturnValue:
    with ctx().svc.recorder.transaction() as session:
        found = alert_rules.delete_rule(session, rule_id)
    if not found:
        raise not_found(f"rule {rule_id}", rule_id=rule_id)
    return Response(status=204)


# ---- silences ----------------------------------------------------------------------------------------
@endpoint(
    "GET",
    "/alerts/silences",
    Role.VIEWER,
    summary="Silences in force or to come (with expired=true, ended ones too)",
    responses={200: ("silences", SilenceList)},
    query=SilencesQuery,
)
def list_silences(q: SilencesQuery) -> ResponseReturnValue:
    with ctx().svc.db.reading() as session:
        found = alert_silences.list_silences(session, utcnow(), include_expired=q.expired)
    return respond(SilenceList, {"items": [s.as_dict() for s in found]})


@endpoint(
    "POST",
    "/alerts/silences",
    Role.OPERATOR,
    summary="Silence alerts whose labels match every matcher, for a time",
    responses={201: ("the silence", SilenceOut)},
    errors=(400, 413, 415, 422),
    body=SilenceCreate,
)
def create_silence(body: SilenceCreate) -> ResponseReturnValue:
    now = utcnow()
    starts = body.starts_at or now
    if body.ends_at is None and body.duration_seconds is None:
        raise ApiError(422, "validation_error", "ends_at: give ends_at or duration_seconds", field="ends_at")
    ends = body.ends_at or starts + timedelta(seconds=body.duration_seconds or 0)
    try:
        with ctx().svc.recorder.transaction() as session:
            silence = alert_silences.create_silence(
                session,
                [m.model_dump() for m in body.matchers],
                starts,
                ends,
                created_by=actor(),
                comment=body.comment,
                now=now,
            )
    except SilenceError as exc:
        raise _invalid(exc) from None
    return respond(SilenceOut, silence.as_dict(), 201)


@endpoint(
    "DELETE",
    SILENCE,
    Role.OPERATOR,
    summary="End a silence now (kept for the record)",
    responses={204: ("ended", None)},
    errors=(400, 404),
)
def expire_silence(silence_id: int) -> ResponseReturnValue:
    with ctx().svc.recorder.transaction() as session:
        found = alert_silences.expire_silence(session, silence_id, utcnow())
    if not found:
        raise not_found(f"silence {silence_id}", silence_id=silence_id)
    return Response(status=204)
