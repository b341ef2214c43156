"""Benchmark: server-side time of every analytics callback (p50/p95 over repetitions, per time range) and the
web process's memory, on an existing database or a freshly generated history. Prints figures; asserts nothing.

    python bench/bench_analytics.py --url sqlite:////path/to/big.db            # an existing database
    python bench/bench_analytics.py --history 100000                            # generate into a temp file
    python bench/bench_analytics.py --burst 200000                              # + an agent's burst, see below

The callbacks are called as the Dash server calls them (the same module-level functions), so the figures are
the work a web process does per refresh, without the browser.

--burst N: an external agent then reports N LLM calls (one `call` event each, batches of 1,000) through
POST /api/v1/events of a real `python app.py web`, all started within the current hour, while this script
runs the worker's rollup jobs on their schedules (the hourly refresh every 60 s and, where the code has it,
the per-minute fold every 10 s); then p50/p95 of GET /api/v1/costs?range=7d&by=model on that web process
and of the Costs page's callback here."""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_api, for the burst
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config import Settings
from dashboard import scopebar
from dashboard.bridge import ChangeFeed
from dashboard.pages import agents, costs, database, overview, performance, tasks
from dashboard.services import Services
from db.analytics import rollups
from db.core.engine import open_database
from db.core.migrate import upgrade
from db.core.timeutil import utcnow
from db.live.changefeed import Hub
from db.write.recorder import Recorder

RANGES = ("?range=24h", "?range=7d", "?range=30d", "?range=90d")
TARGET_MS = 300.0
BURST_TARGET_MS = 150.0
BURST_PATH = "/api/v1/costs?range=7d&by=model"
MODELS = ("gpt-4.1", "gpt-4.1-mini", "claude-sonnet-4", "claude-haiku-3.5", "gemini-2.5-pro")
TARGET_RSS_MB = 300.0


def measure(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    fn()  # warm caches and compiled statements, as a running web process has
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return statistics.median(times), p95


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="database URL (default: a temp SQLite file with --history tasks)")
    parser.add_argument("--history", type=int, default=20_000, help="tasks to generate when no --url")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--burst", type=int, default=0, help="LLM calls an agent reports in the current hour")
    parser.add_argument("--burst-tasks", type=int, default=1000, help="tasks the burst's calls belong to")
    parser.add_argument(
        "--burst-repeat", type=int, default=20, help="measurements of each burst figure (after a warm-up)"
    )
    parser.add_argument(
        "--measure-only",
        action="store_true",
        help="with --url: post nothing, measure the burst figures on what the database holds",
    )
    args = parser.parse_args()

    url = args.url or f"sqlite:///{tempfile.mkdtemp(prefix='tasklens-analytics-')}/bench.db"
    db = open_database(url)
    upgrade(db)
    hub = Hub()
    recorder = Recorder(db, hub)
    if not args.url:
        from worker.history import generate_history

        stats = generate_history(db, args.history)
        print(f"generated {stats.tasks:,} tasks in {stats.seconds:.1f}s")
    started = time.monotonic()
    with recorder.transaction() as session:
        rollups.refresh(session, utcnow())
    print(f"usage rollup refresh: {time.monotonic() - started:.1f}s")
    svc = Services(Settings(database_url=url), db, recorder, ChangeFeed(db, hub))
    if args.burst or args.measure_only:
        calls = 0 if args.measure_only else args.burst
        burst(url, recorder, svc, calls, args.burst_tasks, args.burst_repeat)
        return
    load_before = f"{os.getloadavg()[0]:.1f}"  # the figures move with it: printed beside them
    grid_request = {"startRow": 0, "endRow": 100, "sortModel": [{"colId": "id", "sort": "desc"}]}

    rows: list[tuple[str, str, float, float]] = []
    fixed: list[tuple[str, Callable[[], Any]]] = [
        ("overview cards", lambda: overview.refresh_cards(svc)),
        ("overview chart", lambda: overview.refresh_chart(svc)),
        ("tasks board", lambda: tasks.board_view(svc)),
        ("tasks grid block", lambda: tasks.rows(svc, grid_request, None, None, None, None, None, None)),
        ("database live", lambda: database.refresh_live(svc, None)),
        ("database sizes", lambda: database.refresh_sizes(svc)),
        (
            "scope bar",
            lambda: scopebar.choices(svc, "?range=30d", ["kind", "tag", "role", "model", "worker"]),
        ),
    ]
    for name, fn in fixed:
        rows.append((name, "-", *measure(fn, args.repeat)))
    for query in RANGES:
        per_range: list[tuple[str, Callable[[], Any]]] = [
            ("costs", partial(costs.refresh, svc, query, "auto", "model", None)),
            ("agents", partial(agents.refresh, svc, query, None)),
            ("performance trends", partial(performance.refresh_trends, svc, query, None)),
            ("performance dists", partial(performance.refresh_distributions, svc, query, None)),
            ("database range", partial(database.refresh_range, svc, query, None, None)),
        ]
        for name, fn in per_range:
            rows.append((name, query.split("=")[1], *measure(fn, args.repeat)))
        print(f"  … {query} done", flush=True)

    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\nanalytics callbacks on {db.dialect} ({url.rsplit('/', 1)[-1]}), {args.repeat} runs each after a warm-up; "
        f"load average {load_before} before the callbacks, {os.getloadavg()[0]:.1f} after"
    )
    print(f"{'callback':20s} {'range':>6s} {'p50 ms':>9s} {'p95 ms':>9s}  target p95 <= {TARGET_MS:.0f} ms")
    for name, rng, p50, p95 in rows:
        verdict = "MET" if p95 <= TARGET_MS else "MISSED"
        print(f"{name:20s} {rng:>6s} {p50:9.0f} {p95:9.0f}  {verdict}")
    met = sum(p95 <= TARGET_MS for *_, p95 in rows)
    print(f"\n{met} of {len(rows)} callbacks within {TARGET_MS:.0f} ms at p95")
    print(
        f"peak RSS of this process (what a web process holds for these views): {rss_mb:.0f} MiB "
        f"(target < {TARGET_RSS_MB:.0f} MiB: {'MET' if rss_mb < TARGET_RSS_MB else 'MISSED'})"
    )


def burst_batches(calls: int, tasks: int, start: datetime, end: datetime) -> Iterator[bytes]:
    """Batches of 1,000 events: each task's first batch opens it (task, running), then whole `call` events
    started evenly over [start, end), a few seconds long, five models, one in twenty failed."""
    run = f"burst-{random.randrange(10**9)}"
    step = (end - start) / calls
    opened: set[int] = set()
    events: list[dict[str, Any]] = []
    for n in range(calls):
        task = n % tasks
        key = f"{run}-{task}"
        if task not in opened:
            opened.add(task)
            events.append({"event_id": f"{key}-t", "external_id": key, "event": "task", "title": key})
            events.append(
                {"event_id": f"{key}-r", "external_id": key, "event": "transition", "to": "running"}
            )
        at = start + n * step
        events.append(
            {
                "event_id": f"{key}-c{n}",
                "external_id": key,
                "event": "call",
                "id": str(n),
                "role": "builder",
                "provider": "bench",
                "model": MODELS[n % len(MODELS)],
                "started_at": at.isoformat() + "Z",
                "ended_at": (at + timedelta(seconds=2 + n % 7)).isoformat() + "Z",
                "ok": n % 20 != 0,
                "input_tokens": 800 + n % 400,
                "output_tokens": 200 + n % 100,
                "cost_usd": 0.001 * (1 + n % 9),
            }
        )
        if len(events) >= 997:  # a batch holds at most 1,000 events; a new task adds two
            yield json.dumps({"events": events}).encode()
            events = []
    if events:
        yield json.dumps({"events": events}).encode()


def burst(url: str, recorder: Recorder, svc: Services, calls: int, tasks: int, repeat: int) -> None:
    """The burst case (see the module's docstring)."""
    from bench_api import request, web_process

    fold = getattr(rollups, "fold_minutes", None)  # absent before issue 16: the hour is read raw

    def refresh(now: datetime) -> None:
        with recorder.transaction() as session:
            rollups.refresh(session, now)

    def fold_now(now: datetime) -> None:
        if fold is not None:
            with recorder.transaction() as session:
                fold(session, now)

    now = utcnow()
    hour = now.replace(minute=0, second=0, microsecond=0)
    start, end = max(hour, now - timedelta(minutes=50)), now - timedelta(seconds=5)
    if end - start < timedelta(minutes=10):
        print(f"warning: only {(end - start).seconds // 60} minutes of this hour have passed", flush=True)
    with web_process(url) as (port, _proc):
        began = time.monotonic()
        last_refresh = last_fold = began
        for body in burst_batches(calls, tasks, start, end) if calls else ():
            status, text = request(port, "POST", "/api/v1/events", body)
            if status != 200:
                raise RuntimeError(f"POST /api/v1/events: {status} {text[:500]!r}")
            # The worker's jobs on their schedules (worker/jobs.py), in this process.
            if time.monotonic() - last_refresh >= 60:
                refresh(utcnow())
                last_refresh = time.monotonic()
            if time.monotonic() - last_fold >= 10:
                fold_now(utcnow())
                last_fold = time.monotonic()
        took = time.monotonic() - began
        if calls:
            print(f"burst: {calls:,} calls in {tasks:,} tasks posted in {took:.1f}s ({calls / took:,.0f}/s)")
        for job in (refresh, fold_now):  # as the worker's jobs would have by now
            began = time.monotonic()
            job(utcnow())
            print(f"{job.__name__}: {time.monotonic() - began:.2f}s", flush=True)

        def api() -> None:
            status, text = request(port, "GET", BURST_PATH)
            if status != 200:
                raise RuntimeError(f"GET {BURST_PATH}: {status} {text[:300]!r}")

        rows = [
            (f"GET {BURST_PATH}", *measure(api, repeat)),
            (
                "Costs page callback",
                *measure(partial(costs.refresh, svc, "?range=7d", "auto", "model", None), repeat),
            ),
        ]
    if utcnow().replace(minute=0, second=0, microsecond=0) != hour:
        print("warning: the hour changed during the run: part of the burst was rolled up as a past hour")
    with svc.db.reading() as session:
        from sqlalchemy import func, select

        from db.core.models import Invocation

        inv = Invocation.__table__.c
        in_hour = session.scalar(select(func.count()).where(inv.started_at >= hour))
    print(f"\nburst on {svc.db.dialect}: {in_hour:,} calls started in the current hour, {repeat} runs each")
    print(f"{'what':52s} {'p50 ms':>9s} {'p95 ms':>9s}")
    for name, p50, p95 in rows:
        print(f"{name:52s} {p50:9.0f} {p95:9.0f}")
    verdict = "MET" if rows[0][2] <= BURST_TARGET_MS else "MISSED"
    print(f"target: p95 <= {BURST_TARGET_MS:.0f} ms for the API: {verdict}")


if __name__ == "__main__":
    main()
