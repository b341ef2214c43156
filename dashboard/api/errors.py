"""API layer: every error of /api/v1 as JSON `{"error": {"code", "message", "details"}}` — bad requests,
unknown routes and methods, oversize bodies, validation errors naming the field, and 503/507 with Retry-After
while the database is away or its storage full — never an HTML page."""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, Response, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from dashboard.api.schemas import NO_NUL
from db.core.unavailable import Outage, classify
from db.domain.ops import NUL_IN_ID

log = logging.getLogger(__name__)


class ApiError(Exception):
    """A request the API refuses: the HTTP status, a stable code, a sentence for people, and details that
    name what was wrong (`field`, `parameter`, `index`)."""

    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None, **details: Any
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details
        self.headers = headers or {}


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> Response:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return Response(
        json.dumps(body, ensure_ascii=False, default=str), status=status, mimetype="application/json"
    )


def unavailable_response(outage: Outage) -> Response:
    """503 `database_unavailable` or 507 `storage_full`, with Retry-After: the request was fine but the database
    could not take it now. Its transaction rolled back — unless the connection broke during COMMIT itself,
    when no client of any database can know; idempotency keys (event ids) make the retry safe."""
    response = error_response(
        outage.status,
        outage.kind.value,
        outage.message,
        {"reason": outage.reason, "retry_after": outage.retry_after},
    )
    response.headers["Retry-After"] = str(outage.retry_after)
    return response


def bad_parameter(parameter: str, message: str) -> ApiError:
    return ApiError(400, "bad_parameter", f"bad parameter {parameter!r}: {message}", parameter=parameter)


def not_found(what: str, **details: Any) -> ApiError:
    return ApiError(404, "not_found", f"no {what}", **details)


def field_path(loc: tuple[int | str, ...], tags: frozenset[str] = frozenset()) -> str:
    """pydantic's location as people write it: events[3].input_tokens. Inside a list of a tagged union pydantic
    names the member it tried after the index (`events, 3, progress, percent`): that is no field, left out."""
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif i > 0 and isinstance(loc[i - 1], int) and part in tags:
            continue
        else:
            out += f".{part}" if out else part
    return out


def validation_error(
    exc: ValidationError, *, what: str = "body", status: int = 422, tags: frozenset[str] = frozenset()
) -> ApiError:
    """The first error names the field (and, inside a list, the item's index); all of them go in details."""
    errors = []
    for e in exc.errors(include_url=False, include_input=False):
        loc = tuple(e["loc"])
        if e["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc += (str(e.get("ctx", {}).get("discriminator", "")).strip("'\""),)  # the tag field itself
        message = e["msg"]
        if e["type"] == "string_pattern_mismatch" and e.get("ctx", {}).get("pattern") == NO_NUL:
            message = NUL_IN_ID
        errors.append({"field": field_path(loc, tags), "message": message, "type": e["type"]})
    first = errors[0] if errors else {"field": "", "message": "invalid"}
    details: dict[str, Any] = {"field": first["field"], "errors": errors}
    raw = exc.errors(include_url=False, include_input=False)
    if raw and len(raw[0]["loc"]) > 1 and isinstance(raw[0]["loc"][1], int):
        details["index"] = raw[0]["loc"][1]
    where = first["field"] or what
    return ApiError(status, "validation_error", f"{where}: {first['message']}", **details)


def install(bp: Blueprint) -> None:
    """Error handlers of the API's views (routing misses go to blueprint.py's catch-all instead, which Flask
    would otherwise hand to the dashboard)."""

    @bp.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> Response:
        response = error_response(exc.status, exc.code, exc.message, exc.details)
        response.headers.update(exc.headers)
        return response

    @bp.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        status = exc.code or 500
        code = HTTP_CODES.get(status, "http_error")
        return error_response(status, code, exc.description or exc.name)

    @bp.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        if isinstance(exc, HTTPException):
            return _http_error(exc)
        outage = classify(exc)
        if outage is not None:  # the database's health logs the outage once; no traceback per request
            log.debug("API request %s %s: %s", request.method, request.path, outage.detail)
            return unavailable_response(outage)
        log.exception("API request %s %s failed", request.method, request.path)
        return error_response(500, "internal", "the server failed to answer this request; see its log")


HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}
