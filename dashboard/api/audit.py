"""API layer: GET /audit — the audit log (who created, cancelled, retried or deleted what; token, budget and
schedule changes), newest first, filtered and paged by id. Admins only: it names every token's actions."""

from __future__ import annotations

from flask.typing import ResponseReturnValue

from dashboard.api.context import ctx, respond
from dashboard.api.params import parse_query
from dashboard.api.registry import Role, endpoint
from dashboard.api.schemas import AuditPage, AuditQuery
from db.audit import entries


@endpoint("GET", "/audit", Role.ADMIN)
def audit_log() -> ResponseReturnValue:
    q = parse_query(AuditQuery)
    with ctx().svc.db.reading() as session:
        rows = entries(
            session, limit=q.limit + 1, action=q.action, actor=q.actor, target=q.target, before=q.before
        )
    more = len(rows) > q.limit
    rows = rows[: q.limit]
    return respond(
        AuditPage,
        {"items": [r.__dict__ for r in rows], "next_before": rows[-1].id if more else None, "limit": q.limit},
    )
