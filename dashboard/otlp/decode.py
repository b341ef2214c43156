"""Dashboard layer: an OTLP/HTTP request body (protobuf or JSON, maybe gzip) as the official
ExportTraceServiceRequest message of `opentelemetry-proto`. Anything unreadable is a DecodeError (400)."""

from __future__ import annotations

import base64
import json
import zlib
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError as ProtoDecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
# What a body may grow to once decompressed: far above an exporter's batch (512 spans with messages), low
# enough that a small gzip bomb cannot take the process's memory.
MAX_INFLATED = 64 * 1024 * 1024
_ID_KEYS = ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id")


class DecodeError(ValueError):
    """The body cannot be read as an OTLP trace export; the message says why."""


class TooLarge(DecodeError):
    """The body inflates past MAX_INFLATED."""


def inflate(body: bytes, encoding: str) -> bytes:
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding != "gzip":
        raise DecodeError(f"Content-Encoding {encoding!r} is not supported; send gzip or none")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, MAX_INFLATED + 1)
    except zlib.error as exc:
        raise DecodeError(f"the gzip body is corrupt: {exc}") from None
    if len(out) > MAX_INFLATED or inflater.unconsumed_tail:
        raise TooLarge(f"the body inflates past {MAX_INFLATED:,} bytes; export smaller batches")
    if not inflater.eof:
        raise DecodeError("the gzip body is truncated")
    return out


def decode(body: bytes, content_type: str) -> ExportTraceServiceRequest:
    """The export request in `body` (already inflated) of the given media type."""
    message = ExportTraceServiceRequest()
    if content_type == PROTOBUF:
        try:
            message.ParseFromString(body)
        except (ProtoDecodeError, RuntimeError, ValueError) as exc:
            raise DecodeError(f"the body is not an OTLP ExportTraceServiceRequest protobuf: {exc}") from None
        return message
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise DecodeError(f"the body is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise DecodeError("the body must be a JSON object (an ExportTraceServiceRequest)")
    try:
        _hex_ids_to_base64(data)
        json_format.ParseDict(data, message, ignore_unknown_fields=True)
    except (json_format.ParseError, DecodeError, TypeError, ValueError, AttributeError) as exc:
        raise DecodeError(f"the body is not an OTLP ExportTraceServiceRequest: {exc}") from None
    return message


def _hex_ids_to_base64(data: dict[str, Any]) -> None:
    """OTLP/JSON writes trace and span ids as hex, where protobuf's JSON mapping expects base64 for bytes."""
    for resource in _items(data, "resourceSpans", "resource_spans"):
        for scope in _items(resource, "scopeSpans", "scope_spans"):
            for span in _items(scope, "spans"):
                _convert(span)
                for link in _items(span, "links"):
                    _convert(link)


def _items(obj: Any, *keys: str) -> list[Any]:
    if not isinstance(obj, dict):
        raise DecodeError("expected a JSON object")
    for key in keys:
        value = obj.get(key)
        if value is not None:
            if not isinstance(value, list):
                raise DecodeError(f"{key} must be a list")
            return value
    return []


def _convert(obj: Any) -> None:
    if not isinstance(obj, dict):
        raise DecodeError("a span must be a JSON object")
    for key in _ID_KEYS:
        value = obj.get(key)
        if isinstance(value, str) and value:
            try:
                obj[key] = base64.b64encode(bytes.fromhex(value)).decode()
            except ValueError:
                raise DecodeError(f"{key} {value[:40]!r} is not hex") from None
