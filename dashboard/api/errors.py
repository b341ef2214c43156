"""API layer: every error of /api/v1 as JSON `{"error": {"code", "message", "details"}}` — bad requests,
unknown routes and methods, oversize bodies, validation errors naming the field — never an HTML page."""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, Response, request
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

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


def bad_parameter(parameter: str, message: str) -> ApiError:
    return ApiError(400, "bad_parameter", f"bad parameter {parameter!r}: {message}", parameter=parameter)


def not_found(what: str, **details: Any) -> ApiError:
    return ApiError(404, "not_found", f"no {what}", **details)


def field_path(loc: tuple[int | str, ...], *, skip_tags: bool = False) -> str:
    """pydantic's location as people write it: events[3].input_tokens (union tags left out)."""
    out = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            out += f"[{part}]"
        elif skip_tags and i > 0 and isinstance(loc[i - 1], int) and ("." in part or part.isidentifier()):
            # After an item index pydantic names the union member it tried (`events[3].progress`): not a field.
            continue
        else:
            out += f".{part}" if out else part
    return out


def validation_error(exc: ValidationError, *, what: str = "body", status: int = 422) -> ApiError:
    """The first error names the field; all of them go in details."""
    errors = [
        {"field": field_path(tuple(e["loc"]), skip_tags=True), "message": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_input=False)
    ]
    first = errors[0] if errors else {"field": "", "message": "invalid"}
    where = first["field"] or what
    return ApiError(
        status, "validation_error", f"{where}: {first['message']}", field=first["field"], errors=errors
    )


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
        log.exception("API request %s %s failed", request.method, request.path)
        return error_response(500, "internal", "the server failed to answer this request; see its log")


HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}
