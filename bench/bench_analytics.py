"""Benchmark: server-side time of every analytics callback (p50/p95 over repetitions, per time range) and the
web process's memory, on an existing database or a freshly generated history. Prints figures; asserts nothing.

    python bench/bench_analytics.py --url sqlite:////path/to/big.db            # an existing database
    python bench/bench_analytics.py --history 100000                            # generate into a temp file

The callbacks are called as the Dash server calls them (the same module-level functions), so the figures are
the work a web process does per refresh, without the browser."""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config import Settings
from dashboard import scopebar
from dashboard.bridge import ChangeFeed
from dashboard.pages import agents, costs, database, overview, performance, tasks
from dashboard.services import Services
from db import rollups
from db.changefeed import Hub
from db.engine import open_database
from db.migrate import upgrade
from db.recorder import Recorder
from db.timeutil import utcnow

RANGES = ("?range=24h", "?range=7d", "?range=30d", "?range=90d")
TARGET_MS = 300.0
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
    grid_request = {"startRow": 0, "endRow": 100, "sortModel": [{"colId": "id", "sort": "desc"}]}

    rows: list[tuple[str, str, float, float]] = []
    fixed: list[tuple[str, Callable[[], Any]]] = [
        ("overview cards", lambda: overview.refresh_cards(svc)),
        ("overview chart", lambda: overview.refresh_chart(svc, None)),
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
        f"\nanalytics callbacks on {db.dialect} ({url.rsplit('/', 1)[-1]}), {args.repeat} runs each after a warm-up"
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


if __name__ == "__main__":
    main()
