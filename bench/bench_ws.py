"""Benchmark: the websocket bridge (/ws) on SQLite and PostgreSQL —
a) commit → websocket message latency with the web app in this process (hub wake-up),
b) the same with the web app in a `python app.py web` subprocess (SQLite data_version watcher / LISTEN),
c) fan-out: 500 concurrent sockets on one web process, N events each, delivery count, time and the web
   process's RSS and threads,
d) idle bytes on the wire per minute: one browser-like socket vs. a page polling the overview callback
   (`POST /_dash-update-component`) every 2 s.

    python bench/bench_ws.py [--db sqlite|postgresql|both] [--skip a,b,c,d] [--repeat 3] [--events 300]
                             [--sockets 500] [--fanout-events 200] [--idle-seconds 60]

Prints figures (medians, p50/p95, every repetition) and the targets; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import selectors
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

# The project and the helpers beside this file, however the script is started. `common` is imported by its
# plain name because bench/ is a folder of scripts, not a package.
for _path in (Path(__file__).resolve().parent.parent, Path(__file__).resolve().parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import websocket  # noqa: E402
from common import (  # noqa: E402
    ROOT,
    check_postgres,
    db_kinds,
    free_port,
    fresh_database,
    machine_line,
    median,
    percentile,
    stop_processes,
    table,
    verdict,
)

TARGET_A_P95_MS = 50.0
TARGET_B_P95_MS = 150.0
TARGET_C_SOCKETS = 500
TARGET_D_SAVING = 0.90
WARMUP = 10


# ---- shared pieces -------------------------------------------------------------------------------------
def proc_status(pid: int) -> dict[str, str]:
    out: dict[str, str] = {}
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                out[key] = value.strip()
    except OSError:
        pass
    return out


def rss_threads(pid: int) -> tuple[float, int]:
    status = proc_status(pid)
    rss = int(status.get("VmRSS", "0 kB").split()[0]) / 1024.0
    return rss, int(status.get("Threads", "0"))


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def open_recorder(url: str) -> tuple[Any, Any]:
    """A Database and Recorder in this process (its hub has no listener here unless one is added)."""
    from db.core.engine import open_database
    from db.write.recorder import Recorder

    db = open_database(url)
    return db, Recorder(db)


def external_task(recorder: Any, title: str) -> int:
    """An `external` task (no worker claims it) set running, to hang activity lines on."""
    from db.domain.ops import TaskSpec, Transition
    from db.domain.states import TaskKind, TaskStatus

    task_id: int = recorder.submit(TaskSpec(title=title, kind=TaskKind.EXTERNAL), actor="bench")
    recorder.record(task_id, Transition(TaskStatus.RUNNING), actor="bench")
    return task_id


def latest(db: Any) -> int:
    from db.live.feed import latest_seq

    with db.reading() as session:
        return int(latest_seq(session))


@dataclass
class WebProcess:
    proc: subprocess.Popen[bytes]
    url: str
    ws_url: str
    log: IO[bytes]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def health(self) -> dict[str, Any]:
        import requests

        body: dict[str, Any] = requests.get(f"{self.url}/healthz", timeout=10).json()
        return body


@contextmanager
def web_process(url: str) -> Iterator[WebProcess]:
    """`python app.py web --db URL --port P` as a child process, its output in a temp file."""
    import requests

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASKLENS_")}
    env["TASKLENS_LOG_LEVEL"] = "WARNING"
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            [sys.executable, str(ROOT / "app.py"), "web", "--db", url, "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        web = WebProcess(proc, f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}/ws", log)
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"web process exited with {proc.returncode}: {_tail(log)}")
                try:
                    if requests.get(f"{web.url}/healthz", timeout=2).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError("web process did not answer /healthz in 60s")
                time.sleep(0.1)
            yield web
        finally:
            stop_processes([proc])


def _tail(log: IO[bytes]) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")[-3000:]


# ---- a) and b): commit → message latency -------------------------------------------------------------
class Receiver(threading.Thread):
    """One subscribed socket; notes the arrival time of every activity message by its text."""

    def __init__(self, ws_url: str) -> None:
        super().__init__(name="bench-receiver", daemon=True)
        self.ws = websocket.create_connection(ws_url, timeout=30)
        hello = json.loads(self.ws.recv())
        self.ws.send(json.dumps({"type": "subscribe", "since": hello["seq"]}))
        while json.loads(self.ws.recv())["type"] != "subscribed":
            pass
        self.arrivals: dict[str, float] = {}
        self.cond = threading.Condition()
        self.closing = False

    def run(self) -> None:
        self.ws.settimeout(1.0)
        while not self.closing:
            try:
                raw = self.ws.recv()
            except websocket.WebSocketTimeoutException:
                continue
            except (websocket.WebSocketConnectionClosedException, OSError):
                return
            if not raw:  # the close frame
                return
            now = time.perf_counter()
            msg = json.loads(raw)
            if msg.get("type") == "activity":
                with self.cond:
                    self.arrivals[msg["data"]["message"]] = now
                    self.cond.notify_all()

    def wait_for(self, key: str, timeout: float) -> float | None:
        with self.cond:
            self.cond.wait_for(lambda: key in self.arrivals, timeout)
            return self.arrivals.get(key)

    def close(self) -> None:
        self.closing = True
        self.ws.close()


@dataclass
class LatencyRun:
    samples_ms: list[float]
    lost: int

    def p(self, pct: float) -> float:
        return percentile(self.samples_ms, pct)


def measure_latency(
    recorder: Any, ws_url: str, count: int, repeat: int, rng: random.Random, label: str
) -> list[LatencyRun]:
    """Single events spaced a few ms apart: from just after Recorder.record returns (the commit) to the
    client's recv of that event. Each event is awaited before the next, so nothing queues behind it."""
    from db.domain.ops import ActivityLine

    task_id = external_task(recorder, f"latency {label}")
    receiver = Receiver(ws_url)
    receiver.start()
    runs: list[LatencyRun] = []
    try:
        for rep in range(repeat):
            samples: list[float] = []
            lost = 0
            for i in range(WARMUP + count):
                key = f"lat-{rep}-{i}"
                recorder.record(task_id, ActivityLine(key), actor="bench")
                committed = time.perf_counter()
                arrived = receiver.wait_for(key, 5.0)
                if arrived is None:
                    lost += 1
                elif i >= WARMUP:
                    samples.append((arrived - committed) * 1000.0)
                time.sleep(rng.uniform(0.002, 0.008))
            run = LatencyRun(samples, lost)
            runs.append(run)
            print(
                f"    {label} run {rep + 1}: p50 {run.p(50):6.1f} ms  p95 {run.p(95):6.1f} ms  "
                f"max {max(samples, default=float('nan')):6.1f} ms  lost {lost}",
                flush=True,
            )
    finally:
        receiver.close()
    return runs


def part_a(url: str, count: int, repeat: int, rng: random.Random) -> list[LatencyRun]:
    """The web app in this process (tests.liveserver: Werkzeug threaded server + change feed + watcher)."""
    from tests.liveserver import start_live_app

    app = start_live_app(url, worker=False)
    try:
        return measure_latency(app.recorder, app.ws_url, count, repeat, rng, "a in-process")
    finally:
        app.close()


def part_b(web: WebProcess, url: str, count: int, repeat: int, rng: random.Random) -> list[LatencyRun]:
    db, recorder = open_recorder(url)
    try:
        return measure_latency(recorder, web.ws_url, count, repeat, rng, "b separate  ")
    finally:
        db.dispose()


# ---- c) many sockets -------------------------------------------------------------------------------------
SEQ_PREFIX = b'{"seq":'


@dataclass
class RawSocket:
    """After the handshake (websocket-client), frames are parsed straight off the socket: cheaper than
    websocket-client's per-frame path, so the client side does not dominate the fan-out time."""

    ws: websocket.WebSocket
    buf: bytearray = field(default_factory=bytearray)
    seqs: list[int] = field(default_factory=list)
    done_at: float = 0.0

    @property
    def sock(self) -> socket.socket:
        if self.ws.sock is None:
            raise ConnectionError("websocket not connected")
        return self.ws.sock

    def feed(self, data: bytes) -> list[int]:
        self.buf += data
        got: list[int] = []
        pos = 0
        buf = self.buf
        while len(buf) - pos >= 2:
            n = buf[pos + 1] & 0x7F
            head = 2
            if n == 126:
                if len(buf) - pos < 4:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                head = 4
            elif n == 127:
                if len(buf) - pos < 10:
                    break
                n = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                head = 10
            if len(buf) - pos < head + n:
                break
            payload = bytes(buf[pos + head : pos + head + n])
            pos += head + n
            if payload.startswith(SEQ_PREFIX):  # an event; control messages start with "type"
                got.append(int(payload[len(SEQ_PREFIX) : payload.index(b",")]))
        del buf[:pos]
        return got


def connect_subscribed(ws_url: str) -> websocket.WebSocket:
    ws = websocket.create_connection(ws_url, timeout=60)
    hello = json.loads(ws.recv())
    ws.send(json.dumps({"type": "subscribe", "since": hello["seq"]}))
    while json.loads(ws.recv())["type"] != "subscribed":
        pass
    return ws


class SocketGroup(threading.Thread):
    """A client thread holding many sockets, reading whichever is readable (epoll)."""

    def __init__(self, ws_url: str, count: int) -> None:
        super().__init__(name="bench-sockets", daemon=True)
        self.ws_url, self.count = ws_url, count
        self.socks: list[RawSocket] = []
        self.connected = threading.Event()
        self.error: BaseException | None = None
        self.lock = threading.Lock()
        self.expect: set[int] = set()
        self.round_done = threading.Event()
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            for _ in range(self.count):
                self.socks.append(RawSocket(connect_subscribed(self.ws_url)))
        except BaseException as exc:
            self.error = exc
            self.connected.set()
            return
        self.connected.set()
        sel = selectors.DefaultSelector()
        for rs in self.socks:
            rs.sock.setblocking(False)
            sel.register(rs.sock, selectors.EVENT_READ, rs)
        while not self.stop.is_set():
            for key, _ in sel.select(0.2):
                rs = key.data
                try:
                    data = rs.sock.recv(262_144)
                except BlockingIOError:
                    continue
                if not data:
                    sel.unregister(rs.sock)
                    continue
                seqs = rs.feed(data)
                if seqs:
                    now = time.perf_counter()
                    with self.lock:
                        rs.seqs += seqs
                        if self.expect and self.expect.issubset(rs.seqs[-len(self.expect) :]):
                            rs.done_at = rs.done_at or now
            with self.lock:
                if self.expect and all(rs.done_at for rs in self.socks):
                    self.round_done.set()
        sel.close()

    def begin_round(self, expect: set[int]) -> None:
        with self.lock:
            self.expect = expect
            for rs in self.socks:
                rs.seqs = []
                rs.done_at = 0.0
            self.round_done.clear()

    def close(self) -> None:
        self.stop.set()
        self.join(10)
        for rs in self.socks:
            try:
                rs.sock.setblocking(True)
                rs.ws.close(timeout=1)
            except Exception:
                pass


@dataclass
class FanoutRound:
    delivered: int
    expected: int
    exact: int  # sockets that got exactly the expected seqs, in order, once
    commit_s: float  # first record start -> last record returned
    last_delivery_s: float  # first record start -> the last socket got the last event
    after_commit_s: float  # last record returned -> the last socket got the last event
    web_cpu_s: float  # CPU seconds the web process spent from the first commit to the last delivery


@dataclass
class FanoutResult:
    sockets: int
    connect_s: float
    rounds: list[FanoutRound]
    rss_before: float
    rss_connected: float
    rss_after: float
    threads_before: int
    threads_connected: int
    threads_after_close: int
    idle_cpu_pct: float


def part_c(
    web: WebProcess, url: str, sockets: int, events: int, rounds: int, client_threads: int
) -> FanoutResult:
    from db.domain.ops import ActivityLine

    db, recorder = open_recorder(url)
    task_id = external_task(recorder, "fan-out")
    rss_before, threads_before = rss_threads(web.pid)
    per = [
        sockets // client_threads + (1 if i < sockets % client_threads else 0) for i in range(client_threads)
    ]
    groups = [SocketGroup(web.ws_url, n) for n in per if n]
    started = time.monotonic()
    for g in groups:
        g.start()
    for g in groups:
        g.connected.wait(300)
        if g.error is not None:
            raise RuntimeError(
                f"connecting failed after {sum(len(x.socks) for x in groups)} sockets: {g.error!r}"
            )
    connect_s = time.monotonic() - started
    open_now = web.health()["sockets"]
    rss_connected, threads_connected = rss_threads(web.pid)
    print(
        f"    c: {open_now} sockets subscribed in {connect_s:.1f}s; web RSS {rss_connected:.0f} MiB, "
        f"{threads_connected} threads",
        flush=True,
    )
    # The web process's own CPU while all sockets sit idle (each handler wakes every 0.5 s).
    cpu0 = cpu_seconds(web.pid)
    time.sleep(3.0)
    idle_cpu_pct = (cpu_seconds(web.pid) - cpu0) / 3.0 * 100

    results: list[FanoutRound] = []
    try:
        for r in range(rounds):
            before = latest(db)
            expect = set(range(before + 1, before + events + 1))
            for g in groups:
                g.begin_round(expect)
            cpu_start = cpu_seconds(web.pid)
            t0 = time.perf_counter()
            for i in range(events):
                recorder.record(task_id, ActivityLine(f"fan-{r}-{i}"), actor="bench")
            t_commit = time.perf_counter()
            after = latest(db)
            if after != before + events:
                print(f"    c: note: another writer moved the log ({after - before} events)")
            deadline = time.monotonic() + 120
            for g in groups:
                g.round_done.wait(max(0.1, deadline - time.monotonic()))
            web_cpu = cpu_seconds(web.pid) - cpu_start
            with_all = [rs for g in groups for rs in g.socks]
            ordered = sorted(expect)
            delivered = sum(len([s for s in rs.seqs if s in expect]) for rs in with_all)
            exact = sum(1 for rs in with_all if rs.seqs == ordered)
            last = max((rs.done_at for rs in with_all if rs.done_at), default=float("nan"))
            missing = sum(1 for rs in with_all if not rs.done_at)
            res = FanoutRound(
                delivered,
                len(expect) * len(with_all),
                exact,
                t_commit - t0,
                last - t0,
                last - t_commit,
                web_cpu,
            )
            results.append(res)
            incomplete = f", {missing} sockets incomplete" if missing else ""
            print(
                f"    c round {r + 1}: {res.delivered:,}/{res.expected:,} messages delivered, "
                f"{res.exact}/{len(with_all)} sockets exact, commits took {res.commit_s:.2f}s, last "
                f"socket done {res.last_delivery_s:.2f}s after the first commit "
                f"({res.after_commit_s:.2f}s after the last), web CPU {res.web_cpu_s:.2f}s{incomplete}",
                flush=True,
            )
            time.sleep(0.5)
        rss_after, _ = rss_threads(web.pid)
    finally:
        for g in groups:
            g.close()
        db.dispose()
    # Closed sockets leave the web process (each handler notices within its 0.5 s poll).
    deadline = time.monotonic() + 30
    while web.health()["sockets"] > 0 and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)
    _, threads_after = rss_threads(web.pid)
    return FanoutResult(
        sum(len(g.socks) for g in groups),
        connect_s,
        results,
        rss_before,
        rss_connected,
        rss_after,
        threads_before,
        threads_connected,
        threads_after,
        idle_cpu_pct,
    )


# ---- d) idle bytes -------------------------------------------------------------------------------------
class CountingSocket:
    """A socket that counts the bytes it sends and receives (handed to websocket-client as its socket)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.sent = 0
        self.received = 0

    def send(self, data: bytes) -> int:
        n = self._sock.send(data)
        self.sent += n
        return n

    def sendall(self, data: bytes) -> None:
        self._sock.sendall(data)
        self.sent += len(data)

    def recv(self, bufsize: int) -> bytes:
        data = self._sock.recv(bufsize)
        self.received += len(data)
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def overview_poll_request(web: WebProcess) -> tuple[str, bytes, dict[str, str]]:
    """The request the overview page's callback makes, built from the app's own dependency list and page
    config — the same body Chromium sends (captured once with Playwright: outputs, inputs with the
    live-signal value and theme, changedPropIds), with Chromium's request headers."""
    import requests

    page = requests.get(f"{web.url}/", timeout=10).text
    found = re.search(r'<script id="_dash-config" type="application/json">(.*?)</script>', page, re.S)
    if found is None:
        raise SystemExit("the overview page carries no Dash config")
    config = json.loads(found.group(1))
    deps = requests.get(f"{web.url}/_dash-dependencies", timeout=10).json()
    dep = next(d for d in deps if "overview-kpis.children" in d["output"])
    outputs = [
        {"id": part.rsplit(".", 1)[0], "property": part.rsplit(".", 1)[1]}
        for part in dep["output"].strip(".").split("...")
    ]
    signal = {
        "reason": "poll",
        "seq": 0,
        "n": 0,
        "tasks": [],
        "finished": [],
        "activity": [],
        "workers": False,
        "at": int(time.time() * 1000),
    }
    values = {"live-signal": signal, "theme": "light"}
    inputs = [{**i, "value": values.get(i["id"])} for i in dep["inputs"]]
    body = json.dumps(
        {
            "output": dep["output"],
            "outputs": outputs,
            "inputs": inputs,
            "changedPropIds": ["live-signal.data"],
            "parsedChangedPropsIds": ["live-signal.data"],
        },
        separators=(",", ":"),
    ).encode()
    path = "/_dash-update-component"
    if config.get("end_id"):
        path += f"?endId={config['end_id']}"
    host = web.url.removeprefix("http://")
    headers = {
        "Host": host,
        "Connection": "keep-alive",
        "Content-Length": str(len(body)),
        "sec-ch-ua-platform": '"Linux"',
        "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "HeadlessChrome/156.0.0.0 Safari/537.36",
        "Accept": "application/json",
        "sec-ch-ua": '"Not:A-Brand";v="8", "Chromium";v="156"',
        "Content-Type": "application/json",
        "sec-ch-ua-mobile": "?0",
        "Origin": web.url,
        "Sec-Fetch-Site": "same-origin",
        "Sec-Fetch-Mode": "cors",
        "Sec-Fetch-Dest": "empty",
        "Referer": f"{web.url}/",
        "Accept-Encoding": "gzip, deflate, br, zstd",
        "Accept-Language": "en-US,en;q=0.9",
    }
    return path, body, headers


class RawHttp:
    """HTTP/1.1 over a plain socket so that every byte each way is counted (keep-alive when allowed)."""

    def __init__(self, host: str, port: int) -> None:
        self.addr = (host, port)
        self.sock: socket.socket | None = None
        self.sent = 0
        self.received = 0
        self.connections = 0

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        if self.sock is None:
            self.sock = socket.create_connection(self.addr, timeout=30)
            self.connections += 1
        head = f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        request = head.encode() + body
        self.sock.sendall(request)
        self.sent += len(request)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed before the response headers")
            data += chunk
        header_blob, _, rest = data.partition(b"\r\n\r\n")
        lines = header_blob.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        fields = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        length = int(fields.get("content-length", "0"))
        while len(rest) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            rest += chunk
        self.received += len(header_blob) + 4 + len(rest)
        if fields.get("connection", "").lower() == "close":
            self.sock.close()
            self.sock = None
        return status

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()


@dataclass
class IdleResult:
    seconds: float
    ws_setup_bytes: int  # handshake both ways + hello / subscribe / subscribed
    ws_window_in: int  # frames received during the idle window
    ws_window_out: int
    ws_messages: dict[str, int]
    poll_requests: int
    poll_connections: int
    poll_sent: int
    poll_received: int
    poll_statuses: set[int]

    @property
    def ws_per_min(self) -> float:
        return (self.ws_window_in + self.ws_window_out) * 60.0 / self.seconds

    @property
    def poll_per_min(self) -> float:
        return (self.poll_sent + self.poll_received) * 60.0 / self.seconds

    @property
    def saving(self) -> float:
        return 1.0 - self.ws_per_min / self.poll_per_min if self.poll_per_min else float("nan")


def part_d(web: WebProcess, seconds: float, poll_interval: float) -> IdleResult:
    host, port = web.url.removeprefix("http://").split(":")
    raw = socket.create_connection((host, int(port)), timeout=30)
    counting = CountingSocket(raw)
    ws = websocket.create_connection(web.ws_url, timeout=30, socket=counting)
    # As assets/live.js does: hello, then subscribe from its seq.
    hello = json.loads(ws.recv())
    ws.send(json.dumps({"type": "subscribe", "since": hello["seq"]}))
    while json.loads(ws.recv())["type"] != "subscribed":
        pass
    setup = counting.sent + counting.received
    in0, out0 = counting.received, counting.sent
    kinds: dict[str, int] = {}
    path, body, headers = overview_poll_request(web)
    http = RawHttp(host, int(port))
    statuses: set[int] = set()
    requests_made = 0
    stop_at = time.monotonic() + seconds

    def poll() -> None:
        nonlocal requests_made
        next_at = time.monotonic()
        while next_at < stop_at:
            statuses.add(http.post(path, body, headers))
            requests_made += 1
            next_at += poll_interval
            time.sleep(max(0.0, next_at - time.monotonic()))

    poller = threading.Thread(target=poll, name="bench-poller", daemon=True)
    poller.start()
    while (left := stop_at - time.monotonic()) > 0:
        ws.settimeout(left)
        try:
            msg = json.loads(ws.recv())
        except websocket.WebSocketTimeoutException:
            break
        kinds[msg.get("type", "?")] = kinds.get(msg.get("type", "?"), 0) + 1
    poller.join(30)
    result = IdleResult(
        seconds,
        setup,
        counting.received - in0,
        counting.sent - out0,
        kinds,
        requests_made,
        http.connections,
        http.sent,
        http.received,
        statuses,
    )
    ws.close()
    http.close()
    return result


# ---- driver ------------------------------------------------------------------------------------------
@dataclass
class DbResults:
    kind: str
    a: list[LatencyRun] = field(default_factory=list)
    b: list[LatencyRun] = field(default_factory=list)
    c: FanoutResult | None = None
    d: IdleResult | None = None
    notes: list[str] = field(default_factory=list)


def _timed(label: str, fn: Callable[[], Any]) -> Any:
    started = time.monotonic()
    print(f"  {label} ...", flush=True)
    out = fn()
    print(f"  {label} done in {time.monotonic() - started:.0f}s", flush=True)
    return out


def run_kind(kind: str, args: argparse.Namespace, skip: set[str], rng: random.Random) -> DbResults:
    res = DbResults(kind)
    with fresh_database(kind) as url:
        if "a" not in skip:
            res.a = _timed(
                f"{kind} a) in-process latency", lambda: part_a(url, args.events, args.repeat, rng)
            )
        if skip >= {"b", "c", "d"}:
            return res
        with web_process(url) as web:
            if "b" not in skip:
                res.b = _timed(
                    f"{kind} b) cross-process latency",
                    lambda: part_b(web, url, args.events, args.repeat, rng),
                )
            if "c" not in skip:
                res.c = _timed(
                    f"{kind} c) {args.sockets} sockets",
                    lambda: part_c(
                        web, url, args.sockets, args.fanout_events, args.fanout_rounds, args.client_threads
                    ),
                )
            if "d" not in skip:
                res.d = _timed(
                    f"{kind} d) idle bytes over {args.idle_seconds:g}s",
                    lambda: part_d(web, args.idle_seconds, args.poll_interval),
                )
    return res


def latency_row(part: str, kind: str, runs: list[LatencyRun], target: float) -> list[Any]:
    all_samples = [s for r in runs for s in r.samples_ms]
    p95s = [r.p(95) for r in runs]
    return [
        f"{part} {kind}",
        len(all_samples),
        median([r.p(50) for r in runs]),
        median(p95s),
        percentile(all_samples, 99),
        max(all_samples, default=float("nan")),
        " / ".join(f"{p:.1f}" for p in p95s),
        sum(r.lost for r in runs),
        f"<= {target:.0f} {verdict(median(p95s) <= target and not any(r.lost for r in runs))}",
    ]


def report(results: list[DbResults], args: argparse.Namespace) -> None:
    lat_rows = []
    for r in results:
        if r.a:
            lat_rows.append(latency_row("a) in-process", r.kind, r.a, TARGET_A_P95_MS))
        if r.b:
            lat_rows.append(latency_row("b) separate web", r.kind, r.b, TARGET_B_P95_MS))
    if lat_rows:
        print("\nCommit -> websocket message latency (ms; medians over the runs, p99/max over all samples)")
        print(
            table(
                ["part / database", "n", "p50", "p95", "p99", "max", "p95 per run", "lost", "p95 target"],
                lat_rows,
            )
        )
    fan_rows = []
    for r in results:
        c = r.c
        if c is None:
            continue
        for i, rd in enumerate(c.rounds):
            ok = rd.delivered == rd.expected and rd.exact == c.sockets and c.sockets >= TARGET_C_SOCKETS
            fan_rows.append(
                [
                    f"c) {r.kind} round {i + 1}",
                    c.sockets,
                    f"{rd.delivered:,}/{rd.expected:,}",
                    rd.exact,
                    f"{rd.commit_s:.2f}",
                    f"{rd.last_delivery_s:.2f}",
                    f"{rd.after_commit_s:.2f}",
                    f"{rd.web_cpu_s:.2f}",
                    f"{rd.web_cpu_s * 1e6 / max(1, rd.delivered):.0f}",
                    verdict(ok),
                ]
            )
    if fan_rows:
        print(f"\nFan-out: {args.fanout_events} events to every socket of one `app.py web` process")
        print(
            table(
                [
                    "database / round",
                    "sockets",
                    "delivered",
                    "exact sockets",
                    "commits s",
                    "last delivery s",
                    "after last commit s",
                    "web CPU s",
                    "web CPU µs/msg",
                    "target: all delivered",
                ],
                fan_rows,
            )
        )
        mem_rows = [
            [
                f"c) {r.kind}",
                f"{r.c.connect_s:.1f}",
                f"{r.c.rss_before:.0f}",
                f"{r.c.rss_connected:.0f}",
                f"{r.c.rss_after:.0f}",
                r.c.threads_before,
                r.c.threads_connected,
                r.c.threads_after_close,
                f"{r.c.idle_cpu_pct:.0f}%",
            ]
            for r in results
            if r.c is not None
        ]
        print(
            table(
                [
                    "web process",
                    "connect s",
                    "RSS MiB before",
                    "RSS with sockets",
                    "RSS after rounds",
                    "threads before",
                    "threads with sockets",
                    "threads after close",
                    "idle CPU w/ sockets",
                ],
                mem_rows,
            )
        )
    idle_rows = []
    for r in results:
        d = r.d
        if d is None:
            continue
        idle_rows.append(
            [
                f"d) {r.kind}",
                f"{d.ws_per_min:,.0f}",
                ", ".join(f"{k} {v}" for k, v in sorted(d.ws_messages.items())) or "none",
                d.ws_setup_bytes,
                f"{d.poll_per_min:,.0f}",
                d.poll_requests,
                f"{(d.poll_sent + d.poll_received) / max(1, d.poll_requests):,.0f}",
                ",".join(map(str, sorted(d.poll_statuses))),
                f"{d.saving * 100:.2f}%",
                f">= 90% {verdict(d.saving >= TARGET_D_SAVING)}",
            ]
        )
    if idle_rows:
        print(
            f"\nIdle bytes per minute: one socket vs. polling the overview callback every "
            f"{args.poll_interval:g}s ({args.idle_seconds:g}s window, scaled to a minute)"
        )
        print(
            table(
                [
                    "database",
                    "ws B/min",
                    "ws messages",
                    "ws setup B (once)",
                    "poll B/min",
                    "polls",
                    "B per poll",
                    "status",
                    "saving",
                    "target",
                ],
                idle_rows,
            )
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: a,b,c,d")
    parser.add_argument("--repeat", type=int, default=3, help="latency runs per part (default 3)")
    parser.add_argument("--events", type=int, default=300, help="events per latency run (default 300)")
    parser.add_argument("--sockets", type=int, default=500, help="concurrent sockets in c) (default 500)")
    parser.add_argument(
        "--fanout-events", type=int, default=200, help="events per fan-out round (default 200)"
    )
    parser.add_argument("--fanout-rounds", type=int, default=3, help="fan-out rounds (default 3)")
    parser.add_argument("--client-threads", type=int, default=4, help="client threads in c) (default 4)")
    parser.add_argument("--idle-seconds", type=float, default=60.0, help="idle window of d) (default 60)")
    parser.add_argument("--poll-interval", type=float, default=2.0, help="polling period in d) (default 2)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if unknown := skip - {"a", "b", "c", "d"}:
        parser.error(f"unknown parts in --skip: {', '.join(sorted(unknown))}")
    rng = random.Random(args.seed)
    try:  # 500 sockets here and the web process's matching ones stay well inside the default limits
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))
    except (ImportError, ValueError, OSError):
        pass

    print(f"bench_ws: {machine_line()}; load average {os.getloadavg()[0]:.2f}")
    started = time.monotonic()
    results: list[DbResults] = []
    for kind in db_kinds(args.db):
        if kind == "postgresql" and (why := check_postgres()):
            print(f"postgresql: skipped ({why})")
            continue
        results.append(run_kind(kind, args, skip, rng))
    report(results, args)
    print(f"\ntotal {time.monotonic() - started:.0f}s; load average at the end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
