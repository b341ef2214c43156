"""Benchmark: websockets that never read. One `python app.py web` process; N sockets (default 200) say
hello, subscribe from seq 0 and then never read a byte while a writer commits events (long activity lines),
so their kernel buffers fill, their sends stall and their mailboxes overflow. Printed:
- the web process's RSS and threads before the sockets, with them open (after the flood), and after they
  close (once /healthz counts none, plus a settle time),
- a fresh reading client's first live event while they are open: subscribe, commit one event, time to its
  arrival (median, min and max over --tries), with a background writer still committing,
- the same latency with no idle sockets, for comparison.

    python bench/bench_ws_idle.py [--db sqlite|postgresql] [--sockets 200] [--flood 20000] [--tries 7]

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

for _path in (Path(__file__).resolve().parent.parent, Path(__file__).resolve().parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import websocket  # noqa: E402
from bench_ws import WebProcess, external_task, open_recorder, rss_threads, web_process  # noqa: E402
from common import fresh_database, machine_line, median, table  # noqa: E402

FILLER = "x" * 400  # the event keeps a 500-character preview: long messages fill buffers quickly


def open_idle(ws_url: str) -> websocket.WebSocket:
    """Connects and subscribes from seq 0 (a reconnecting browser), then is never read again."""
    ws = websocket.create_connection(ws_url, timeout=60)
    ws.send(json.dumps({"type": "subscribe", "since": 0}))
    return ws


def first_live_event_ms(web: WebProcess, recorder: Any, task_id: int, key: str) -> float:
    """A new client subscribes; one event is committed; ms from the commit to its arrival."""
    from db.domain.ops import ActivityLine

    ws = websocket.create_connection(web.ws_url, timeout=120)
    try:
        json.loads(ws.recv())
        ws.send(json.dumps({"type": "subscribe"}))
        while json.loads(ws.recv())["type"] != "subscribed":
            pass
        recorder.record(task_id, ActivityLine(key), actor="bench")
        committed = time.perf_counter()
        while True:
            msg = json.loads(ws.recv())
            if msg.get("type") == "activity" and msg["data"].get("message") == key:
                return (time.perf_counter() - committed) * 1000.0
    finally:
        ws.close()


def latencies(web: WebProcess, recorder: Any, task_id: int, tries: int, label: str) -> list[float]:
    out = []
    for i in range(tries):
        ms = first_live_event_ms(web, recorder, task_id, f"{label}-probe-{i}")
        out.append(ms)
        print(f"    {label} try {i + 1}: {ms:7.1f} ms", flush=True)
        time.sleep(0.3)
    return out


def background_writer(recorder: Any, task_id: int, stop: threading.Event, per_second: float) -> None:
    from db.domain.ops import ActivityLine

    i = 0
    while not stop.wait(1.0 / per_second):
        recorder.record(task_id, *[ActivityLine(f"bg {i + k} {FILLER}") for k in range(10)], actor="bench")
        i += 10


def wait_sockets(web: WebProcess, want: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        n = int(web.health()["sockets"])
        if n == want or time.monotonic() > deadline:
            return n
        time.sleep(0.2)


def run(url: str, args: argparse.Namespace) -> list[list[Any]]:
    from db.domain.ops import ActivityLine

    db, recorder = open_recorder(url)
    rows: list[list[Any]] = []
    with web_process(url) as web:
        task_id = external_task(recorder, "idle sockets")
        rss0, threads0 = rss_threads(web.pid)
        print(f"  web before: RSS {rss0:.0f} MiB, {threads0} threads", flush=True)
        base = latencies(web, recorder, task_id, args.tries, "no idle sockets")

        socks = [open_idle(web.ws_url) for _ in range(args.sockets)]
        subscribed = wait_sockets(web, args.sockets, 60)
        print(f"  {subscribed} idle sockets subscribed", flush=True)
        t0 = time.monotonic()
        for start in range(0, args.flood, 100):
            recorder.record(
                task_id, *[ActivityLine(f"{i} {FILLER}") for i in range(start, start + 100)], actor="bench"
            )
        print(f"  flood of {args.flood} events committed in {time.monotonic() - t0:.1f}s", flush=True)
        time.sleep(args.settle)
        rss_open, threads_open = rss_threads(web.pid)
        print(
            f"  web with idle sockets: RSS {rss_open:.0f} MiB, {threads_open} threads, "
            f"{web.health()['sockets']} sockets",
            flush=True,
        )

        stop = threading.Event()
        writer = threading.Thread(
            target=background_writer, args=(recorder, task_id, stop, args.rate), daemon=True
        )
        writer.start()
        try:
            loaded = latencies(web, recorder, task_id, args.tries, f"{args.sockets} idle sockets")
        finally:
            stop.set()
            writer.join(30)
        rss_open2, _ = rss_threads(web.pid)

        for s in socks:
            s.close()
        left = wait_sockets(web, 0, 120)
        t_closed = time.monotonic()
        while time.monotonic() - t_closed < args.settle:
            time.sleep(0.5)
        rss_after, threads_after = rss_threads(web.pid)
        print(
            f"  web after close ({left} sockets left): RSS {rss_after:.0f} MiB, {threads_after} threads",
            flush=True,
        )
        rows.append(["RSS MiB", f"{rss0:.0f}", f"{max(rss_open, rss_open2):.0f}", f"{rss_after:.0f}"])
        rows.append(["threads", threads0, threads_open, threads_after])
        rows.append(["first live event ms, median", f"{median(base):.1f}", f"{median(loaded):.1f}", ""])
        rows.append(
            [
                "first live event ms, min-max",
                f"{min(base):.1f}-{max(base):.1f}",
                f"{min(loaded):.1f}-{max(loaded):.1f}",
                "",
            ]
        )
    db.dispose()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--sockets", type=int, default=200)
    parser.add_argument("--flood", type=int, default=20_000, help="events committed while they are open")
    parser.add_argument("--rate", type=float, default=20.0, help="background commits/s (10 events each)")
    parser.add_argument("--tries", type=int, default=7)
    parser.add_argument("--settle", type=float, default=5.0, help="seconds before reading RSS")
    args = parser.parse_args(argv)
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    print(f"bench_ws_idle: {machine_line()}; load average {os.getloadavg()[0]:.2f}")
    with fresh_database(args.db) as url:
        rows = run(url, args)
    print(f"\n{args.sockets} sockets that never read, {args.db} ({args.flood:,} events flooded)")
    print(table(["", "before", f"{args.sockets} open", "after close"], rows))
    print(f"load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
