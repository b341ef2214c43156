"""Tests: the official OpenTelemetry SDK exporting to a running TaskLens (a real HTTP server) on SQLite and
PostgreSQL — the example agent as a subprocess configured only by OTEL_* variables (protobuf over the
official OTLP/HTTP exporter), and the SDK's spans encoded by the official encoder as OTLP/JSON. Each shows
up as a task with nested calls whose durations are the agent's own."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult

from tests.helpers import wait_until
from tests.liveserver import LiveApp, start_live_app

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


@pytest.fixture
def server(db_url: str) -> Iterator[LiveApp]:
    app = start_live_app(db_url, worker=False)
    yield app
    app.close()


def get(app: LiveApp, path: str) -> Any:
    with urllib.request.urlopen(app.url + "/api/v1" + path, timeout=10) as response:
        return json.loads(response.read())


def finished_task(app: LiveApp, service: str) -> dict[str, Any] | None:
    items = get(app, f"/tasks?created_by={service}")["items"]
    if items and items[0]["status"] in ("completed", "failed"):
        return dict(get(app, f"/tasks/{items[0]['id']}"))
    return None


def seconds(row: dict[str, Any]) -> float:
    def ts(v: str) -> float:
        return datetime.fromisoformat(v.replace("Z", "+00:00")).timestamp()

    return ts(row["completed_at"]) - ts(row["started_at"])


def test_an_agent_configured_only_by_otel_variables_shows_up_with_its_calls(server: LiveApp) -> None:
    env = {
        **os.environ,
        "OTEL_EXPORTER_OTLP_ENDPOINT": server.url,
        "OTEL_SERVICE_NAME": "research-agent",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    agent = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "otel_agent.py"), "--call-seconds", "0.4"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert agent.returncode == 0, agent.stderr
    task = wait_until(lambda: finished_task(server, "research-agent"), 30, "the agent's task to complete")
    assert (task["status"], task["title"], task["worker_id"], task["invocation_count"]) == (
        "completed",
        "researcher",
        "research-agent",
        4,
    )
    assert (task["input_tokens"], task["output_tokens"]) == (3600, 230) and task["cost_usd"] > 0
    [row] = [r for r in get(server, "/latency?by=model&range=1h")["rows"] if r["key"] == "gpt-4.1"]
    assert row["calls"] == 1 and row["p95_s"] == pytest.approx(0.4, abs=0.1)  # the agent's 0.4 s call
    calls = {c["id"]: c for c in _calls(server, task["id"])}
    [root] = [c for c in calls.values() if c["parent_id"] is None]
    assert root["kind"] == "agent"
    children = [c for c in calls.values() if c["parent_id"] == root["id"]]
    assert sorted(c["kind"] for c in children) == ["llm", "llm", "tool"]
    first = min((c for c in children if c["kind"] == "llm"), key=lambda c: c["started_at"])
    assert seconds(first) == pytest.approx(0.4, abs=0.1)  # the agent's own clock, not the arrival time
    detail = get(server, f"/invocations/{first['id']}")
    assert detail["messages"]["input"][0]["content"] == "Which files describe the architecture?"
    assert seconds(task) == pytest.approx(seconds(root), abs=0.001)


class JsonExporter(SpanExporter):
    """OTLP/JSON over HTTP: the official encoder's message, written as the spec's JSON (hex ids)."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        data = json_format.MessageToDict(encode_spans(spans))
        for rs in data.get("resourceSpans", []):
            for ss in rs.get("scopeSpans", []):
                for s in ss.get("spans", []):
                    for key in ("traceId", "spanId", "parentSpanId"):
                        if key in s:
                            s[key] = base64.b64decode(s[key]).hex()
        req = urllib.request.Request(
            self.endpoint, json.dumps(data).encode(), {"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(req, timeout=10) as response:
            assert response.status == 200
            assert json.loads(response.read()) == {}
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def test_the_sdk_exporting_otlp_json(server: LiveApp) -> None:
    provider = TracerProvider(resource=Resource.create({"service.name": "json-agent"}))
    provider.add_span_processor(SimpleSpanProcessor(JsonExporter(server.url + "/v1/traces")))
    tracer = provider.get_tracer("t")
    start = 1_000_000_000 * int(datetime.now().timestamp() - 10)
    with tracer.start_as_current_span("invoke_agent json", start_time=start, end_on_exit=False) as root:
        root.set_attribute("gen_ai.agent.name", "json-agent-run")
        llm = tracer.start_span("chat", start_time=start + 1_000_000_000)
        llm.set_attribute("gen_ai.operation.name", "chat")
        llm.set_attribute("gen_ai.request.model", "gpt-4.1")
        llm.set_attribute("gen_ai.usage.input_tokens", 10)
        llm.end(end_time=start + 3_000_000_000)  # a 2 s call
        root.end(end_time=start + 4_000_000_000)
    provider.shutdown()
    task = wait_until(lambda: finished_task(server, "json-agent"), 30, "the JSON export's task")
    assert task["title"] == "json-agent-run" and seconds(task) == pytest.approx(4.0, abs=0.001)
    [chat] = [c for c in _calls(server, task["id"]) if c["kind"] == "llm"]
    assert seconds(chat) == pytest.approx(2.0, abs=0.001) and chat["input_tokens"] == 10
    assert chat["duration_s"] == pytest.approx(2.0, abs=0.001)
    [row] = get(server, "/latency?by=model&range=1h&worker=json-agent")["rows"]
    assert (row["key"], row["calls"]) == ("gpt-4.1", 1) and row["p50_s"] == pytest.approx(2.0, abs=0.001)
    assert row["mean_s"] == pytest.approx(2.0, abs=0.001) and row["max_s"] == pytest.approx(2.0, abs=0.001)


def _calls(app: LiveApp, task_id: int) -> list[dict[str, Any]]:
    """Every call of the task's tree, flattened."""
    out: list[dict[str, Any]] = []

    def walk(nodes: list[dict[str, Any]]) -> None:
        for node in nodes:
            out.append(node)
            walk(node["children"])

    walk(get(app, f"/tasks/{task_id}/calls")["calls"])
    return out
