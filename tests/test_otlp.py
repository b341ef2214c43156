"""Tests: POST /v1/traces on SQLite and PostgreSQL through the real app — a trace becomes a task, its spans
calls with their own times, kinds and parents; GenAI and OpenInference attribute sets; children before
their root across requests; a replayed export stored once; protobuf, JSON and gzip; partial success for a
span outside the skew window; 400/415 for what no exporter should retry; access control on and off."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from dashboard.services import Services
from db.core.engine import Database
from db.core.timeutil import utcnow
from tests.api_support import api_client, call, row_counts
from tests.otlp_support import as_json, ids, now, request, span
from tests.test_auth_api import bearer, make_tokens, secured

PB = "application/x-protobuf"


@pytest.fixture
def client(svc: Services) -> FlaskClient:
    return api_client(svc)


def export(
    client: FlaskClient,
    message: Any,
    fmt: str = PB,
    status: int = 200,
    *,
    gzipped: bool = False,
    **headers: str,
) -> Any:
    body = message.SerializeToString() if fmt == PB else as_json(message)
    if gzipped:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    response = client.post("/v1/traces", data=body, content_type=fmt, headers=headers)
    assert response.status_code == status, response.get_data()[:500]
    assert response.mimetype == fmt
    if status != 200:
        return response
    reply = ExportTraceServiceResponse()
    if fmt == PB:
        reply.ParseFromString(response.get_data())
    else:
        json_format.Parse(response.get_data(), reply)
    return reply


def task_of(client: FlaskClient, trace: bytes) -> dict[str, Any]:
    [found] = call(client, "GET", f"/tasks?text={trace.hex()}")["items"]
    task: dict[str, Any] = call(client, "GET", f"/tasks/{found['id']}")
    return task


def genai_trace(t0: float) -> tuple[bytes, list[Any]]:
    trace, root = ids()
    agent = span(
        trace,
        "invoke_agent planner",
        t0,
        t0 + 5,
        span_id=root,
        gen_ai__operation__name="invoke_agent",
        gen_ai__agent__name="planner",
    )
    chat = span(
        trace,
        "chat gpt-4.1",
        t0 + 1,
        t0 + 3,
        parent=root,
        gen_ai__operation__name="chat",
        gen_ai__provider__name="openai",
        gen_ai__request__model="gpt-4.1",
        gen_ai__usage__input_tokens=1200,
        gen_ai__usage__output_tokens=300,
        gen_ai__usage__cache_read__input_tokens=200,
        gen_ai__input__messages=[{"role": "user", "parts": [{"type": "text", "content": "plan the work"}]}],
        gen_ai__output__messages=[
            {
                "role": "assistant",
                "parts": [{"type": "tool_call", "id": "c1", "name": "read_file", "arguments": {"p": "a"}}],
                "finish_reason": "tool_call",
            }
        ],
        gen_ai__system_instructions=[{"type": "text", "content": "be brief"}],
    )
    tool = span(
        trace,
        "execute_tool read_file",
        t0 + 3.5,
        t0 + 3.75,
        parent=root,
        gen_ai__operation__name="execute_tool",
        gen_ai__tool__name="read_file",
        gen_ai__tool__call__arguments={"p": "a"},
        gen_ai__tool__call__result="contents",
    )
    return trace, [agent, chat, tool]


@pytest.mark.parametrize("fmt", [PB, "application/json"])
def test_children_first_then_the_root_make_one_task_with_a_call_tree(client: FlaskClient, fmt: str) -> None:
    t0 = now() - 60
    trace, (agent, chat, tool) = genai_trace(t0)
    reply = export(client, request("planner-svc", chat, tool), fmt)
    assert not reply.HasField("partial_success")
    task = task_of(client, trace)
    assert (task["status"], task["worker_id"], task["title"]) == (
        "running",
        "planner-svc",
        "planner-svc: chat gpt-4.1",
    )
    export(client, request("planner-svc", agent), fmt)
    task = task_of(client, trace)
    # exported without their agent span, the chat and tool calls took the service as their role
    assert call(client, "GET", f"/calls/t{task['id']}-{chat.span_id.hex()}")["role"] == "planner-svc"
    assert (task["status"], task["title"], task["invocation_count"]) == ("completed", "planner", 3)
    assert (task["input_tokens"], task["output_tokens"], task["cache_read_tokens"]) == (1200, 300, 200)
    assert task["cost_usd"] > 0 and task["external_id"] == trace.hex()
    tid = task["id"]
    llm = call(client, "GET", f"/invocations/t{tid}-{chat.span_id.hex()}")
    assert (llm["kind"], llm["model"], llm["provider"], llm["parent_id"]) == (
        "llm",
        "gpt-4.1",
        "openai",
        f"t{tid}-{agent.span_id.hex()}",
    )
    assert _seconds(llm) == pytest.approx(2.0, abs=0.001)
    assert [m["role"] for m in llm["messages"]["input"]] == ["system", "user"]
    assert llm["messages"]["output"][0]["tool_calls"][0]["name"] == "read_file"
    tool_call = call(client, "GET", f"/invocations/t{tid}-{tool.span_id.hex()}")
    assert (tool_call["kind"], tool_call["name"], tool_call["messages"]["result"]) == (
        "tool",
        "read_file",
        "contents",
    )
    assert _seconds(tool_call) == pytest.approx(0.25, abs=0.001)
    assert (_ts(task["completed_at"]) - _ts(task["started_at"])) == pytest.approx(5.0, abs=0.001)


def test_openinference_attributes_gzip_and_a_failed_root(client: FlaskClient) -> None:
    t0 = now() - 30
    trace, root = ids()
    llm = span(
        trace,
        "ChatCompletion",
        t0 + 0.5,
        t0 + 1.5,
        parent=root,
        openinference__span__kind="LLM",
        llm__model_name="claude-sonnet-4",
        llm__provider="anthropic",
        llm__token_count__prompt=500,
        llm__token_count__completion=50,
        llm__cost__total=0.125,
        **{  # type: ignore[arg-type]
            "llm.input_messages.0.message.role": "system",
            "llm.input_messages.0.message.content": "you help",
            "llm.input_messages.1.message.role": "user",
            "llm.input_messages.1.message.content": "hi",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "search",
            "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": '{"q": "x"}',
        },
    )
    tool = span(
        trace,
        "search",
        t0 + 2,
        t0 + 2.5,
        parent=root,
        openinference__span__kind="TOOL",
        tool__name="search",
        input__value='{"q": "x"}',
        output__value="found",
    )
    chain = span(trace, "agent", t0, t0 + 3, span_id=root, error="boom", openinference__span__kind="AGENT")
    export(client, request("oi-agent", llm, tool, chain), gzipped=True)
    task = task_of(client, trace)
    assert (task["status"], task["error_message"], task["cost_usd"]) == (
        "failed",
        "boom",
        pytest.approx(0.125),
    )
    found = call(client, "GET", f"/invocations/t{task['id']}-{llm.span_id.hex()}")
    assert (found["kind"], found["model"], found["provider"], found["input_tokens"]) == (
        "llm",
        "claude-sonnet-4",
        "anthropic",
        500,
    )
    assert [m["role"] for m in found["messages"]["input"]] == ["system", "user"]
    assert found["messages"]["output"][0]["tool_calls"] == [{"name": "search", "arguments": {"q": "x"}}]
    searched = call(client, "GET", f"/invocations/t{task['id']}-{tool.span_id.hex()}")
    assert (searched["kind"], searched["name"], searched["messages"]["arguments"]) == (
        "tool",
        "search",
        {"q": "x"},
    )


def test_a_replayed_export_is_stored_once(client: FlaskClient, db: Database) -> None:
    trace, spans = genai_trace(now() - 20)
    message = request("svc", *spans)
    export(client, message)
    before = row_counts(db)
    reply = export(client, message)
    assert not reply.HasField("partial_success")
    after = row_counts(db)
    assert after == before
    assert task_of(client, trace)["invocation_count"] == 3


def test_a_span_outside_the_skew_window_is_a_partial_success(client: FlaskClient) -> None:
    trace, root = ids()
    old = span(trace, "old", now() - 9 * 86400, now() - 9 * 86400 + 1, parent=root)
    fine = span(trace, "fine", now() - 5, now() - 4, parent=root)
    reply = export(client, request("svc", old, fine), "application/json")
    assert reply.partial_success.rejected_spans == 1
    assert "in the past" in reply.partial_success.error_message
    assert task_of(client, trace)["invocation_count"] == 1


def test_bad_bodies_are_400_or_415_and_store_nothing(client: FlaskClient, db: Database) -> None:
    before = row_counts(db)
    bad = client.post("/v1/traces", data=b"\xff\xff\xff\x07garbage", content_type=PB)
    assert bad.status_code == 400 and bad.mimetype == PB
    bad_json = client.post(
        "/v1/traces", data=b'{"resourceSpans": [{"scopeSpans": 3}]}', content_type="application/json"
    )
    assert bad_json.status_code == 400 and "scopeSpans" in bad_json.get_json()["message"]
    bad_gzip = client.post(
        "/v1/traces", data=b"not gzip", content_type=PB, headers={"Content-Encoding": "gzip"}
    )
    assert bad_gzip.status_code == 400
    assert client.post("/v1/traces", data=b"x", content_type="text/plain").status_code == 415
    assert row_counts(db) == before


def test_access_control_needs_an_operator_bearer_token(svc: Services) -> None:
    secure = secured(svc)
    client = api_client(secure)
    tokens = make_tokens(secure)
    trace, spans = genai_trace(now() - 10)
    message = request("svc", *spans)
    refused = export(client, message, status=401)
    assert refused.headers["WWW-Authenticate"].startswith("Bearer")
    export(client, message, status=403, Authorization=bearer(tokens["viewer"])["Authorization"])
    export(client, message, Authorization=bearer(tokens["operator"])["Authorization"])
    with secure.db.reading() as session:
        from sqlalchemy import select

        from db.core.models import Task

        assert session.scalar(select(Task.created_by).where(Task.external_id == trace.hex())) == "svc"


def _ts(value: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _seconds(inv: dict[str, Any]) -> float:
    return _ts(inv["completed_at"]) - _ts(inv["started_at"])


def test_now_is_naive_utc() -> None:
    assert utcnow().tzinfo is None and json.dumps([]) == "[]"


def test_the_agents_page_lists_the_service_with_its_tasks_and_real_call_durations(
    client: FlaskClient, svc: Services
) -> None:
    from dashboard.pages import agents as page
    from db.analytics import agents
    from db.read.scope import parse_scope

    _, spans = genai_trace(now() - 120)
    export(client, request("planner-svc", *spans))
    text = str(page.external(svc, "?range=24h"))
    assert "planner-svc" in text and "1 / 0" in text  # one task done, none failed
    with svc.db.reading() as session:
        roles = agents.roles(session, parse_scope("?range=24h", utcnow()), exact_below=5000)
    # The chat and tool spans name no agent: they take their parent agent span's, like the span itself.
    row = roles.set_index("role").loc["planner"]
    assert row["calls"] == 3 and row["avg_s"] == pytest.approx((5 + 2 + 0.25) / 3, abs=0.01)
