"""Benchmark: the dashboard as a user sees it in a real browser (Debian's Chromium through Playwright).

a) commit -> visible: a page is open on /tasks/<id> of a running `external` task (nothing else writes to it);
   this process records one ActivityLine at a time through the Recorder and measures from just after
   record() returns (time.time()) until the line is in the DOM (a MutationObserver stamps
   performance.timeOrigin + performance.now(); same machine clock). Also split at the socket: when the
   event's message reached the page's websocket. Two writers: the web app's own Recorder (in-process hub
   wake-up) and a separate Database + Recorder whose hub nobody hears (the SQLite PRAGMA data_version watcher
   or PostgreSQL LISTEN wakes the web process's feed, as for a worker in another process).
b) overview first render: navigation start -> the KPI cards in the DOM (and -> the throughput chart's first
   trace), a new browser context (cold cache) per load, with --history finished tasks in the database, then
   again with --big tasks.

The web app runs in this process (tests.liveserver.start_live_app, Werkzeug's threaded server, no worker).

    python bench/bench_browser.py [--db sqlite|postgresql|both] [--samples 60] [--interval 0.3]
                                  [--loads 10] [--history 1000] [--big 100000]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The project and the helpers beside this file, however the script is started (see bench/README.md).
for _path in (Path(__file__).resolve().parent.parent, Path(__file__).resolve().parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from common import (  # noqa: E402
    check_postgres,
    db_kinds,
    fresh_database,
    machine_line,
    median,
    percentile,
    table,
    verdict,
)

from tests.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402  (the same browser flags as the tests)

TARGET_VISIBLE_P95_MS = 300.0
TARGET_OVERVIEW_S = 1.5
WARMUP = 5
LINE_TIMEOUT_MS = 10_000

# Stamps, per bench line, when its text entered the DOM and when its event reached the page's socket.
OBSERVE_LINES = """() => {
    window.__seen = {};
    window.__ws = {};
    const stamp = () => performance.timeOrigin + performance.now();
    const mark = (el, at) => {
        const found = el.matches('.activity-message') ? [el] : el.querySelectorAll('.activity-message');
        for (const m of found) {
            const text = m.textContent;
            if (text.startsWith('bench-') && !(text in window.__seen)) window.__seen[text] = at;
        }
    };
    new MutationObserver(records => {
        const at = stamp();
        for (const r of records) {
            for (const n of r.addedNodes) {
                if (n.nodeType === 1) mark(n, at);
                else if (n.parentElement) mark(n.parentElement, at);
            }
        }
    }).observe(document.body, {childList: true, subtree: true, characterData: true});
    const hook = (socket) => {
        if (!socket || socket.__benchHooked) return;
        socket.__benchHooked = true;
        socket.addEventListener('message', (e) => {
            const at = stamp();
            try {
                const msg = JSON.parse(e.data);
                const text = msg.data && msg.data.message;
                if (msg.type === 'activity' && text && text.startsWith('bench-')) window.__ws[text] = at;
            } catch (err) { /* not JSON */ }
        });
    };
    hook(window.tasklensLive.socket);
    setInterval(() => hook(window.tasklensLive.socket), 50);  // a reconnect brings a new socket
}"""

# Installed before any page script runs: when the KPI cards and the chart's first trace appear.
OBSERVE_OVERVIEW = """(() => {
    window.__bench = {};
    const check = () => {
        const t = performance.now();
        if (!window.__bench.kpi && document.querySelector('#overview-kpis .card')) window.__bench.kpi = t;
        if (!window.__bench.chart &&
            document.querySelector('#overview-throughput .barlayer .trace, #overview-throughput .scatterlayer .trace'))
            window.__bench.chart = t;
    };
    new MutationObserver(check).observe(document, {childList: true, subtree: true});
})();"""


@dataclass
class Visible:
    db: str
    writer: str
    wake: str
    total_ms: list[float] = field(default_factory=list)
    socket_ms: list[float] = field(default_factory=list)
    lost: int = 0


@dataclass
class Overview:
    db: str
    tasks: int
    kpi_s: list[float] = field(default_factory=list)
    chart_s: list[float] = field(default_factory=list)
    dcl_s: list[float] = field(default_factory=list)
    callback_s: list[float] = field(default_factory=list)
    no_chart: int = 0


@contextmanager
def live_app(url: str) -> Iterator[Any]:
    from tests.liveserver import start_live_app

    app = start_live_app(url, worker=False)
    try:
        yield app
    finally:
        app.close()
        # The change feed's thread notices the stop only after its next wake-up (<= 1 s); let it end before
        # the database is dropped, or it logs a failed read against a database that is gone.
        for thread in threading.enumerate():
            if thread.name == "change-feed":
                thread.join(timeout=3)


@contextmanager
def chromium() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def wait_live(page: Any) -> None:
    page.wait_for_function(
        "() => window.tasklensLive && window.tasklensLive.status === 'live'", timeout=30_000
    )


# ---- a) commit -> visible ----------------------------------------------------------------------------
def commit_to_visible(browser: Any, kind: str, url: str, samples: int, interval: float) -> list[Visible]:
    from db.core.engine import open_database
    from db.domain.ops import ActivityLine, TaskSpec, Transition
    from db.domain.states import TaskKind, TaskStatus
    from db.live.changefeed import Hub
    from db.write.recorder import Recorder

    results = []
    with live_app(url) as app:
        separate_db = open_database(url)
        try:
            writers = [
                ("web app's Recorder", "hub (same process)", app.recorder),
                (
                    "separate Recorder",
                    "PRAGMA data_version" if kind == "sqlite" else "LISTEN/NOTIFY",
                    Recorder(separate_db, Hub()),
                ),
            ]
            for label, wake, recorder in writers:
                task_id = recorder.submit(
                    TaskSpec(title=f"bench visible ({label})", kind=TaskKind.EXTERNAL), actor="bench"
                )
                recorder.record(task_id, Transition(TaskStatus.RUNNING), actor="bench")
                context = browser.new_context(viewport={"width": 1400, "height": 1000})
                page = context.new_page()
                try:
                    page.goto(f"{app.url}/tasks/{task_id}")
                    wait_live(page)
                    page.wait_for_selector(
                        "#detail-activity .activity-empty, #detail-activity .activity-line"
                    )
                    page.evaluate(OBSERVE_LINES)
                    res = Visible(kind, label, wake)
                    measure_lines(page, recorder, task_id, samples, interval, res, ActivityLine)
                finally:
                    context.close()
                results.append(res)
                print(
                    f"  a) {kind:10} {label:20}: p50 {percentile(res.total_ms, 50):6.1f} ms  "
                    f"p95 {percentile(res.total_ms, 95):6.1f} ms  lost {res.lost}",
                    flush=True,
                )
        finally:
            separate_db.dispose()
    return results


def measure_lines(
    page: Any, recorder: Any, task_id: int, samples: int, interval: float, res: Visible, line_op: Any
) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for i in range(WARMUP + samples):
        text = f"bench-{i:04d}"
        began = time.monotonic()
        recorder.record(task_id, line_op(text), actor="bench")
        committed = time.time() * 1000.0
        try:
            page.wait_for_function("(t) => t in window.__seen", arg=text, timeout=LINE_TIMEOUT_MS)
        except PlaywrightTimeout:
            res.lost += 1
            continue
        seen, at_socket = page.evaluate("(t) => [window.__seen[t], window.__ws[t]]", text)
        if i >= WARMUP:
            res.total_ms.append(seen - committed)
            if at_socket is not None:
                res.socket_ms.append(at_socket - committed)
        rest = interval - (time.monotonic() - began)
        if rest > 0:
            page.wait_for_timeout(rest * 1000.0)


# ---- b) overview first render ------------------------------------------------------------------------
def overview_loads(browser: Any, url: str, kind: str, tasks: int, loads: int) -> Overview:
    res = Overview(kind, tasks)
    with live_app(url) as app:
        for i in range(loads + 1):  # the first load warms the server (imports, first queries), not counted
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            context.add_init_script(OBSERVE_OVERVIEW)
            page = context.new_page()
            try:
                page.goto(app.url + "/")
                page.wait_for_function("() => window.__bench && window.__bench.kpi", timeout=60_000)
                with suppress(Exception):  # no trace when nothing ended in the last 24 h
                    page.wait_for_function("() => window.__bench.chart", timeout=15_000)
                marks = page.evaluate("() => window.__bench")
                dcl = page.evaluate(
                    "() => performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd"
                )
            finally:
                context.close()
            if i == 0:
                continue
            res.kpi_s.append(marks["kpi"] / 1000.0)
            res.dcl_s.append(dcl / 1000.0)
            if marks.get("chart") is not None:
                res.chart_s.append(marks["chart"] / 1000.0)
            else:
                res.no_chart += 1
        res.callback_s = overview_callback_seconds(app)
    print(
        f"  b) {kind:10} {tasks:>9,} tasks: KPI cards median {median(res.kpi_s):.3f} s, chart median "
        f"{median(res.chart_s):.3f} s",
        flush=True,
    )
    return res


def overview_callback_seconds(app: Any, repeat: int = 5) -> list[float]:
    """The overview callbacks' own work (their SQL aggregates and the figure/components), called directly."""
    from dashboard.pages.overview import refresh_cards, refresh_chart
    from dashboard.services import Services

    svc = Services(app.settings, app.db, app.recorder, app.feed)
    runs = []
    for _ in range(repeat):
        began = time.perf_counter()
        refresh_cards(svc)
        refresh_chart(svc)
        runs.append(time.perf_counter() - began)
    return runs


def add_history(url: str, count: int) -> float:
    from db.core.engine import open_database
    from worker.history import generate_history

    db = open_database(url)
    try:
        stats = generate_history(db, count, seed=count)
    finally:
        db.dispose()
    return stats.seconds


# ---- main --------------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--samples", type=int, default=60, help="lines per writer for a) (default 60)")
    parser.add_argument("--interval", type=float, default=0.3, help="seconds between lines (default 0.3)")
    parser.add_argument(
        "--loads", type=int, default=10, help="cold loads of the overview for b) (default 10)"
    )
    parser.add_argument("--history", type=int, default=1000, help="historical tasks for b) (default 1000)")
    parser.add_argument(
        "--big",
        type=int,
        default=100_000,
        help="then again with this many tasks in total (0 skips; default 100000)",
    )
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: a,b")
    args = parser.parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}

    if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
        print(f"bench_browser: Chromium not found at {CHROMIUM} (apt-get install chromium)", file=sys.stderr)
        return 1
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request would swamp the output
    print(f"bench_browser: {machine_line()}; Chromium {CHROMIUM}; load average {os.getloadavg()[0]:.2f}")

    visible: list[Visible] = []
    overviews: list[Overview] = []
    with chromium() as browser:
        print(f"browser: {browser.version}")
        for kind in db_kinds(args.db):
            if kind == "postgresql" and (why := check_postgres()):
                print(f"postgresql: skipped ({why})")
                continue
            if "a" not in skip:
                with fresh_database(kind) as url:
                    visible += commit_to_visible(browser, kind, url, args.samples, args.interval)
            if "b" not in skip:
                with fresh_database(kind) as url:
                    took = add_history(url, args.history)
                    print(
                        f"  b) {kind}: {args.history:,} historical tasks generated in {took:.1f} s",
                        flush=True,
                    )
                    overviews.append(overview_loads(browser, url, kind, args.history, args.loads))
                    if args.big > args.history:
                        took = add_history(url, args.big - args.history)
                        print(
                            f"  b) {kind}: {args.big - args.history:,} more generated in {took:.1f} s",
                            flush=True,
                        )
                        overviews.append(overview_loads(browser, url, kind, args.big, args.loads))

    if visible:
        print(
            f"\na) commit -> visible in Chromium: one ActivityLine every {args.interval:g} s, "
            f"{args.samples} samples after {WARMUP} warm-up (ms)"
        )
        rows = []
        for v in visible:
            rows.append(
                [
                    v.db,
                    v.writer,
                    v.wake,
                    len(v.total_ms),
                    percentile(v.socket_ms, 50),
                    percentile(v.socket_ms, 95),
                    percentile(v.total_ms, 50),
                    percentile(v.total_ms, 95),
                    max(v.total_ms) if v.total_ms else float("nan"),
                    v.lost,
                    f"<= {TARGET_VISIBLE_P95_MS:.0f} "
                    f"{verdict(bool(v.total_ms) and percentile(v.total_ms, 95) <= TARGET_VISIBLE_P95_MS)}",
                ]
            )
        print(
            table(
                [
                    "database",
                    "writer",
                    "wake-up",
                    "n",
                    "socket p50",
                    "socket p95",
                    "DOM p50",
                    "DOM p95",
                    "DOM max",
                    "lost",
                    "p95 target",
                ],
                rows,
            )
        )
    if overviews:
        print(
            f"\nb) overview first render: navigation start -> KPI cards in the DOM, {args.loads} cold loads "
            "(new context each) after one warm-up load (s)"
        )
        rows = []
        for o in overviews:
            rows.append(
                [
                    o.db,
                    f"{o.tasks:,}",
                    len(o.kpi_s),
                    f"{median(o.dcl_s):.3f}",
                    f"{median(o.callback_s):.3f}",
                    f"{median(o.kpi_s):.3f}",
                    f"{min(o.kpi_s):.3f}",
                    f"{max(o.kpi_s):.3f}",
                    f"{median(o.chart_s):.3f}" if o.chart_s else "-",
                    f"<= {TARGET_OVERVIEW_S:g} {verdict(median(o.kpi_s) <= TARGET_OVERVIEW_S)}",
                ]
            )
        print(
            table(
                [
                    "database",
                    "tasks",
                    "loads",
                    "DOMContentLoaded",
                    "callback (server)",
                    "KPI median",
                    "KPI min",
                    "KPI max",
                    "chart median",
                    "median target",
                ],
                rows,
            )
        )
        print(
            "DOMContentLoaded: the page's scripts (Dash, React, Plotly, AG Grid bundles) are loaded; "
            "callback: the overview callback's own time in the server, called directly, median of 5."
        )
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
