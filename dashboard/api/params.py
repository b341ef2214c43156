"""API layer: reading a request — a JSON body of the right type and size parsed by a pydantic model, and a
query string whose every parameter is known (a misspelt filter is an error, not silently ignored)."""

from __future__ import annotations

import types
import typing
from datetime import datetime
from typing import Any, Protocol, TypeVar
from urllib.parse import urlencode

from flask import request
from pydantic import BaseModel, TypeAdapter, ValidationError
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge

from dashboard.api.errors import ApiError, bad_parameter, validation_error
from db.core.timeutil import utcnow
from db.read.scope import DIMENSIONS, Scope, ScopeError, parse_scope
from db.read.timerange import RangeError, TimeRange, resolve

M = TypeVar("M", bound=BaseModel)
BODY_LIMIT = 1024 * 1024  # 1 MB for single objects; POST /events allows more (events.py)


def json_body(limit: int = BODY_LIMIT) -> bytes:
    """The raw body of a JSON request: 415 for another content type, 413 past `limit`, 400 when empty."""
    mimetype = request.mimetype
    if mimetype != "application/json" and not mimetype.endswith("+json"):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"send the body as application/json, not {mimetype or 'no content type'}",
            content_type=request.content_type,
        )
    if request.content_length is not None and request.content_length > limit:
        raise _too_large(limit)
    request.max_content_length = limit  # also bounds a chunked body, which has no Content-Length
    try:
        data = request.get_data(cache=False)
    except RequestEntityTooLarge:
        raise _too_large(limit) from None
    if not data.strip():
        raise ApiError(400, "malformed_json", "the body is empty; send a JSON object")
    return data


def _too_large(limit: int) -> ApiError:
    return ApiError(413, "payload_too_large", f"the body is larger than {limit:,} bytes", limit_bytes=limit)


def parse_json(parser: type[M] | TypeAdapter[Any], data: bytes, tags: frozenset[str] = frozenset()) -> Any:
    """Validates `data` (parsed in the same pass): 400 for malformed JSON, 422 naming the first bad field."""
    try:
        if isinstance(parser, TypeAdapter):
            return parser.validate_json(data)
        return parser.model_validate_json(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        if errors and errors[0]["type"] == "json_invalid":
            raise ApiError(400, "malformed_json", f"the body is not valid JSON: {errors[0]['msg']}") from None
        raise validation_error(exc, tags=tags) from None


def _is_list(annotation: Any) -> bool:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return any(_is_list(a) for a in typing.get_args(annotation))
    return typing.get_origin(annotation) in (list, tuple)


def parse_query(model: type[M], args: MultiDict[str, str] | None = None) -> M:
    """The query string (`args`, default the request's) as `model`: repeated or comma-separated values for list
    fields, one value for the others; 400 naming the parameter for anything unknown, repeated or invalid."""
    args = request.args if args is None else args
    names = {(f.alias or name): name for name, f in model.model_fields.items()}
    data: dict[str, Any] = {}
    for key in args:
        if key not in names:
            known = ", ".join(sorted(names)) or "none"
            raise bad_parameter(key, f"unknown parameter; this endpoint takes {known}")
        raw = args.getlist(key)
        if _is_list(model.model_fields[names[key]].annotation):
            data[key] = [v.strip() for item in raw for v in item.split(",") if v.strip()]
        elif len(raw) > 1:
            raise bad_parameter(key, "give it once")
        else:
            data[key] = raw[0]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        parameter = str(error["loc"][0]) if error["loc"] else ""
        raise bad_parameter(parameter, error["msg"]) from None


class ScopedQuery(Protocol):
    """A query with the analytics scope's parameters: from/to or range, and a list per dimension."""

    @property
    def from_(self) -> datetime | None: ...

    @property
    def to(self) -> datetime | None: ...

    @property
    def range(self) -> str: ...


def time_range(range_: str | None, from_: datetime | None, to: datetime | None) -> TimeRange:
    """A list's time range in db/read/timerange's vocabulary, as of now; one that does not resolve is a 400
    naming range, from or to."""
    try:
        return resolve(range_, from_, to, utcnow())
    except RangeError as exc:
        raise bad_parameter(exc.parameter, str(exc)) from None


def scope_of(q: ScopedQuery) -> Scope:
    """The same scope an analytics page builds from its URL (db/read/scope.parse_scope); a bad one is a 400 naming
    the parameter."""
    params: list[tuple[str, str]] = []
    if q.from_ is not None:
        params.append(("from", q.from_.isoformat()))
        if q.to is not None:
            params.append(("to", q.to.isoformat()))
    elif q.to is not None:
        raise bad_parameter("to", "give from with to")
    else:
        params.append(("range", q.range))
    for dim in DIMENSIONS:
        params += [(dim, v) for v in getattr(q, dim)]
    try:
        return parse_scope(urlencode(params), utcnow())
    except ScopeError as exc:
        raise bad_parameter(exc.parameter, str(exc)) from None
