"""API layer: /exports/<table>.csv — the dashboard's CSV downloads (dashboard/exports.py) under the API's
prefix: the same function answers both paths, with the same parameters and JSON errors."""

from __future__ import annotations

from flask import request
from flask.typing import ResponseReturnValue

from dashboard import exports
from dashboard.api.context import ctx
from dashboard.api.registry import Role, endpoint


@endpoint("GET", "/exports/<table>.csv", Role.VIEWER)
def export_csv(table: str) -> ResponseReturnValue:
    return exports.respond(ctx().svc, table, request.args)
