"""API layer: GET /audit — the audit log (who created, cancelled, retried or deleted what; token, budget and
schedule changes), newest first, filtered and paged by id. Admins only: it names every token's actions."""

from __future__ import annotations

from flask.typing import ResponseReturnValue

from dashboard.api.context import ctx, respond
from dashboard.api.registry import Role, endpoint
from dashboard.api.schemas import AuditPage, AuditQuery
from db.access.audit import entries


@endpoint(
    "GET",
    "/audit",
    Role.ADMIN,
    summary="The audit log, newest first: who changed which task, token, budget or schedule",
    responses={200: ("a page of entries", AuditPage)},
    query=AuditQuery,
)
def audit_log(q: AuditQuery) -> ResponseReturnValue:
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
