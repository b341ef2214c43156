"""API layer: GET /openapi.json — the OpenAPI 3.1 document of /api/v1, generated from the endpoint
declarations (registry.py `endpoint`): paths, methods, roles, summaries and answers from each declaration,
schemas and query parameters from the pydantic models it names (their `model_json_schema`)."""

from __future__ import annotations

import functools
import json
import re
from typing import Any

from flask import Response
from flask.typing import ResponseReturnValue
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from dashboard.api.registry import ENDPOINTS, PREFIX, Endpoint, Role, endpoint
from dashboard.api.schemas import ErrorBody

JSON = "application/json"
ERRORS = {
    400: "a bad parameter, cursor or malformed JSON",
    401: "auth is on and no valid bearer token was sent",
    403: "the token's role is below the one this operation needs (x-required-role)",
    404: "no such task, invocation or path",
    405: "the path takes other methods (see Allow)",
    409: "the task's state does not allow it (an illegal transition; a duplicate key); for /celery, no broker"
    " is configured or the worker refused",
    413: "the body is too large",
    415: "the body is not application/json",
    422: "a field of the body is invalid (details.field names it)",
    429: "too many requests from this token or address (see Retry-After)",
    503: "a service it needs cannot be reached now (for /celery, the Celery broker)",
}
# Answers any operation may give: access control and the rate limit (dashboard/api/registry.py guard).
GUARD_ERRORS = (401, 403, 429)
# A path parameter's schema by its Flask converter (registry.TaskIdConverter: 1 to 18 digits); others are text.
CONVERTER_SCHEMAS = {"task_id": {"type": "integer", "minimum": 1, "maximum": 2**63 - 1}}
PARAMETER = re.compile(r"<(?:([a-z_]+)(?:\([^)]*\))?:)?([a-z_]+)>")


def flask_to_openapi(rule: str) -> str:
    """/tasks/<task_id:task_id> → /tasks/{task_id}"""
    return PARAMETER.sub(r"{\2}", rule)


@functools.cache
def document() -> dict[str, Any]:
    queries = {ep.query for ep in ENDPOINTS if ep.query is not None}
    answers: set[type[BaseModel]] = {ErrorBody}
    answers |= {c for ep in ENDPOINTS for _, c in ep.responses.values() if isinstance(c, type)}
    bodies = {ep.body for ep in ENDPOINTS if ep.body is not None}
    # Sorted by name: the document does not depend on the order the route modules were imported in.
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (m, "serialization") for m in sorted(answers, key=_name)
    ]
    models += [(m, "validation") for m in sorted({*bodies, *queries}, key=_name)]
    refs, defs = models_json_schema(models, ref_template="#/components/schemas/{model}")
    paths: dict[str, Any] = {}
    for ep in ENDPOINTS:
        op = _operation(ep, refs, defs["$defs"])
        paths.setdefault(flask_to_openapi(ep.rule), {})[ep.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "TaskLens API",
            "version": "1.0.0",
            "description": "Live tracking of AI-agent tasks. Every error is "
            '{"error": {"code", "message", "details"}}. Times are UTC, ISO 8601. Each operation names in '
            "x-required-role the role it will need once access control is on (viewer < operator < admin).",
        },
        "servers": [{"url": PREFIX}],
        "paths": paths,
        "components": {"schemas": {k: v for k, v in defs["$defs"].items() if not _is_query(k, queries)}},
    }


def _name(model: type[BaseModel]) -> str:
    return model.__name__


def _is_query(name: str, queries: set[type[BaseModel]]) -> bool:
    return any(name == q.__name__ for q in queries)


def _operation(ep: Endpoint, refs: Any, defs: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": ep.operation_id,
        "summary": ep.summary,
        "x-required-role": ep.role.value,
        "parameters": [
            _path_parameter(ep, converter, name) for converter, name in PARAMETER.findall(ep.rule)
        ],
        "responses": {},
    }
    if ep.description:
        op["description"] = ep.description
    if ep.query is not None:
        op["parameters"] += _query_parameters(ep.query, refs, defs)
    if ep.body is not None:
        op["requestBody"] = {"required": True, "content": {JSON: {"schema": refs[(ep.body, "validation")]}}}
    for status, (description, content) in ep.responses.items():
        response: dict[str, Any] = {"description": description}
        if isinstance(content, type):  # a pydantic model (registry.Responses)
            response["content"] = {JSON: {"schema": refs[(content, "serialization")]}}
        elif content is not None:
            response["content"] = content
        op["responses"][str(status)] = response
    error_schema = refs[(ErrorBody, "serialization")]
    for status in sorted({*ep.errors, *GUARD_ERRORS}):
        op["responses"][str(status)] = {
            "description": ERRORS[status],
            "content": {JSON: {"schema": error_schema}},
        }
    return op


def _path_parameter(ep: Endpoint, converter: str, name: str) -> dict[str, Any]:
    schema = dict(CONVERTER_SCHEMAS.get(converter, {"type": "string"}))
    if name in ep.path_notes:
        schema["description"] = ep.path_notes[name]
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _query_parameters(model: type[BaseModel], refs: Any, defs: dict[str, Any]) -> list[dict[str, Any]]:
    ref = refs[(model, "validation")]["$ref"].rsplit("/", 1)[1]
    properties = defs[ref]["properties"]
    out = []
    for name, field in model.model_fields.items():
        wire = field.alias or name
        schema = dict(properties[wire])
        description = schema.pop("description", None) or field.description
        schema.pop("title", None)
        param: dict[str, Any] = {"name": wire, "in": "query", "required": False, "schema": schema}
        if description:
            param["description"] = description
        if schema.get("type") == "array":
            param["style"], param["explode"] = "form", True
        out.append(param)
    return out


@endpoint(
    "GET",
    "/openapi.json",
    Role.VIEWER,
    summary="This document",
    responses={200: ("OpenAPI 3.1", {JSON: {"schema": {"type": "object"}}})},
)
def openapi() -> ResponseReturnValue:
    return Response(json.dumps(document()), mimetype=JSON)
