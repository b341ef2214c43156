"""Benchmarks: the OTLP/HTTP receiver (POST /v1/traces) of a real `python app.py web` on loopback — spans/s
and LLM calls/s sustained through one web process with concurrent exporters (protobuf, as the official
exporter sends), the web process's CPU per span, export → visible in the API (p50/p95, the task page reads
the same rows), and the bytes stored per LLM call with ~3 KB of messages (SQLite, after VACUUM).

    python bench/bench_otlp.py                       # SQLite, 4 exporters, 10 s
    python bench/bench_otlp.py --db both --seconds 20 --clients 8

Each trace is an agent run as GenAI-instrumented frameworks export it: an invoke_agent root, three chat
calls (model, tokens, input and output messages of ~3 KB together) and a tool call; 20 traces (100 spans) a
request. Figures are printed, nothing is asserted."""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent)]

from common import (  # noqa: E402
    ROOT,
    check_postgres,
    db_kinds,
    free_port,
    fresh_database,
    machine_line,
    percentile,
    stop_processes,
    table,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue  # noqa: E402
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, Span  # noqa: E402

PHOENIX = "Arize Phoenix on this workload: 83 spans/s, 0.3-1.1 s visible after flush, 7.6 KB per LLM call"
# Message text: slices of this repository's own documentation, so it compresses like real prose and
# Markdown (zlib ~2.5-3x), not like random or repeated words.
CORPUS = (ROOT / "README.md").read_text() + (ROOT / "docs" / "architecture.md").read_text()
NS = 1_000_000_000


def prose(rng: random.Random, chars: int) -> str:
    start = rng.randrange(0, len(CORPUS) - chars)
    return CORPUS[start : start + chars]


def _kv(key: str, value: Any) -> KeyValue:
    v = AnyValue(int_value=value) if isinstance(value, int) else AnyValue(string_value=str(value))
    return KeyValue(key=key, value=v)


def trace_spans(rng: random.Random, start: float) -> list[Span]:
    trace, root = os.urandom(16), os.urandom(8)

    def span(
        name: str, t0: float, t1: float, parent: bytes, span_id: bytes | None = None, **attrs: Any
    ) -> Span:
        return Span(
            trace_id=trace,
            span_id=span_id or os.urandom(8),
            parent_span_id=parent,
            name=name,
            start_time_unix_nano=int(t0 * NS),
            end_time_unix_nano=int(t1 * NS),
            attributes=[_kv(k.replace("__", "."), v) for k, v in attrs.items()],
        )

    spans = [
        span(
            "invoke_agent coder",
            start,
            start + 9,
            b"",
            root,
            gen_ai__operation__name="invoke_agent",
            gen_ai__agent__name="coder",
        )
    ]
    for i in range(3):
        t0 = start + 0.5 + i * 2.5
        question = [{"role": "user", "parts": [{"type": "text", "content": prose(rng, 1800)}]}]
        answer = [{"role": "assistant", "parts": [{"type": "text", "content": prose(rng, 1200)}]}]
        spans.append(
            span(
                "chat gpt-4.1",
                t0,
                t0 + 2,
                root,
                gen_ai__operation__name="chat",
                gen_ai__provider__name="openai",
                gen_ai__request__model="gpt-4.1",
                gen_ai__usage__input_tokens=rng.randint(800, 3000),
                gen_ai__usage__output_tokens=rng.randint(50, 600),
                gen_ai__input__messages=json.dumps(question),
                gen_ai__output__messages=json.dumps(answer),
            )
        )
    spans.append(
        span(
            "execute_tool run_tests",
            start + 8,
            start + 8.5,
            root,
            gen_ai__operation__name="execute_tool",
            gen_ai__tool__name="run_tests",
            gen_ai__tool__call__arguments='{"path": "tests/"}',
            gen_ai__tool__call__result="42 passed",
        )
    )
    return spans


def export_body(rng: random.Random, traces: int) -> bytes:
    rs = ResourceSpans()
    rs.resource.attributes.append(_kv("service.name", "bench-agent"))
    scope = rs.scope_spans.add()
    now = time.time() - 60
    for _ in range(traces):
        scope.spans.extend(trace_spans(rng, now))
    body: bytes = ExportTraceServiceRequest(resource_spans=[rs]).SerializeToString()
    return body


def post(port: int, body: bytes) -> int:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/traces", body, {"Content-Type": "application/x-protobuf"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=120) as response:
        response.read()
        return int(response.status)


@contextmanager
def web(url: str) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    port = free_port()
    env = dict(os.environ, TASKLENS_LOG_LEVEL="WARNING", TASKLENS_RATE_LIMIT="off")
    cmd = [sys.executable, str(ROOT / "app.py"), "web", "--db", url, "--port", str(port)]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2):
                        break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        log.seek(0)
                        raise RuntimeError(log.read().decode()[-2000:]) from None
                    time.sleep(0.2)
            yield port, proc
        finally:
            stop_processes([proc])


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def throughput(port: int, pid: int, clients: int, seconds: float, traces: int) -> tuple[float, float]:
    bodies = [export_body(random.Random(i), traces) for i in range(clients * 4)]
    spans_per_body = traces * 5
    sent = [0] * clients
    stop = time.monotonic() + seconds

    def run(n: int) -> None:
        i = n
        while time.monotonic() < stop:
            # A body is posted once: a second post of it would be all duplicates (cheaper, not the workload).
            body = bodies[i % len(bodies)] if i < len(bodies) else export_body(random.Random(i), traces)
            assert post(port, body) == 200
            sent[n] += spans_per_body
            i += clients

    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed, cpu = time.monotonic() - t0, cpu_seconds(pid) - cpu0
    return sum(sent) / elapsed, cpu / max(1, sum(sent))


def visible(port: int, probes: int) -> list[float]:
    rng = random.Random(7)
    latencies = []
    for _ in range(probes):
        spans = trace_spans(rng, time.time() - 10)
        rs = ResourceSpans()
        rs.resource.attributes.append(_kv("service.name", "probe"))
        rs.scope_spans.add().spans.extend(spans)
        body = ExportTraceServiceRequest(resource_spans=[rs]).SerializeToString()
        key = spans[0].trace_id.hex()
        t0 = time.monotonic()
        post(port, body)
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/tasks?text={key}", timeout=10) as r:
                items = json.loads(r.read())["items"]
            if items and items[0]["status"] == "completed":
                break
            time.sleep(0.002)
        latencies.append(time.monotonic() - t0)
    return latencies


def storage(url: str, port: int, traces: int) -> tuple[float, float, int]:
    """Bytes per LLM call of the whole SQLite file and of the invocations table (with its indexes)."""
    for i in range(0, traces, 50):
        post(port, export_body(random.Random(10_000 + i), min(50, traces - i)))
    path = url.split(":///", 1)[1]
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.execute("VACUUM")
    llm = con.execute("SELECT count(*) FROM invocations WHERE kind = 'llm'").fetchone()[0]
    size = os.path.getsize(path)
    try:
        inv = con.execute(
            "SELECT sum(pgsize) FROM dbstat WHERE name = 'invocations' OR name LIKE 'ix_invocations%' "
            "OR name LIKE 'sqlite_autoindex_invocations%'"
        ).fetchone()[0]
    except sqlite3.OperationalError:  # SQLite built without dbstat
        inv = 0
    con.close()
    return size / max(1, llm), (inv or 0) / max(1, llm), llm


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--traces", type=int, default=20, help="traces (of 5 spans) per export request")
    parser.add_argument("--probes", type=int, default=40)
    parser.add_argument("--storage-traces", type=int, default=1000)
    args = parser.parse_args()
    print(machine_line(), f"load {os.getloadavg()[0]:.2f}")
    print(PHOENIX)
    rows = []
    for kind in db_kinds(args.db):
        if kind == "postgresql" and (reason := check_postgres()):
            print(f"postgresql skipped: {reason}")
            continue
        with fresh_database(kind) as url, web(url) as (port, proc):
            spans_s, cpu = throughput(port, proc.pid, args.clients, args.seconds, args.traces)
            lat = visible(port, args.probes)
            rows.append(
                [
                    kind,
                    f"{spans_s:,.0f}",
                    f"{spans_s * 3 / 5:,.0f}",
                    f"{cpu * 1e6:,.0f}",
                    f"{percentile(lat, 50) * 1000:.0f}",
                    f"{percentile(lat, 95) * 1000:.0f}",
                ]
            )
        if kind == "sqlite":
            with fresh_database(kind) as url, web(url) as (port, _proc):
                total, inv, llm = storage(url, port, args.storage_traces)
            print(
                f"storage (SQLite, {llm:,} LLM calls with ~3 KB of messages each, in traces of 5 spans): "
                f"{total / 1024:.2f} KB of database file per LLM call (everything: tasks, all spans, events, "
                f"indexes), {inv / 1024:.2f} KB of it in the invocations table and its indexes"
            )
    print(
        table(["db", "spans/s", "LLM calls/s", "web CPU µs/span", "visible p50 ms", "visible p95 ms"], rows)
    )


if __name__ == "__main__":
    main()
