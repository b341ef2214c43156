"""Dashboard layer: OTLP spans as calls (db/write/span_ingest.SpanCall) — the GenAI semantic conventions
(`gen_ai.*`) and OpenInference (`llm.*`, `openinference.span.kind`) read into kind, model, tokens, cost and
messages. Pure functions of the decoded message; the README's table lists the mapping."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from db.core.timeutil import from_epoch
from db.domain.clientclock import OutOfWindow, SkewWindow
from db.domain.states import CallKind
from db.read.search import index_text
from db.write.messages import pack
from db.write.span_ingest import SpanCall

OPENINFERENCE_KINDS = {
    "LLM": CallKind.LLM,
    "EMBEDDING": CallKind.LLM,
    "TOOL": CallKind.TOOL,
    "AGENT": CallKind.AGENT,
    "RETRIEVER": CallKind.RETRIEVER,
    "RERANKER": CallKind.RETRIEVER,
}
GENAI_OPERATIONS = {
    "chat": CallKind.LLM,
    "text_completion": CallKind.LLM,
    "generate_content": CallKind.LLM,
    "embeddings": CallKind.LLM,
    "execute_tool": CallKind.TOOL,
    "invoke_agent": CallKind.AGENT,
    "create_agent": CallKind.AGENT,
}
_OI_MESSAGE = re.compile(r"^llm\.(input|output)_messages\.(\d+)\.message\.(.+)$")
_OI_TOOL_CALL = re.compile(r"^tool_calls\.(\d+)\.tool_call\.(.+)$")


@dataclass
class Mapped:
    """The calls of one export request, and what was refused (the partial-success answer)."""

    calls: list[SpanCall] = field(default_factory=list)
    rejected: int = 0
    errors: list[str] = field(default_factory=list)


def map_request(request: ExportTraceServiceRequest, now: datetime, window: SkewWindow) -> Mapped:
    out = Mapped()
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        service = str(resource.get("service.name") or "")[:200]
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                try:
                    out.calls.append(span_call(span, service, now, window))
                except ValueError as exc:
                    out.rejected += 1
                    if len(out.errors) < 5:
                        out.errors.append(str(exc))
    out.calls = with_roles(out.calls)
    return out


def with_roles(calls: list[SpanCall]) -> list[SpanCall]:
    """A call that names no agent takes the nearest agent above it in the same export (the Agents page's
    roles), else its service: chat and tool spans rarely name the agent that made them."""
    by_id = {(c.trace_id, c.span_id): c for c in calls}
    out = []
    for call in calls:
        if call.role:
            out.append(call)
            continue
        role, seen = "", 0
        parent = by_id.get((call.trace_id, call.parent_span_id or ""))
        while parent is not None and not role and seen < 100:  # a cycle of ids must not hang a request
            role = parent.role if parent.kind is CallKind.AGENT else ""
            parent = by_id.get((parent.trace_id, parent.parent_span_id or ""))
            seen += 1
        out.append(dataclasses.replace(call, role=role or call.service[:100]))
    return out


def span_call(span: Span, service: str, now: datetime, window: SkewWindow) -> SpanCall:
    """One span as a call; ValueError (naming the span) when it cannot be stored."""
    if len(span.trace_id) != 16 or len(span.span_id) != 8 or not any(span.trace_id) or not any(span.span_id):
        raise ValueError(f"span {span.name!r}: a trace id of 16 bytes and a span id of 8 are required")
    label = f"span {span.span_id.hex()} ({span.name})"
    try:
        started = window.check(from_epoch(span.start_time_unix_nano / 1e9), now)
        ended = window.check(from_epoch((span.end_time_unix_nano or span.start_time_unix_nano) / 1e9), now)
    except OutOfWindow as exc:
        raise ValueError(f"{label}: {exc}") from None
    if ended < started:
        raise ValueError(f"{label}: it ends before it starts")
    a = attributes(span.attributes)
    kind = call_kind(a)
    agent = _text(a, "gen_ai.agent.name")
    name = _text(a, "gen_ai.tool.name", "tool.name") if kind is CallKind.TOOL else ""
    name = name or (agent if kind is CallKind.AGENT else "") or span.name
    ok = span.status.code != Status.STATUS_CODE_ERROR
    messages = _messages(a, kind)
    cost = _number(a, "llm.cost.total", "gen_ai.usage.cost")
    return SpanCall(
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_span_id=span.parent_span_id.hex() if any(span.parent_span_id) else None,
        service=service,
        name=name[:200],
        kind=kind,
        started_at=started,
        completed_at=ended,
        ok=ok,
        error=None if ok else (span.status.message or _exception(span) or "error"),
        title=(agent or span.name)[:500],
        role=agent[:100],  # none: with_roles gives it its agent's or service's
        provider=_text(a, "gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")[:100],
        model=_text(a, "gen_ai.response.model", "gen_ai.request.model", "llm.model_name")[:200],
        input_tokens=_count(a, "gen_ai.usage.input_tokens", "llm.token_count.prompt"),
        output_tokens=_count(a, "gen_ai.usage.output_tokens", "llm.token_count.completion"),
        cache_read_tokens=_count(
            a,
            "gen_ai.usage.cache_read.input_tokens",
            "gen_ai.usage.cache_read_input_tokens",
            "llm.token_count.prompt_details.cache_read",
        ),
        cost_usd=None if cost is None else max(0.0, cost),
        messages=pack(messages),  # stored once: no prompt/response copy beside it
        search_text=index_text(messages),
    )


def call_kind(a: dict[str, Any]) -> CallKind:
    oi = str(a.get("openinference.span.kind") or "").upper()
    if oi:
        return OPENINFERENCE_KINDS.get(oi, CallKind.OTHER)
    operation = str(a.get("gen_ai.operation.name") or "")
    if operation:
        return GENAI_OPERATIONS.get(operation, CallKind.OTHER)
    if "gen_ai.request.model" in a or "llm.model_name" in a:
        return CallKind.LLM
    return CallKind.OTHER


def attributes(pairs: Iterable[KeyValue]) -> dict[str, Any]:
    return {kv.key: value(kv.value) for kv in pairs}


def value(v: AnyValue) -> Any:
    which = v.WhichOneof("value")
    if which == "array_value":
        return [value(x) for x in v.array_value.values]
    if which == "kvlist_value":
        return attributes(v.kvlist_value.values)
    if which == "bytes_value":
        return v.bytes_value.hex()
    return None if which is None else getattr(v, which)


def _text(a: dict[str, Any], *keys: str) -> str:
    for key in keys:
        found = a.get(key)
        if found not in (None, ""):
            return str(found)
    return ""


def _number(a: dict[str, Any], *keys: str) -> float | None:
    for key in keys:
        found = a.get(key)
        if isinstance(found, int | float) and not isinstance(found, bool):
            return float(found)
        if isinstance(found, str):
            try:
                return float(found)
            except ValueError:
                continue
    return None


def _count(a: dict[str, Any], *keys: str) -> int:
    found = _number(a, *keys)
    return 0 if found is None else max(0, min(int(found), 10**12))


def _exception(span: Span) -> str:
    for event in span.events:
        if event.name == "exception":
            ea = attributes(event.attributes)
            return ": ".join(str(x) for x in (ea.get("exception.type"), ea.get("exception.message")) if x)
    return ""


def _json(raw: Any) -> Any:
    """An attribute that carries JSON as a string (the conventions' messages, a tool's arguments)."""
    if isinstance(raw, str) and raw[:1] in ("{", "["):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def _messages(a: dict[str, Any], kind: CallKind) -> dict[str, Any]:
    out: dict[str, Any] = {"input": [], "output": []}
    system = _json(a.get("gen_ai.system_instructions"))
    if system:
        out["input"].append({"role": "system", "content": _genai_text(system)})
    out["input"] += _genai_messages(_json(a.get("gen_ai.input.messages")))
    out["output"] += _genai_messages(_json(a.get("gen_ai.output.messages")))
    oi = _openinference_messages(a)
    out["input"] += oi["input"]
    out["output"] += oi["output"]
    arguments = _json(a.get("gen_ai.tool.call.arguments"))
    result = _json(a.get("gen_ai.tool.call.result"))
    if arguments is None and "input.value" in a:
        arguments = _json(a["input.value"])
    if result is None and "output.value" in a:
        result = _json(a["output.value"])
    # An LLM span's input.value repeats its messages: keep it only when there are none.
    if arguments is not None and not (kind is CallKind.LLM and out["input"]):
        out["arguments"] = arguments
    if result is not None and not (kind is CallKind.LLM and out["output"]):
        out["result"] = result
    return out


def _genai_messages(raw: Any) -> list[dict[str, Any]]:
    """GenAI messages ({role, parts: [{type: text|tool_call|tool_call_response|…}], finish_reason}) as
    {role, content[, tool_calls][, tool_call_id]}: text joined, tool calls kept whole."""
    if not isinstance(raw, list):
        return []
    out = []
    for m in raw:
        if not isinstance(m, dict):
            continue
        message: dict[str, Any] = {"role": str(m.get("role") or "")}
        parts = m.get("parts")
        if isinstance(parts, list):
            message["content"] = _genai_text(parts)
            calls = [p for p in parts if isinstance(p, dict) and p.get("type") == "tool_call"]
            if calls:
                message["tool_calls"] = [
                    {"id": c.get("id"), "name": c.get("name"), "arguments": c.get("arguments")} for c in calls
                ]
            responses = [p for p in parts if isinstance(p, dict) and p.get("type") == "tool_call_response"]
            if responses:
                message["tool_call_id"] = responses[0].get("id")
                message["content"] = message["content"] or _genai_text(
                    [{"content": r.get("response") or r.get("result")} for r in responses]
                )
        else:
            message["content"] = m.get("content")
        if m.get("finish_reason"):
            message["finish_reason"] = m["finish_reason"]
        out.append(message)
    return out


def _genai_text(parts: Any) -> str:
    if isinstance(parts, str):
        return parts
    if not isinstance(parts, list):
        return json.dumps(parts, ensure_ascii=False, default=str)
    texts = []
    for p in parts:
        if isinstance(p, dict):
            content = p.get("content")
            if content is not None:
                texts.append(content if isinstance(content, str) else json.dumps(content, default=str))
        elif isinstance(p, str):
            texts.append(p)
    return "\n".join(texts)


def _openinference_messages(a: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """llm.input_messages.{i}.message.role / content / tool_calls.{j}.tool_call.function.name|arguments."""
    found: dict[str, dict[int, dict[str, Any]]] = {"input": {}, "output": {}}
    for key, raw in a.items():
        match = _OI_MESSAGE.match(key)
        if match is None:
            continue
        side, index, rest = match.group(1), int(match.group(2)), match.group(3)
        message = found[side].setdefault(index, {"role": "", "content": None})
        tool = _OI_TOOL_CALL.match(rest)
        if tool is not None:
            calls = message.setdefault("_calls", {})
            call = calls.setdefault(int(tool.group(1)), {})
            attr = tool.group(2)
            call_key = {"function.name": "name", "function.arguments": "arguments", "id": "id"}.get(attr)
            if call_key:
                call[call_key] = _json(raw) if call_key == "arguments" else raw
        elif rest in ("role", "content", "name", "tool_call_id"):
            message[rest] = raw
    out: dict[str, list[dict[str, Any]]] = {}
    for side, messages in found.items():
        out[side] = []
        for _, message in sorted(messages.items()):
            calls = message.pop("_calls", None)
            if calls:
                message["tool_calls"] = [c for _, c in sorted(calls.items())]
            out[side].append(message)
    return out
