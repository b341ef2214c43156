"""Benchmark: TaskLens against Flower 2.x in the same browser, on the same machine, in one run, each holding
--tasks finished tasks (default 100,000). Prints figures; asserts nothing.

    python bench/bench_vs_flower.py [--tasks 100000] [--reps 7] [--tl-db sqlite:////path/big.db]
                                    [--flower-python PATH] [--redis-db 11] [--waterfall] [--only tasklens]
                                    [--api N]

TaskLens: `python app.py web` (a child process, access control off on loopback) over an SQLite file that
`python app.py demo --history N --count 0` fills (or --tl-db, an existing database), its analytics rollups
then made current once as a worker's periodic jobs keep them (the web process alone runs none). With
--compare each checkout serves its own copy of an SQLite file (their schemas may differ).
Flower: `celery --broker=redis://127.0.0.1:6379/<redis-db> flower --max_tasks=N` (a child process; only that
Redis database is flushed). Flower keeps tasks in memory from Celery's event stream, so a helper process fills
it the way workers do: four worker hostnames send worker-online and a heartbeat every 2 s, and for each task
task-received, task-started and task-succeeded (one in 20 task-failed with a traceback) with the task's own
timestamps and runtime, in batches of 100 events per message (a prefork worker buffers its task events the
same way). The bench waits until Flower's table holds all N tasks.

Celery and Flower are not TaskLens dependencies: without them in this interpreter (or --flower-python) the
bench makes a virtualenv under ~/.cache/tasklens-bench/ and `pip install`s `flower celery redis` there.

Measured in Chromium (Debian's, the tests' flags), TaskLens and Flower interleaved (the order alternates
per repetition), each load in a new browser context (cold HTTP cache) and then once more in the same
context (warm cache):
a) tasks list: navigation start -> the first data row shown (TaskLens /tasks: an ag-grid row
   `.ag-center-cols-container .ag-row` whose cells have text, or a row with text of the first rows the server
   draws in the grid's place while they are visible; also printed: the grid's own first row; Flower /tasks:
   a `#tasks-table tbody tr` that is not DataTables' empty/"Loading" row).
b) overview: navigation start -> network idle: the end of the last request before 500 ms with no request
   in flight (websockets do not count). TaskLens /, Flower / (its workers dashboard, which re-polls every
   second: the quiet gap before its first re-poll is the idle point). Also the first content (TaskLens's
   KPI cards, Flower's first worker row).
Each table is followed by the browser's own work per load (medians): how long the page's main thread was busy
(Chromium's TaskDuration, navigation to the measurement's end) and of that running script. A loaded machine
stretches the times above; this it does not make, so it says how much of a page's time is its own.
--waterfall prints, for one cold load of each page, every request: start and end (ms from navigation
start), the server's wait (request sent -> first byte), bytes on the wire and decoded, Content-Encoding and
Cache-Control, and for Dash callbacks the outputs they compute.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# The project and the helpers beside this file, however the script is started (see bench/README.md).
for _path in (Path(__file__).resolve().parent.parent, Path(__file__).resolve().parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

from common import ROOT, free_port, median, percentile, stop_processes, table, wait_up  # noqa: E402

from tests.browser import CHROMIUM, CHROMIUM_ARGS  # noqa: E402  (the same browser flags as the tests)

QUIET_S = 0.5  # network idle: no request in flight for this long
LOAD_TIMEOUT_S = 60.0
REDIS = ("127.0.0.1", 6379)
VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tasklens-bench" / "flower-venv"

# Stamps (performance.now(), ms from navigation start) when the page first shows what each measurement
# waits for. Installed in every context before any page script runs.
OBSERVE = """(() => {
    window.__bench = {};
    const cellsHaveText = (row) => Array.from(row.querySelectorAll('.ag-cell'))
        .some(c => c.textContent.trim() !== '');
    const probes = {
        tl_grid: () => Array.from(document.querySelectorAll('.ag-center-cols-container .ag-row'))
            .some(r => !r.classList.contains('ag-row-loading') && cellsHaveText(r)),
        // What the user sees first: the grid's rows, or the rows the server drew in their place before the
        // grid's bundle loaded (dashboard/components/firstrows.py) while they are shown.
        tl_rows: () => probes.tl_grid() || Array.from(document.querySelectorAll('.tasklens-first-rows tbody tr'))
            .some(r => r.offsetParent !== null && r.textContent.trim() !== ''),
        tl_kpis: () => !!document.querySelector('#overview-kpis .card, #snapshot-overview-kpis .card'),
        fl_rows: () => Array.from(document.querySelectorAll('#tasks-table tbody tr'))
            .some(r => !r.querySelector('td.dataTables_empty') && r.textContent.trim() !== ''),
        fl_workers: () => Array.from(document.querySelectorAll('#workers-table tbody tr'))
            .some(r => !r.querySelector('td.dataTables_empty') && r.textContent.trim() !== ''),
    };
    const check = () => {
        const t = performance.now();
        for (const [name, probe] of Object.entries(probes)) {
            if (!(name in window.__bench) && probe()) window.__bench[name] = t;
        }
    };
    new MutationObserver(check).observe(document, {childList: true, subtree: true, characterData: true});
})();"""

RESOURCES = """() => {
    const nav = performance.getEntriesByType('navigation')[0];
    return {
        now: performance.now(),
        nav: nav ? {end: nav.responseEnd, dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,
                    transfer: nav.transferSize, decoded: nav.decodedBodySize,
                    wait: nav.responseStart - nav.requestStart, start: nav.startTime} : null,
        res: performance.getEntriesByType('resource').map(e => ({
            name: e.name, type: e.initiatorType, start: e.startTime, end: e.responseEnd,
            wait: e.requestStart > 0 ? e.responseStart - e.requestStart : null,
            transfer: e.transferSize, encoded: e.encodedBodySize, decoded: e.decodedBodySize})),
    };
}"""


# ---- Flower, its Redis database, and its events -------------------------------------------------------
def redis_flush(db: int) -> None:
    """FLUSHDB on one Redis database number (ours), in plain RESP: the bench needs no Redis client."""
    with socket.create_connection(REDIS, timeout=5) as s:
        s.sendall(f"*2\r\n$6\r\nSELECT\r\n${len(str(db))}\r\n{db}\r\n*1\r\n$7\r\nFLUSHDB\r\n".encode())
        reply = b""
        while reply.count(b"\r\n") < 2:
            chunk = s.recv(100)
            if not chunk:
                break
            reply += chunk
    if reply != b"+OK\r\n+OK\r\n":
        raise RuntimeError(f"Redis at {REDIS} answered {reply!r}")


def flower_python(given: str | None) -> str:
    """An interpreter with celery and flower: --flower-python, this one, or a virtualenv made for the bench."""
    if given:
        return given
    probe = [sys.executable, "-c", "import celery, flower, redis"]
    if subprocess.run(probe, capture_output=True).returncode == 0:
        return sys.executable
    py = VENV / "bin" / "python"
    if not py.exists():
        print(f"making a virtualenv for Flower at {VENV} (pip install flower celery redis) …", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run(
            [str(py), "-m", "pip", "install", "-q", "flower", "celery", "redis", "packaging"], check=True
        )
    return str(py)


# Run by the Flower interpreter: fills Flower through the broker like a fleet of workers would, then keeps
# the workers' heartbeats going until it is stopped (a worker that stops beating shows as offline).
POPULATE = r"""
import json, random, sys, time, urllib.request, uuid
from celery import Celery

broker, count, flower = sys.argv[1], int(sys.argv[2]), sys.argv[3]
app = Celery(broker=broker)
rnd = random.Random(12)
NAMES = ['agents.research', 'agents.summarize', 'agents.code_review', 'agents.translate', 'tools.fetch_url',
         'tools.embed', 'reports.render', 'etl.load_batch']
HOSTS = ['celery@worker-%d' % i for i in range(1, 5)]
SW = dict(sw_ident='py-celery', sw_ver='5.7.0', sw_sys='Linux')
TRACE = ('Traceback (most recent call last):\n  File "tasks.py", line 41, in run\n    raise TimeoutError('
         '"model call timed out after 120 s")\nTimeoutError: model call timed out after 120 s')

def flower_total():
    url = flower + '/tasks/datatable?draw=1&start=0&length=1&order%5B0%5D%5Bcolumn%5D=0&columns%5B0%5D%5Bdata%5D=name'
    with urllib.request.urlopen(url, timeout=180) as r:
        return json.load(r)['recordsTotal']

with app.connection_for_write() as conn:
    ds = {h: app.events.Dispatcher(conn, hostname=h, buffer_group=['task'], buffer_limit=100) for h in HOSTS}
    for h, d in ds.items():
        d.send('worker-online', freq=2.0, **SW)
    now = time.time()
    span = 7 * 86400.0  # a week of tasks, ending now
    for i in range(count):
        h = HOSTS[i % len(HOSTS)]
        d = ds[h]
        u = str(uuid.uuid4())
        t = now - span + span * i / count
        runtime = rnd.lognormvariate(0.5, 1.0)
        name = rnd.choice(NAMES)
        d.send('task-received', uuid=u, name=name, args=repr((rnd.randint(1, 10**6),)),
               kwargs=repr({'goal': 'item %d' % i}), retries=0, eta=None, expires=None,
               root_id=u, parent_id=None, timestamp=t)
        d.send('task-started', uuid=u, timestamp=t + 0.01)
        if i % 20 == 7:
            d.send('task-failed', uuid=u, exception='TimeoutError("model call timed out after 120 s")',
                   traceback=TRACE, timestamp=t + 0.01 + runtime)
        else:
            d.send('task-succeeded', uuid=u, result=repr({'ok': True, 'tokens': rnd.randint(100, 9000)}),
                   runtime=runtime, timestamp=t + 0.01 + runtime)
        if i % 10000 == 9999:
            for d2 in ds.values():
                d2.flush()
            while i + 1 - flower_total() > 20000:  # Redis drops a pub/sub reader that falls too far behind
                time.sleep(0.5)
    for d in ds.values():
        d.flush()
    print('sent', flush=True)
    while True:
        for h, d in ds.items():
            d.send('worker-heartbeat', freq=2.0, active=0, processed=count // len(HOSTS),
                   loadavg=[0.5, 0.4, 0.3], **SW)
        time.sleep(2.0)
"""


def flower_total(base: str) -> int:
    url = (
        f"{base}/tasks/datatable?draw=1&start=0&length=1"
        "&order%5B0%5D%5Bcolumn%5D=0&columns%5B0%5D%5Bdata%5D=name"
    )
    with urllib.request.urlopen(url, timeout=180) as r:
        return int(json.load(r)["recordsTotal"])


@contextmanager
def flower(py: str, redis_db: int, tasks: int, log: Any) -> Iterator[str]:
    redis_flush(redis_db)
    broker = f"redis://{REDIS[0]}:{REDIS[1]}/{redis_db}"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [
        py,
        "-m",
        "celery",
        f"--broker={broker}",
        "flower",
        f"--port={port}",
        "--address=127.0.0.1",
        f"--max_tasks={max(tasks, 100_000)}",
        "--logging=warning",
    ]
    # Flower 2 answers /api/* only when signed in, unless told otherwise (for --api's list requests).
    env = dict(os.environ, FLOWER_UNAUTHENTICATED_API="true")
    procs: list[subprocess.Popen[Any]] = [
        subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    ]
    try:
        deadline = time.monotonic() + 60
        while True:
            if procs[0].poll() is not None:
                raise RuntimeError(f"Flower exited with {procs[0].returncode} (see its log)")
            try:
                flower_total(base)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError("Flower did not answer") from None
                time.sleep(0.3)
        time.sleep(1.0)  # its event consumer connects to the broker just after the HTTP server is up
        started = time.monotonic()
        feeder = subprocess.Popen(
            [py, "-c", POPULATE, broker, str(tasks), base],
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        procs.append(feeder)
        assert feeder.stdout is not None
        if feeder.stdout.readline().strip() != "sent":
            raise RuntimeError(f"the Flower event feeder exited with {feeder.wait()} (see its log)")
        while (have := flower_total(base)) < tasks:
            if time.monotonic() - started > 1800:
                raise TimeoutError(f"Flower holds {have:,} of {tasks:,} tasks")
            time.sleep(1.0)
        print(
            f"Flower {base} holds {have:,} tasks ({time.monotonic() - started:.0f} s to send their "
            f"{3 * tasks:,} events)",
            flush=True,
        )
        yield base
    finally:
        stop_processes(list(reversed(procs)))
        with suppress(OSError, RuntimeError):
            redis_flush(redis_db)


# ---- TaskLens ----------------------------------------------------------------------------------------
@contextmanager
def tasklens_db(url: str | None, tasks: int) -> Iterator[str]:
    if url:
        yield url
        return
    folder = tempfile.mkdtemp(prefix="tasklens-vs-flower-")
    made = f"sqlite:///{folder}/tasklens.db"
    try:
        started = time.monotonic()
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "app.py"),
                "demo",
                "--db",
                made,
                "--history",
                str(tasks),
                "--count",
                "0",
                "--log-level",
                "WARNING",
            ],
            cwd=ROOT,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        print(f"generated {tasks:,} TaskLens tasks in {time.monotonic() - started:.0f} s", flush=True)
        yield made
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# Run by a checkout's interpreter once its web process has migrated the database: the analytics rollups made
# current as a worker's periodic jobs keep them (`python app.py web` alone runs none; every deployment has a
# worker beside it), so the pages read what they read in use.
ROLLUP_JOBS = r"""
import sys
from db.analytics import rollups
from db.core.engine import open_database
from db.core.timeutil import utcnow
db = open_database(sys.argv[1])
rollups.refresh_in_steps(db.writing, utcnow())
if hasattr(rollups, "fold_minutes"):
    with db.writing() as session:
        rollups.fold_minutes(session, utcnow())
db.dispose()
"""


@contextmanager
def own_copy(url: str, label: str) -> Iterator[str]:
    """A copy of an SQLite database for one checkout (`--compare`): each migrates its own schema, which the
    other's may not know. Other URLs are shared as they are."""
    if not url.startswith("sqlite:///"):
        yield url
        return
    folder = tempfile.mkdtemp(prefix=f"tasklens-vs-flower-{label}-")
    try:
        shutil.copyfile(url.removeprefix("sqlite:///"), f"{folder}/tasklens.db")
        yield f"sqlite:///{folder}/tasklens.db"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def tasklens(url: str, log: Any, root: Path = ROOT) -> Iterator[str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable,
        str(root / "app.py"),
        "web",
        "--db",
        url,
        "--port",
        str(port),
        "--log-level",
        "WARNING",
    ]
    proc = subprocess.Popen(cmd, cwd=root, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_up(base, proc)
        started = time.monotonic()
        subprocess.run(
            [sys.executable, "-c", ROLLUP_JOBS, url],
            cwd=root,
            check=True,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        print(f"rollups of {root.name} made current in {time.monotonic() - started:.0f} s", flush=True)
        yield base
    finally:
        stop_processes([proc])


# ---- one page load -----------------------------------------------------------------------------------
@dataclass
class Load:
    first_s: float | None  # the probe's stamp (rows, KPI cards, worker row)
    grid_s: float | None  # TaskLens /tasks: the grid's own first row (first_s may be the server-drawn rows)
    idle_s: float | None  # end of the last request before the quiet window
    requests: int
    transfer_kb: float
    main_ms: float = float(
        "nan"
    )  # the page's main thread busy (Chromium's TaskDuration), navigation to the end
    script_ms: float = float("nan")  # of which running script (ScriptDuration)
    trace: dict[str, Any] = field(default_factory=dict)


def load(page: Any, url: str, probe: str, *, idle: bool, trace: bool = False) -> Load:
    """Navigates and waits for the probe, then (idle=True) for network idle. Times come from the page's own
    clock (ms from navigation start)."""
    inflight: set[Any] = set()
    last_change = [time.monotonic()]
    headers: dict[str, dict[str, str]] = {}
    posts: dict[str, list[str]] = {}

    def started(req: Any) -> None:
        inflight.add(req)
        last_change[0] = time.monotonic()
        if trace and "_dash-update-component" in req.url:
            with suppress(Exception):
                body = req.post_data_json or {}
                posts.setdefault(req.url, []).append(str(body.get("output", "?")))

    def ended(req: Any) -> None:
        inflight.discard(req)
        last_change[0] = time.monotonic()

    def responded(resp: Any) -> None:
        if trace:
            with suppress(Exception):
                headers[resp.url] = resp.headers

    page.on("request", started)
    page.on("requestfinished", ended)
    page.on("requestfailed", ended)
    page.on("response", responded)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable")
    before = _busy(cdp)
    try:
        page.goto(url, wait_until="commit", timeout=LOAD_TIMEOUT_S * 1000)
        # TaskLens /tasks: until the grid's own rows as well (the next load must not start before them).
        wanted = [probe, "tl_grid"] if probe == "tl_rows" else [probe]
        page.wait_for_function(
            "(names) => names.every(n => n in (window.__bench || {}))",
            arg=wanted,
            timeout=LOAD_TIMEOUT_S * 1000,
            polling=50,
        )
        if idle:
            deadline = time.monotonic() + LOAD_TIMEOUT_S
            while time.monotonic() < deadline:
                if not inflight and time.monotonic() - last_change[0] >= QUIET_S:
                    break
                page.wait_for_timeout(25)
        stamps = page.evaluate("() => window.__bench")
        timing = page.evaluate(RESOURCES)
        busy = [after - was for after, was in zip(_busy(cdp), before, strict=True)]
    finally:
        cdp.detach()
        page.remove_listener("request", started)
        page.remove_listener("requestfinished", ended)
        page.remove_listener("requestfailed", ended)
        page.remove_listener("response", responded)
    cutoff = timing["now"] - QUIET_S * 1000  # later entries belong to the next poll, after the idle point
    ends = [r["end"] for r in timing["res"] if r["end"] <= cutoff]
    nav = timing["nav"] or {}
    ends += [nav.get("load") or 0.0, nav.get("end") or 0.0]
    transfer = sum(r["transfer"] or 0 for r in timing["res"]) + (nav.get("transfer") or 0)
    first, grid = stamps.get(probe), stamps.get("tl_grid")
    out = Load(
        first_s=None if first is None else first / 1000,
        grid_s=None if grid is None or probe != "tl_rows" else grid / 1000,
        idle_s=max(ends) / 1000 if idle else None,
        requests=len(timing["res"]) + 1,
        transfer_kb=transfer / 1024,
        main_ms=busy[0] * 1000,
        script_ms=busy[1] * 1000,
    )
    if trace:
        out.trace = {"timing": timing, "headers": headers, "posts": posts}
    return out


def _busy(cdp: Any) -> tuple[float, float]:
    """Seconds the page's main thread has been busy, and running script, so far (Chromium's counters)."""
    metrics = {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}
    return metrics.get("TaskDuration", 0.0), metrics.get("ScriptDuration", 0.0)


def waterfall(title: str, url: str, result: Load) -> None:
    timing, headers, posts = result.trace["timing"], result.trace["headers"], result.trace["posts"]
    nav = timing["nav"] or {}
    rows: list[list[Any]] = []
    nav_h = headers.get(url, {})
    rows.append(
        [
            url.split("/", 3)[-1] or "/",
            "document",
            0.0,
            nav.get("end", 0.0),
            nav.get("wait"),
            (nav.get("transfer") or 0) / 1024,
            (nav.get("decoded") or 0) / 1024,
            nav_h.get("content-encoding", ""),
            nav_h.get("cache-control", ""),
        ]
    )
    seen: dict[str, int] = {}
    for r in sorted(timing["res"], key=lambda r: r["start"]):
        h = headers.get(r["name"], {})
        path = "/" + r["name"].split("/", 3)[-1]
        note = ""
        if "_dash-update-component" in r["name"]:
            outs = posts.get(r["name"], [])
            i = seen.get(r["name"], 0)
            seen[r["name"]] = i + 1
            note = (outs[i] if i < len(outs) else "?")[:60]
        shown = path.split("?")[0]
        if len(shown) > 58:
            shown = shown[:26] + "…" + shown[-31:]
        rows.append(
            [
                shown + (f"  [{note}]" if note else ""),
                r["type"],
                r["start"],
                r["end"],
                r["wait"],
                (r["transfer"] or 0) / 1024,
                (r["decoded"] or 0) / 1024,
                h.get("content-encoding", ""),
                h.get("cache-control", "")[:28],
            ]
        )
    total_t = sum(r[5] for r in rows)
    total_d = sum(r[6] for r in rows)
    print(
        f"\n{title}: {len(rows)} requests, {total_t:,.0f} KB on the wire, {total_d:,.0f} KB decoded; "
        f"DOMContentLoaded {nav.get('dcl', 0):.0f} ms, load {nav.get('load', 0):.0f} ms, "
        f"probe {1000 * (result.first_s or 0):.0f} ms, idle {1000 * (result.idle_s or 0):.0f} ms"
    )
    print(
        table(
            [
                "request",
                "type",
                "start ms",
                "end ms",
                "wait ms",
                "KB wire",
                "KB decoded",
                "enc",
                "cache-control",
            ],
            rows,
        )
    )


# ---- the run -----------------------------------------------------------------------------------------
@dataclass
class Series:
    values: dict[str, list[float]] = field(default_factory=dict)
    busy: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # per page: (main ms, script ms)

    def add(self, key: str, value: float | None) -> None:
        self.values.setdefault(key, []).append(float("nan") if value is None else value)


def loadavg() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tasks", type=int, default=100_000, help="tasks in each tool (default 100,000)")
    parser.add_argument("--reps", type=int, default=7, help="interleaved repetitions (default 7)")
    parser.add_argument(
        "--tl-db", help="an existing, populated TaskLens database URL (else one is generated)"
    )
    parser.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="ROOT",
        help="also measure `python ROOT/app.py web` (another checkout, e.g. a git worktree with a change) "
        "over the same database, interleaved with the others; repeatable",
    )
    parser.add_argument("--flower-python", help="an interpreter with celery and flower installed")
    parser.add_argument(
        "--flower-url", help="an already running Flower that holds the tasks (not started here)"
    )
    parser.add_argument("--redis-db", type=int, default=11, help="the Redis database Flower's broker uses")
    parser.add_argument("--waterfall", action="store_true", help="print every request of one load per page")
    parser.add_argument("--only", choices=("tasklens", "flower"), help="measure one tool only")
    parser.add_argument(
        "--pages", default="tasks,overview", help="which measurements: tasks, overview or both (the default)"
    )
    parser.add_argument(
        "--api",
        type=int,
        default=0,
        metavar="N",
        help="also list the newest 100 tasks N times through each tool's API, interleaved: p50 and p95",
    )
    args = parser.parse_args()

    print(f"load average at start: {loadavg()}  ({os.cpu_count()} CPUs)", flush=True)
    log = open(Path(tempfile.gettempdir()) / f"bench_vs_flower_{os.getpid()}.log", "wb")  # noqa: SIM115
    print(f"child process output: {log.name}", flush=True)

    with ExitStack() as stack:
        tools: dict[str, dict[str, tuple[str, str]]] = {}
        if args.only != "flower":
            url = stack.enter_context(tasklens_db(args.tl_db, args.tasks))
            for label, root in [
                ("TaskLens", ROOT),
                *((f"TaskLens@{Path(r).name}", Path(r)) for r in args.compare),
            ]:
                served = stack.enter_context(own_copy(url, Path(root).name)) if args.compare else url
                base = stack.enter_context(tasklens(served, log, root))
                tools[label] = {"tasks": (f"{base}/tasks", "tl_rows"), "overview": (f"{base}/", "tl_kpis")}
        if args.only != "tasklens":
            if args.flower_url:
                fl_base = args.flower_url.rstrip("/")
                print(f"Flower {fl_base} holds {flower_total(fl_base):,} tasks", flush=True)
            else:
                py = flower_python(args.flower_python)
                fl_base = stack.enter_context(flower(py, args.redis_db, args.tasks, log))
            tools["Flower"] = {
                "tasks": (f"{fl_base}/tasks", "fl_rows"),
                "overview": (f"{fl_base}/", "fl_workers"),
            }
        kinds = tuple(k for k in ("tasks", "overview") if k in args.pages.split(","))
        cold, warm, loads = (
            run_browser(tools, kinds, args.reps, args.waterfall) if kinds else (Series(), Series(), [])
        )
        if args.api:
            api_lists(tools, args.api)

    if not kinds:
        log.close()
        return
    print(
        f"\n{args.tasks:,} tasks per tool, {args.reps} interleaved repetitions; load average per repetition: "
        f"{', '.join(loads)}; at the end: {loadavg()}"
    )
    for name, series in (
        ("cold (new browser context: empty cache)", cold),
        ("warm (same context, cached)", warm),
    ):
        print(f"\n{name}")
        rows = []
        for key, values in series.values.items():
            if key.endswith(" KB"):
                continue
            kb = (
                median(series.values.get(key + " KB", []))
                if key.endswith(("tasks", "overview"))
                else float("nan")
            )
            what = (
                "first row"
                if key.endswith("tasks")
                else "the grid's own first row"
                if key.endswith("grid rows")
                else ("network idle" if key.endswith("overview") else "KPIs / first worker row")
            )
            rows.append([key, what, f"{median(values):.2f}", kb, " ".join(f"{v:.2f}" for v in values)])
        print(table(["page", "until", "median s", "KB", "runs (s)"], rows))
        # The browser's own work (its main thread), which load on the machine stretches but does not make.
        busy = [[key, median([m for m, _ in v]), median([s for _, s in v])] for key, v in series.busy.items()]
        print(table(["page", "main thread ms", "of it script ms"], busy))
        if "Flower" in tools:
            for tool in (t for t in tools if t != "Flower"):
                for kind in kinds:
                    tl = median(series.values[f"{tool} {kind}"])
                    fl = median(series.values[f"Flower {kind}"])
                    print(
                        f"  {kind}: {tool} {tl:.2f} s / Flower {fl:.2f} s = {tl / fl:.2f}× "
                        f"({'faster' if tl < fl else 'slower'} than Flower)"
                    )
    log.close()


API_LISTS = {"tasks": "/api/v1/tasks?limit=100", "Flower": "/api/tasks?limit=100&sort_by=-received"}


def api_lists(tools: dict[str, dict[str, tuple[str, str]]], n: int) -> None:
    """The newest 100 tasks through each tool's API (TaskLens /api/v1/tasks, Flower /api/tasks), one request
    at a time, the tools alternating; p50 and p95 of the whole request (connect to last byte)."""
    urls = {
        tool: pages["tasks"][0].rsplit("/tasks", 1)[0] + API_LISTS["Flower" if tool == "Flower" else "tasks"]
        for tool, pages in tools.items()
    }
    times: dict[str, list[float]] = {tool: [] for tool in urls}
    for url in urls.values():  # unmeasured: first-request costs
        with urllib.request.urlopen(url, timeout=60) as r:
            r.read()
    for i in range(n):
        for tool in urls if i % 2 == 0 else reversed(urls):
            started = time.perf_counter()
            with urllib.request.urlopen(urls[tool], timeout=60) as r:
                r.read()
            times[tool].append((time.perf_counter() - started) * 1000)
    print(f"\nnewest 100 tasks through the API, {n} requests each, interleaved (load {loadavg()})")
    rows = [
        [tool, urls[tool].split("/", 3)[3], percentile(v, 50), percentile(v, 95)] for tool, v in times.items()
    ]
    print(table(["tool", "request", "p50 ms", "p95 ms"], rows))


def run_browser(
    tools: dict[str, dict[str, tuple[str, str]]], kinds: tuple[str, ...], reps: int, show_waterfall: bool
) -> tuple[Series, Series, list[str]]:
    from playwright.sync_api import sync_playwright

    cold, warm = Series(), Series()
    loads: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)

        def measure(tool: str, kind: str, *, trace: bool = False) -> tuple[Load, Load]:
            url_, probe = tools[tool][kind]
            ctx = browser.new_context(viewport={"width": 1440, "height": 900})
            ctx.add_init_script(OBSERVE)
            try:
                page = ctx.new_page()
                first = load(page, url_, probe, idle=kind == "overview", trace=trace)
                again = load(page, url_, probe, idle=kind == "overview")
            finally:
                ctx.close()
            return first, again

        for tool in tools:  # one unmeasured load each: the servers' first-request costs are not counted
            for kind in kinds:
                measure(tool, kind)
        if show_waterfall:
            for tool in tools:
                for kind in kinds:
                    first, _ = measure(tool, kind, trace=True)
                    waterfall(f"{tool} {kind}, cold", tools[tool][kind][0], first)
        for rep in range(reps):
            order = list(tools) if rep % 2 == 0 else list(reversed(tools))
            for kind in kinds:
                for tool in order:
                    c, w = measure(tool, kind)
                    key = f"{tool} {kind}"
                    if kind == "tasks":
                        cold.add(key, c.first_s)
                        warm.add(key, w.first_s)
                        if tool != "Flower":
                            cold.add(key + " grid rows", c.grid_s)
                            warm.add(key + " grid rows", w.grid_s)
                    else:
                        cold.add(key, c.idle_s)
                        warm.add(key, w.idle_s)
                        cold.add(key + " first content", c.first_s)
                        warm.add(key + " first content", w.first_s)
                    cold.add(key + " KB", c.transfer_kb)
                    warm.add(key + " KB", w.transfer_kb)
                    for series, measured in ((cold, c), (warm, w)):
                        series.busy.setdefault(key, []).append((measured.main_ms, measured.script_ms))
            loads.append(loadavg().split()[0])
            print(f"  repetition {rep + 1}/{reps} done (load {loads[-1]})", flush=True)
        browser.close()
    return cold, warm, loads


if __name__ == "__main__":
    main()
