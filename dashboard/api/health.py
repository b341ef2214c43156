"""API layer: /health (the process answers), /ready (the database answers, its storage is not full, its schema
is at the code's migration head and a worker has sent a heartbeat lately; 503 with the reasons otherwise, and
Retry-After when the database is away or full) and /metrics (Prometheus text format)."""

from __future__ import annotations

from datetime import timedelta

from flask import Response
from flask.typing import ResponseReturnValue
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from dashboard.api.context import ctx, respond
from dashboard.api.registry import Role, endpoint
from dashboard.api.schemas import Health, Ready
from db.core.engine import Database
from db.core.migrate import current_revision, head_revision
from db.core.timeutil import utcnow
from db.core.unavailable import (
    MIN_FREE_BYTES,
    REMEMBER_STORAGE_SECONDS,
    RETRY_STORAGE,
    OutageKind,
    classify,
    free_bytes,
)
from db.read import api_metrics

# A worker heard from within this many lease periods counts as alive (the sweep gives its tasks away after one).
HEARTBEAT_LEASES = 2


@endpoint(
    "GET",
    "/health",
    Role.VIEWER,
    summary="The process is up",
    responses={200: ("up", Health)},
)
def health() -> ResponseReturnValue:
    return respond(Health, {"status": "ok"})


@endpoint(
    "GET",
    "/ready",
    Role.VIEWER,
    summary="Ready: database reachable, migrations current, a worker heartbeat within two leases",
    responses={200: ("ready", Ready), 503: ("not ready; reasons say why", Ready)},
)
def ready() -> ResponseReturnValue:
    svc = ctx().svc
    checks: dict[str, dict[str, object]] = {}
    retry_after: int | None = None
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
        outage = classify(exc)
        checks["database"] = {
            "ok": False,
            "code": OutageKind.DATABASE.value,
            "message": f"database unavailable: {outage.reason}"
            if outage is not None
            else f"cannot query the database: {type(exc).__name__}",
        }
        retry_after = outage.retry_after if outage is not None else None
    checks["storage"] = storage_check(svc.db)
    if not checks["storage"]["ok"] and retry_after is None:
        retry_after = RETRY_STORAGE
    reasons = [f"{name}: {c['message']}" for name, c in checks.items() if not c["ok"]]
    body = {"ready": not reasons, "checks": checks, "reasons": reasons}
    headers = {"Retry-After": str(retry_after)} if reasons and retry_after is not None else None
    return respond(Ready, body, status=200 if not reasons else 503, headers=headers)


def storage_check(db: Database) -> dict[str, object]:
    """Can the database store more? A write of this process that failed for lack of space within the last
    minute (none committed since) says no, on either database. On SQLite the free space of the file's
    filesystem says so before any write fails; PostgreSQL's disk is not visible to a client, so there only a
    failed write (SQLSTATE 53100) tells."""
    failed = db.health.storage_full()
    if failed is not None:
        return {
            "ok": False,
            "code": OutageKind.STORAGE.value,
            "message": f"a write failed for lack of space within {REMEMBER_STORAGE_SECONDS:g} s: {failed.reason}",
        }
    try:
        free = free_bytes(db.url)
    except OSError as exc:  # the folder itself is gone or unreadable
        return {
            "ok": False,
            "code": OutageKind.DATABASE.value,
            "message": f"cannot stat the database's folder: {exc.strerror}",
        }
    if free is None:
        return {"ok": True, "message": "no write failed for lack of space"}
    if free < MIN_FREE_BYTES:
        return {
            "ok": False,
            "code": OutageKind.STORAGE.value,
            "message": f"{free / 1024:.0f} KiB free on the database file's filesystem "
            f"(below {MIN_FREE_BYTES >> 20} MiB)",
        }
    return {"ok": True, "message": f"{free / (1 << 20):,.0f} MiB free on the database file's filesystem"}


@endpoint(
    "GET",
    "/metrics",
    Role.VIEWER,
    summary="Prometheus metrics",
    responses={200: ("text exposition format", {"text/plain": {"schema": {"type": "string"}}})},
)
def metrics() -> ResponseReturnValue:
    m = ctx().metrics
    m.watch_durations()
    return Response(generate_latest(m.registry), content_type=CONTENT_TYPE_LATEST)
