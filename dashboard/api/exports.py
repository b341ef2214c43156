"""API layer: /exports/<table>.csv — the dashboard's CSV downloads (dashboard/exports.py) under the API's
prefix: the same function answers both paths, with the same parameters and JSON errors."""

from __future__ import annotations

from flask import request
from flask.typing import ResponseReturnValue

from dashboard import exports
from dashboard.api.context import ctx
from dashboard.api.registry import Role, endpoint


@endpoint(
    "GET",
    "/exports/<table>.csv",
    Role.VIEWER,
    summary="A dashboard table as CSV (the page's filters as parameters, as /export/<table>.csv)",
    responses={200: ("the file", {"text/csv": {"schema": {"type": "string"}}})},
    errors=(400, 404),
    description=(
        "Tables: tasks, calls, invocations, activity, costs-breakdown, costs-top-tasks, costs-top-calls, "
        "agents-fleet, agents-roles; each takes the parameters of its dashboard page."
    ),
    own_query=True,  # dashboard/exports.py checks the page's parameters with the download's own errors
)
def export_csv(table: str) -> ResponseReturnValue:
    return exports.respond(ctx().svc, table, request.args)
