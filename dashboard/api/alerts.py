"""API layer: /alerts — alerts (filters state, severity, rule; paged by id), one alert with its deliveries and
acknowledgements, acknowledging, rules (admins edit) and silences (operators). Reads go through
db/alert_queries.py; every write through the recorder's transaction, so its `alert` events reach /ws."""

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
from dashboard.api.params import json_body, parse_json, parse_query
from dashboard.api.registry import Role, actor, endpoint
from dashboard.api.schemas import NoQuery
from db import alert_queries, alert_rules, alert_silences
from db.alert_rules import Rule, RuleError
from db.alert_silences import SilenceError
from db.alert_store import AlertNotOpen, acknowledge
from db.timeutil import utcnow

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
@endpoint("GET", "/alerts", Role.VIEWER)
def list_alerts() -> ResponseReturnValue:
    q = parse_query(AlertsQuery)
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


@endpoint("GET", ALERT, Role.VIEWER)
def get_alert(alert_id: int) -> ResponseReturnValue:
    parse_query(NoQuery)
    with ctx().svc.db.reading() as session:
        found = alert_queries.get_alert(session, alert_id, utcnow())
    if found is None:
        raise not_found(f"alert {alert_id}", alert_id=alert_id)
    return respond(AlertDetail, found)


@endpoint("POST", ALERT + "/ack", Role.OPERATOR)
def ack_alert(alert_id: int) -> ResponseReturnValue:
    parse_query(NoQuery)
    body: AckBody = parse_json(AckBody, json_body())
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
@endpoint("GET", "/alerts/rules", Role.VIEWER)
def list_rules() -> ResponseReturnValue:
    parse_query(NoQuery)
    with ctx().svc.db.reading() as session:
        rules = alert_rules.list_rules(session)
    return respond(RuleList, {"items": [rule_out(r) for r in rules]})


@endpoint("GET", RULE, Role.VIEWER)
def get_rule(rule_id: int) -> ResponseReturnValue:
    parse_query(NoQuery)
    with ctx().svc.db.reading() as session:
        rule = alert_rules.get_rule(session, rule_id)
    if rule is None:
        raise not_found(f"rule {rule_id}", rule_id=rule_id)
    return respond(RuleOut, rule_out(rule))


def _values(body: RuleUpdate) -> dict[str, Any]:
    return body.model_dump(mode="json", exclude_unset=True, exclude_none=False)


@endpoint("POST", "/alerts/rules", Role.ADMIN)
def create_rule() -> ResponseReturnValue:
    parse_query(NoQuery)
    body: RuleCreate = parse_json(RuleCreate, json_body())
    try:
        with ctx().svc.recorder.transaction() as session:
            rule = alert_rules.create_rule(session, _values(body), utcnow())
    except RuleError as exc:
        raise _invalid(exc) from None
    return respond(RuleOut, rule_out(rule), 201, {"Location": f"/api/v1/alerts/rules/{rule.id}"})


@endpoint("PUT", RULE, Role.ADMIN)
def update_rule(rule_id: int) -> ResponseReturnValue:
    parse_query(NoQuery)
    body: RuleUpdate = parse_json(RuleUpdate, json_body())
    try:
        with ctx().svc.recorder.transaction() as session:
            rule = alert_rules.update_rule(session, rule_id, _values(body), utcnow())
    except RuleError as exc:
        raise _invalid(exc) from None
    if rule is None:
        raise not_found(f"rule {rule_id}", rule_id=rule_id)
    return respond(RuleOut, rule_out(rule))


@endpoint("DELETE", RULE, Role.ADMIN)
def delete_rule(rule_id: int) -> ResponseReturnValue:
    parse_query(NoQuery)
    with ctx().svc.recorder.transaction() as session:
        found = alert_rules.delete_rule(session, rule_id)
    if not found:
        raise not_found(f"rule {rule_id}", rule_id=rule_id)
    return Response(status=204)


# ---- silences ----------------------------------------------------------------------------------------
@endpoint("GET", "/alerts/silences", Role.VIEWER)
def list_silences() -> ResponseReturnValue:
    q = parse_query(SilencesQuery)
    with ctx().svc.db.reading() as session:
        found = alert_silences.list_silences(session, utcnow(), include_expired=q.expired)
    return respond(SilenceList, {"items": [s.as_dict() for s in found]})


@endpoint("POST", "/alerts/silences", Role.OPERATOR)
def create_silence() -> ResponseReturnValue:
    parse_query(NoQuery)
    body: SilenceCreate = parse_json(SilenceCreate, json_body())
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


@endpoint("DELETE", SILENCE, Role.OPERATOR)
def expire_silence(silence_id: int) -> ResponseReturnValue:
    parse_query(NoQuery)
    with ctx().svc.recorder.transaction() as session:
        found = alert_silences.expire_silence(session, silence_id, utcnow())
    if not found:
        raise not_found(f"silence {silence_id}", silence_id=silence_id)
    return Response(status=204)
