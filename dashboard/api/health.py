"""API layer: /health (the process answers), /ready (the database answers, its schema is at the code's
migration head and a worker has sent a heartbeat lately; 503 with the reasons otherwise) and /metrics
(Prometheus text format)."""

from __future__ import annotations

from datetime import timedelta

from flask import Response
from flask.typing import ResponseReturnValue
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from dashboard.api.context import ctx, respond
from dashboard.api.params import parse_query
from dashboard.api.registry import Role, endpoint
from dashboard.api.schemas import Health, NoQuery, Ready
from db import api_metrics
from db.migrate import current_revision, head_revision
from db.timeutil import utcnow

# A worker heard from within this many lease periods counts as alive (the sweep gives its tasks away after one).
HEARTBEAT_LEASES = 2


@endpoint("GET", "/health", Role.VIEWER)
def health() -> ResponseReturnValue:
    parse_query(NoQuery)
    return respond(Health, {"status": "ok"})


@endpoint("GET", "/ready", Role.VIEWER)
def ready() -> ResponseReturnValue:
    parse_query(NoQuery)
    svc = ctx().svc
    checks: dict[str, dict[str, object]] = {}
    try:
        with svc.db.reading() as session:
            session.execute(text("SELECT 1"))
            checks["database"] = {"ok": True, "message": f"{svc.db.dialect} answers"}
            at, head = current_revision(svc.db), head_revision()
            checks["migrations"] = {
                "ok": at == head,
                "message": f"at revision {at}"
                + ("" if at == head else f", the code needs {head}: run migrate"),
            }
            silent_for = timedelta(seconds=svc.settings.lease_seconds * HEARTBEAT_LEASES)
            last = api_metrics.freshest_heartbeat(session)
            now = utcnow()
            fresh = last is not None and now - last <= silent_for
            checks["workers"] = {
                "ok": fresh,
                "message": (
                    f"last worker heartbeat {(now - last).total_seconds():.0f} s ago"
                    if last is not None
                    else "no worker is online"
                )
                + (
                    ""
                    if fresh
                    else f" (none within {silent_for.total_seconds():g} s: start `python app.py worker`)"
                ),
            }
    except Exception as exc:  # the database is down or refuses us: that is the answer, not an error
        checks["database"] = {"ok": False, "message": f"cannot query the database: {type(exc).__name__}"}
    reasons = [f"{name}: {c['message']}" for name, c in checks.items() if not c["ok"]]
    body = {"ready": not reasons, "checks": checks, "reasons": reasons}
    return respond(Ready, body, status=200 if not reasons else 503)


@endpoint("GET", "/metrics", Role.VIEWER)
def metrics() -> ResponseReturnValue:
    parse_query(NoQuery)
    m = ctx().metrics
    m.watch_durations()
    return Response(generate_latest(m.registry), content_type=CONTENT_TYPE_LATEST)
