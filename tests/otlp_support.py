"""Tests: OTLP request bodies built with the official `opentelemetry-proto` messages — spans with GenAI or
OpenInference attributes — and their OTLP/JSON form (hex ids, as the spec writes them)."""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span, Status

NS = 1_000_000_000


def ids() -> tuple[bytes, bytes]:
    return os.urandom(16), os.urandom(8)


def attr(key: str, value: Any) -> KeyValue:
    if isinstance(value, bool):
        v = AnyValue(bool_value=value)
    elif isinstance(value, int):
        v = AnyValue(int_value=value)
    elif isinstance(value, float):
        v = AnyValue(double_value=value)
    else:
        v = AnyValue(string_value=value if isinstance(value, str) else json.dumps(value))
    return KeyValue(key=key, value=v)


def span(
    trace: bytes,
    name: str,
    start: float,
    end: float,
    parent: bytes = b"",
    span_id: bytes | None = None,
    error: str | None = None,
    **attributes: Any,
) -> Span:
    s = Span(
        trace_id=trace,
        span_id=span_id or os.urandom(8),
        parent_span_id=parent,
        name=name,
        start_time_unix_nano=int(start * NS),
        end_time_unix_nano=int(end * NS),
        attributes=[attr(k.replace("__", "."), v) for k, v in attributes.items()],
    )
    if error is not None:
        s.status.code = Status.STATUS_CODE_ERROR
        s.status.message = error
    return s


def request(service: str, *spans: Span) -> ExportTraceServiceRequest:
    rs = ResourceSpans()
    rs.resource.attributes.append(attr("service.name", service))
    rs.scope_spans.add().spans.extend(spans)
    return ExportTraceServiceRequest(resource_spans=[rs])


def as_json(message: ExportTraceServiceRequest) -> bytes:
    """OTLP/JSON: protobuf's JSON mapping with trace and span ids in hex instead of base64."""
    data = json_format.MessageToDict(message)
    for rs in data.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for s in ss.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in s:
                        s[key] = base64.b64decode(s[key]).hex()
    return json.dumps(data).encode()


def now() -> float:
    return time.time()
