"""Benchmarks: the REST API against a real web process on loopback — ingestion throughput through POST
/api/v1/events (batches of 100 and 1,000; SQLite and PostgreSQL, fresh databases) and the latency of list,
get and stats under 50 concurrent clients on a given database (read only).

    python bench/bench_api.py                                # ingestion on both databases, latency on a fresh
                                                             # SQLite with --history tasks
    python bench/bench_api.py --skip-ingest --url sqlite:////path/to/big.db   # latency only, read only
    python bench/bench_api.py --db sqlite --batches 60 --skip-latency

The web process is `python app.py web` (Werkzeug's threaded server, what TaskLens ships) for fresh databases.
A database given by --url is served by the same app built without running migrations, and only GET requests
are sent to it, so its file is never written. Figures are printed, nothing is asserted."""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
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
    median,
    percentile,
    rss_mb,
    stop_processes,
    table,
    verdict,
)

INGEST_TARGET = 20_000  # events/s on SQLite from one web process, batches of 1,000
LATENCY_TARGET_MS = 100.0  # p95 of list, get and stats at 1,000,000 tasks


# ---- the web process ---------------------------------------------------------------------------------
@contextmanager
def web_process(url: str, *, migrate: bool = True) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """`python app.py web` on a free port (or, without migrating, this script's --serve), until left."""
    port = free_port()
    env = dict(os.environ, TASKLENS_LOG_LEVEL="WARNING")
    if migrate:
        cmd = [sys.executable, str(ROOT / "app.py"), "web", "--db", url, "--port", str(port)]
    else:
        cmd = [sys.executable, __file__, "--serve", url, "--port", str(port)]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"web process exited: {log.read().decode()[-2000:]}")
                try:
                    if request(port, "GET", "/api/v1/health")[0] == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError("web process did not answer in 60 s")
                time.sleep(0.2)
            yield port, proc
        finally:
            stop_processes([proc])


def serve(url: str, port: int) -> None:
    """What `python app.py web` runs, minus the migration (a read-only benchmark must not change the file)."""
    import app as tasklens
    from config import Settings

    settings = Settings.from_env(database_url=url, port=port, log_level="WARNING")
    tasklens.configure_logging(settings)
    stack = tasklens.Stack(settings, migrate=False)
    stack.watch()
    web = tasklens.build_web(stack)
    web.server.run(host="127.0.0.1", port=port, threaded=True, use_reloader=False)


def request(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body, headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


# ---- ingestion ---------------------------------------------------------------------------------------
def agent_batch(size: int, run: str, tasks_per_batch: int) -> bytes:
    """`size` events of `tasks_per_batch` whole external task lives, as an agent reports them: the task, its
    start, iterations of progress + a model call with five tool lines and usage, and its end."""
    events: list[dict[str, Any]] = []
    per_task = size // tasks_per_batch
    for t in range(tasks_per_batch):
        key = f"{run}-{t}"
        life: list[dict[str, Any]] = [
            {"event": "task", "title": f"agent run {key}", "tags": ["bench"]},
            {"event": "transition", "to": "running", "worker": "bench-agent"},
        ]
        call = 0
        while len(life) < per_task - 1:
            call += 1
            life.append({"event": "progress", "iteration": call, "max_iterations": 20, "message": "working"})
            life.append(
                {"event": "invocation.started", "id": str(call), "role": "builder", "model": "gpt-4.1"}
            )
            for step in range(5):
                life.append(
                    {
                        "event": "activity",
                        "type": "tool_exec",
                        "message": f"run_tests step {step}",
                        "invocation_id": str(call),
                    }
                )
            life.append(
                {"event": "invocation.completed", "id": str(call), "input_tokens": 1200, "output_tokens": 300}
            )
        life = life[: per_task - 1]
        open_call = next((e for e in reversed(life) if e["event"].startswith("invocation.")), None)
        if open_call is not None and open_call["event"] == "invocation.started":
            life[-1] = {"event": "invocation.completed", "id": open_call["id"]}
        life.append({"event": "transition", "to": "completed", "result": {"ok": True}})
        events += [{"event_id": str(i), "external_id": key, **e} for i, e in enumerate(life)]
    return json.dumps({"events": events}).encode()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), for rates per CPU-second: on a loaded machine
    the wall-clock rate falls with the load, the rate per CPU-second of the web process much less."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Watcher(threading.Thread):
    """A dashboard's websocket: subscribes to every event and counts what it is sent (without parsing it)."""

    def __init__(self, port: int) -> None:
        import websocket  # websocket-client, a dev requirement

        super().__init__(daemon=True)
        self.ws = websocket.create_connection(f"ws://127.0.0.1:{port}/ws", timeout=60)
        hello = json.loads(self.ws.recv())
        self.ws.send(json.dumps({"type": "subscribe", "since": hello["seq"]}))
        self.received = 0
        self.start()

    def run(self) -> None:
        try:
            while True:
                self.ws.recv()
                self.received += 1
        except Exception:  # closed at the end of the run
            return

    def close(self) -> None:
        self.ws.close()


def ingest(
    port: int, size: int, batches: int, clients: int, pid: int, sockets: int = 0
) -> tuple[float, int, float]:
    """Events/s over `batches` batches of `size` posted by `clients` threads (the bodies are built first), and
    events per CPU-second of the web process; `sockets` dashboards watch the live feed meanwhile."""
    bodies = [
        agent_batch(size, f"b{size}-{n}-{random.randrange(10**9)}", max(1, size // 100))
        for n in range(batches)
    ]
    request(port, "POST", "/api/v1/events", agent_batch(size, f"warm-{size}-{random.randrange(10**9)}", 1))
    watchers = [Watcher(port) for _ in range(sockets)]
    queue = list(bodies)
    lock = threading.Lock()
    failures: list[str] = []

    def client() -> None:
        while True:
            with lock:
                if not queue:
                    return
                body = queue.pop()
            status, text = request(port, "POST", "/api/v1/events", body)
            if status != 200:
                failures.append(f"{status} {text[:200]!r}")

    threads = [threading.Thread(target=client) for _ in range(clients)]
    cpu, started = cpu_seconds(pid), time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed, cpu = time.perf_counter() - started, cpu_seconds(pid) - cpu
    for watcher in watchers:
        watcher.close()
    if failures:
        raise RuntimeError(f"{len(failures)} batches failed, e.g. {failures[0]}")
    return size * batches / elapsed, size * batches, size * batches / max(cpu, 1e-9)


def run_ingestion(
    kinds: tuple[str, ...], batches: int, clients: int, repeat: int, sockets: int
) -> list[list[Any]]:
    """Per database and batch size: the median of `repeat` runs (every run is listed in the note)."""
    rows = []
    for kind in kinds:
        with fresh_database(kind) as url, web_process(url) as (port, proc):
            for size in (100, 1000):
                count = batches * (1000 // size)
                runs = [ingest(port, size, count, clients, proc.pid, sockets) for _ in range(repeat)]
                rate = median([r[0] for r in runs])
                per_cpu = median([r[2] for r in runs])
                note = (
                    f"{runs[0][1]:,} events × {repeat}, {clients} client(s), {sockets} socket(s): "
                    + ", ".join(f"{r[0]:,.0f}" for r in runs)
                    + f"; web RSS {rss_mb(proc.pid):.0f} MB"
                )
                target = (
                    verdict(rate >= INGEST_TARGET)
                    if kind == "sqlite" and size == 1000 and not sockets
                    else ""
                )
                rows.append([f"{kind}, batches of {size:,}", rate, per_cpu, target, note])
                print(
                    f"  {kind} batches of {size}: {rate:,.0f} events/s (median), {per_cpu:,.0f} per web "
                    f"CPU-second ({note})",
                    flush=True,
                )
    return rows


# ---- latency -----------------------------------------------------------------------------------------
def latency(
    port: int, paths: Callable[[random.Random], str], clients: int, per_client: int, think: float
) -> list[float]:
    """Each of `clients` threads sends `per_client` GETs, pausing up to 2 × `think` s (random) between them."""
    samples: list[float] = []
    lock = threading.Lock()
    errors: list[str] = []

    def client(seed: int) -> None:
        rng = random.Random(seed)
        time.sleep(rng.random() * think)
        for _ in range(per_client):
            path = paths(rng)
            t0 = time.perf_counter()
            status, text = request(port, "GET", path)
            ms = (time.perf_counter() - t0) * 1000
            if status != 200:
                errors.append(f"{path}: {status} {text[:200]!r}")
            with lock:
                samples.append(ms)
            if think:
                time.sleep(rng.random() * 2 * think)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        raise RuntimeError(f"{len(errors)} requests failed, e.g. {errors[0]}")
    return samples


def run_latency(url: str, migrate: bool, clients: int, per_client: int, think: float) -> list[list[Any]]:
    with web_process(url, migrate=migrate) as (port, proc):
        status, body = request(port, "GET", "/api/v1/tasks?limit=1&sort=-id")
        top = json.loads(body)["items"][0]["id"] if status == 200 and json.loads(body)["items"] else 1
        status, body = request(port, "GET", "/api/v1/tasks?limit=50")
        second = json.loads(body)["next_cursor"]
        cases: dict[str, Callable[[random.Random], str]] = {
            "list (newest 50)": lambda r: "/api/v1/tasks?limit=50",
            "list (page 2 by cursor)": lambda r: f"/api/v1/tasks?limit=50&cursor={second}",
            "list (status=failed)": lambda r: "/api/v1/tasks?limit=50&status=failed",
            "get (random task)": lambda r: f"/api/v1/tasks/{r.randint(1, top)}",
            "stats": lambda r: "/api/v1/stats",
        }
        rows = []
        for name, paths in cases.items():
            samples = latency(port, paths, clients, per_client, think)
            p50, p95 = percentile(samples, 50), percentile(samples, 95)
            rows.append([name, p50, p95, verdict(p95 <= LATENCY_TARGET_MS), f"{len(samples)} requests"])
            print(f"  {name}: p50 {p50:.1f} ms, p95 {p95:.1f} ms", flush=True)
        rows.append(["(web process RSS)", rss_mb(proc.pid), float("nan"), "", ""])
    return rows


def history_database(count: int) -> Iterator[str]:
    """A fresh SQLite file with `count` generated tasks, for a latency run without --url."""
    with fresh_database("sqlite") as url:
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "app.py"),
                "demo",
                "--count",
                "0",
                "--history",
                str(count),
                "--db",
                url,
            ],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        yield url


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--db", choices=["sqlite", "postgresql", "both"], default="both", help="ingestion databases"
    )
    parser.add_argument(
        "--batches", type=int, default=40, help="batches of 1,000 per run (10x as many of 100)"
    )
    parser.add_argument("--ingest-clients", type=int, default=1, help="concurrent posting clients")
    parser.add_argument("--repeat", type=int, default=3, help="ingestion runs per measurement (median shown)")
    parser.add_argument(
        "--sockets",
        type=int,
        default=0,
        help="dashboard websockets watching during ingestion (the target: 0)",
    )
    parser.add_argument(
        "--url", help="database for the latency run (read only); default: a fresh --history one"
    )
    parser.add_argument("--history", type=int, default=20_000, help="tasks generated when no --url is given")
    parser.add_argument("--clients", type=int, default=50, help="concurrent clients of the latency run")
    parser.add_argument("--requests", type=int, default=20, help="requests per client and endpoint")
    parser.add_argument("--think", type=float, default=0.5, help="mean pause between a client's requests (s)")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--serve", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port)
        return 0
    print(machine_line(), flush=True)
    if not args.skip_ingest:
        kinds = db_kinds(args.db)
        missing = check_postgres() if "postgresql" in kinds else None
        if missing:
            print(f"PostgreSQL skipped: {missing}")
            kinds = tuple(k for k in kinds if k != "postgresql")
        print("ingestion through POST /api/v1/events (fresh databases, `python app.py web`):", flush=True)
        rows = run_ingestion(kinds, args.batches, args.ingest_clients, args.repeat, args.sockets)
        headers = ["run", "events/s", "per web CPU-s", f"≥ {INGEST_TARGET:,}/s", "note"]
        print(table(headers, rows), flush=True)
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs", flush=True)
    if not args.skip_latency:
        print(
            f"latency: {args.clients} clients, {args.requests} requests each per endpoint, "
            f"pauses of 0–{2 * args.think:g} s:",
            flush=True,
        )
        if args.url:
            rows = run_latency(args.url, False, args.clients, args.requests, args.think)
        else:
            with contextmanager(history_database)(args.history) as url:
                rows = run_latency(url, True, args.clients, args.requests, args.think)
        print(
            table(["request", "p50 ms", "p95 ms", f"p95 ≤ {LATENCY_TARGET_MS:g} ms", "note"], rows),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
