"""API layer: builds the /api/v1 blueprint from the endpoint table (registry.py), each handler behind the
role guard, timed and counted; unknown paths and methods under the prefix answer JSON 404 / 405 instead of
falling through to the dashboard's pages."""

from __future__ import annotations

import importlib
import pkgutil
import time
from functools import cache
from pathlib import Path

from flask import Blueprint, Flask, Response, g, request
from flask.typing import ResponseReturnValue
from werkzeug.routing import Map, Rule

from dashboard.api import errors, stats
from dashboard.api.coalesce import Coalesced
from dashboard.api.context import KEY, ApiContext, ctx
from dashboard.api.errors import ApiError
from dashboard.api.metrics import Metrics
from dashboard.api.registry import ENDPOINTS, PREFIX, AnyPathConverter, TaskIdConverter, guard
from dashboard.services import Services

CATCH_ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def declare_all() -> None:
    """Imports every module of the API package, so each `@endpoint` declaration is in registry.ENDPOINTS: a new
    route module needs no line anywhere else."""
    for module in pkgutil.iter_modules([str(Path(__file__).parent)], f"{__package__}."):
        importlib.import_module(module.name)


declare_all()


@cache
def known_routes() -> Map:
    """Every declared endpoint's rule, to tell a wrong method (405) from an unknown path (404). Built on the first
    such request and shared by every app of the process: werkzeug compiles each rule into Python code, and
    building this map with each app cost a third of `create_app` (an app per API test, per live server)."""
    return Map(
        [Rule(PREFIX + ep.rule, endpoint=ep.operation_id, methods=[ep.method]) for ep in ENDPOINTS],
        converters={"task_id": TaskIdConverter},
    )


def build_blueprint() -> Blueprint:
    bp = Blueprint("api_v1", __name__, url_prefix=PREFIX)
    for ep in ENDPOINTS:
        bp.add_url_rule(ep.rule, ep.operation_id, guard(ep, ep.handler), methods=[ep.method])

    def unrouted(rest: str = "") -> ResponseReturnValue:
        allowed = known_routes().bind("api").allowed_methods(request.path)
        if allowed:
            methods = sorted(set(allowed) - {"HEAD", "OPTIONS"})
            raise ApiError(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed on {request.path}; use {', '.join(methods)}",
                headers={"Allow": ", ".join(methods)},
                allowed=methods,
            )
        raise ApiError(404, "not_found", f"no API endpoint at {request.path}", path=request.path)

    bp.add_url_rule("/", "unrouted_root", unrouted, methods=CATCH_ALL_METHODS)
    bp.add_url_rule("/<any_path:rest>", "unrouted", unrouted, methods=CATCH_ALL_METHODS)
    errors.install(bp)

    @bp.before_request
    def _start() -> None:
        g.api_started = time.perf_counter()

    @bp.after_request
    def _count(response: Response) -> Response:
        endpoint = (request.endpoint or "unrouted").removeprefix("api_v1.")
        metrics = ctx().metrics
        metrics.requests.labels(request.method, endpoint, str(response.status_code)).inc()
        metrics.request_seconds.labels(endpoint).observe(time.perf_counter() - g.get("api_started", 0.0))
        return response

    return bp


def mount(server: Flask, svc: Services) -> None:
    """Registers /api/v1 on the dashboard's server (once per app)."""
    server.extensions[KEY] = ApiContext(
        svc, svc.settings.prices(), Metrics(svc), Coalesced(lambda: stats.overview_stats(svc))
    )
    server.url_map.converters["task_id"] = TaskIdConverter
    server.url_map.converters["any_path"] = AnyPathConverter
    server.register_blueprint(build_blueprint())
