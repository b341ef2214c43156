"""Example: a small agent instrumented only with the OpenTelemetry SDK (no TaskLens code). Point it at
TaskLens the standard way and it shows up as a task with its nested calls:

    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:8050 OTEL_SERVICE_NAME=research-agent \\
        python examples/otel_agent.py --call-seconds 2

(with access control on, add OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer <token>"). Its spans follow
the GenAI semantic conventions: an `invoke_agent` root, `chat` calls with model, tokens and messages (the
first, gpt-4.1, takes --call-seconds; the second, gpt-4.1-mini, half that), and an `execute_tool` call with
its arguments and result. The model is simulated: each call just takes its time."""

from __future__ import annotations

import argparse
import json
import time

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Status, StatusCode


def chat(
    tracer: trace.Tracer, model: str, question: str, answer: str, seconds: float, tokens: tuple[int, int]
) -> None:
    with tracer.start_as_current_span(f"chat {model}") as span:
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("gen_ai.provider.name", "openai")
        span.set_attribute("gen_ai.request.model", model)
        messages = [{"role": "user", "parts": [{"type": "text", "content": question}]}]
        span.set_attribute("gen_ai.input.messages", json.dumps(messages))
        time.sleep(seconds)  # the model thinking
        span.set_attribute("gen_ai.response.model", model)
        span.set_attribute("gen_ai.usage.input_tokens", tokens[0])
        span.set_attribute("gen_ai.usage.output_tokens", tokens[1])
        reply = [
            {"role": "assistant", "parts": [{"type": "text", "content": answer}], "finish_reason": "stop"}
        ]
        span.set_attribute("gen_ai.output.messages", json.dumps(reply))


def run(call_seconds: float, fail: bool) -> None:
    tracer = trace.get_tracer("example-agent")
    with tracer.start_as_current_span("invoke_agent researcher") as root:
        root.set_attribute("gen_ai.operation.name", "invoke_agent")
        root.set_attribute("gen_ai.agent.name", "researcher")
        chat(
            tracer,
            "gpt-4.1",
            "Which files describe the architecture?",
            "Read docs/architecture.md.",
            call_seconds,
            (1200, 80),
        )
        with tracer.start_as_current_span("execute_tool read_file") as tool:
            tool.set_attribute("gen_ai.operation.name", "execute_tool")
            tool.set_attribute("gen_ai.tool.name", "read_file")
            tool.set_attribute("gen_ai.tool.call.arguments", json.dumps({"path": "docs/architecture.md"}))
            time.sleep(call_seconds / 4)
            tool.set_attribute("gen_ai.tool.call.result", "# TaskLens architecture (as built) …")
        summary = "Layers: db, reports, worker, dashboard."
        chat(tracer, "gpt-4.1-mini", "Summarise it.", summary, call_seconds / 2, (2400, 150))
        if fail:
            root.set_status(Status(StatusCode.ERROR, "the agent gave up"))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--call-seconds", type=float, default=2.0, help="how long the first model call takes")
    parser.add_argument("--runs", type=int, default=1, help="agent runs (one trace, so one task, each)")
    parser.add_argument("--fail", action="store_true", help="end each run with an error status")
    args = parser.parse_args()
    # Resource() reads OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES; the exporter reads
    # OTEL_EXPORTER_OTLP_ENDPOINT (adding /v1/traces) and OTEL_EXPORTER_OTLP_HEADERS.
    provider = TracerProvider(resource=Resource.create())
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    for _ in range(args.runs):
        run(args.call_seconds, args.fail)
    provider.shutdown()  # flushes what is still batched


if __name__ == "__main__":
    main()
