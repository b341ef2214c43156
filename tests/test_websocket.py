"""Tests: the `/ws` websocket end to end — a real websocket client (websocket-client) against the real web app
(Werkzeug's threaded server, flask-sock, the per-process change feed) on SQLite and PostgreSQL: hello and
subscribe, live events without gaps, replay after a reconnect, task filters, a slow client that overflows its
queue and catches up from the database, bad input, ping/pong and heartbeats, and events committed by another
process (the SQLite data_version watcher / PostgreSQL LISTEN)."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import pytest
import requests
import websocket

from dashboard import websocket as ws_protocol
from dashboard import wslimits
from dashboard.bridge import ChangeFeed, Subscriber
from db.core.engine import Database
from db.domain.ops import (
    ActivityLine,
    InvocationFinished,
    InvocationStarted,
    Progress,
    Transition,
    Usage,
)
from db.domain.states import EventType, TaskStatus
from db.live.changefeed import Hub
from db.live.feed import events_between, latest_seq
from db.write.recorder import Recorder
from tests.builders import external_task
from tests.helpers import DEADLINE, WorkerProcess, run_cli, wait_until
from tests.liveserver import LiveApp, start_live_app

CONTROL = frozenset({"hello", "subscribed", "ping", "pong", "error"})
EVENT_KEYS = frozenset({"seq", "type", "at", "task_id"})
Message = dict[str, Any]


# ---- a small client ----------------------------------------------------------------------------------
class WsClient:
    """One real websocket connection. Event messages and control messages (ping/pong) are kept apart."""

    def __init__(self, ws_url: str, *, sockopt: tuple[tuple[int, int, int], ...] = ()) -> None:
        self.ws = websocket.create_connection(ws_url, timeout=DEADLINE, sockopt=sockopt)
        self.hello = self.recv()
        assert self.hello["type"] == "hello", self.hello
        self.replayed: list[Message] = []
        self.subscribed: Message | None = None
        self.control: list[Message] = []

    def recv(self, timeout: float = DEADLINE) -> Message:
        self.ws.settimeout(timeout)
        raw = self.ws.recv()
        assert raw, "the server closed the socket"
        msg: Message = json.loads(raw)
        return msg

    def send(self, **msg: Any) -> None:
        self.ws.send(json.dumps(msg))

    def subscribe(self, since: int | None = None, task_id: int | None = None) -> Message:
        """Sends subscribe; everything before "subscribed" is the replay."""
        msg: Message = {"type": "subscribe"}
        if since is not None:
            msg["since"] = since
        if task_id is not None:
            msg["task_id"] = task_id
        self.send(**msg)
        while True:
            got = self.recv()
            if got["type"] == "subscribed":
                self.subscribed = got
                return got
            assert got["type"] not in CONTROL, f"unexpected {got} during replay"
            self.replayed.append(got)

    def read_until(self, stop: Callable[[Message], bool], timeout: float = DEADLINE) -> list[Message]:
        """Event messages up to and including the first one for which `stop` is true."""
        out: list[Message] = []
        deadline = _now() + timeout
        while True:
            left = deadline - _now()
            if left <= 0:
                raise AssertionError(f"timed out after {timeout:g}s; got {len(out)} events, last {out[-1:]}")
            try:
                msg = self.recv(timeout=left)
            except websocket.WebSocketTimeoutException:
                continue
            if msg["type"] in CONTROL:
                assert msg["type"] in ("ping", "pong"), f"unexpected control message {msg}"
                self.control.append(msg)
                continue
            out.append(msg)
            if stop(msg):
                return out

    def read_control(self, type_: str, timeout: float = DEADLINE) -> Message:
        deadline = _now() + timeout
        while _now() < deadline:
            try:
                msg = self.recv(timeout=max(0.01, deadline - _now()))
            except websocket.WebSocketTimeoutException:
                continue
            if msg["type"] == type_:
                return msg
            if msg["type"] in CONTROL:
                self.control.append(msg)
        raise AssertionError(f"no {type_!r} message within {timeout:g}s")

    def assert_closed_by_server(self, timeout: float = 10.0) -> None:
        """The next frame is the server's close (websocket-client returns '' for it), or the socket is gone."""
        self.ws.settimeout(timeout)
        try:
            raw = self.ws.recv()
        except websocket.WebSocketConnectionClosedException:
            return
        assert raw == "", f"expected the server to close the socket, got {raw!r}"

    def close(self) -> None:
        self.ws.close()


def _now() -> float:
    return time.monotonic()


# ---- recording and reading the log -------------------------------------------------------------------


def lines(recorder: Recorder, task_id: int, prefix: str, count: int, per_commit: int = 1) -> None:
    for start in range(0, count, per_commit):
        ops = [ActivityLine(f"{prefix} {i}") for i in range(start, min(count, start + per_commit))]
        recorder.record(task_id, *ops, actor="test")


def db_seqs(db: Database, after: int, upto: int, task_id: int | None = None) -> list[int]:
    """The committed event seqs in (after, upto], from the database itself."""
    out: list[int] = []
    with db.reading() as session:
        while True:
            page = events_between(session, after, upto, limit=1000, task_id=task_id)
            out += [e.seq for e in page]
            if len(page) < 1000:
                return out
            after = page[-1].seq


def latest(db: Database) -> int:
    with db.reading() as session:
        return latest_seq(session)


def message_is(text: str) -> Callable[[Message], bool]:
    return lambda m: m["type"] == EventType.ACTIVITY.value and m["data"].get("message") == text


def seqs(messages: list[Message]) -> list[int]:
    return [m["seq"] for m in messages]


def parse_at(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture
def quiet_app(db_url: str) -> Iterator[LiveApp]:
    """The real web app without a worker: nothing in this process writes unless the test does."""
    app = start_live_app(db_url, worker=False)
    yield app
    app.close()


# ---- 1. hello, subscribe, live events ------------------------------------------------------------------
def test_hello_subscribe_and_live_events_without_gaps(live_app: LiveApp) -> None:
    client = WsClient(live_app.ws_url)
    try:
        hello = client.hello
        assert isinstance(hello["seq"], int) and hello["seq"] >= 0
        parse_at(hello["at"])
        sub = client.subscribe()
        assert client.replayed == [], "a subscribe without since replays nothing"
        assert sub["task_id"] is None and sub["seq"] >= hello["seq"]
        parse_at(sub["at"])

        rec = live_app.recorder
        task_id = external_task(rec, "websocket live")
        lines(rec, task_id, "line", 20)
        rec.record(task_id, Progress(iteration=1, max_iterations=2, percent=50.0, message="half"))
        rec.record(
            task_id,
            InvocationStarted("ws-inv-1", role="planner", provider="test", model="m"),
            Usage(model="m", input_tokens=10, output_tokens=5, invocation_id="ws-inv-1"),
            InvocationFinished("ws-inv-1", ok=True, response="ok"),
        )
        rec.record(task_id, Transition(TaskStatus.COMPLETED), actor="test")

        got = client.read_until(lambda m: m["task_id"] == task_id and m.get("to") == "completed")
        for m in got:
            assert m.keys() >= EVENT_KEYS, m
            assert isinstance(m["seq"], int) and isinstance(m["type"], str)
            parse_at(m["at"])
        # An "all" subscription: strictly increasing, no gaps, starting right after the subscribed seq,
        # and exactly what the database holds.
        assert seqs(got) == list(range(sub["seq"] + 1, sub["seq"] + 1 + len(got)))
        assert seqs(got) == db_seqs(live_app.db, sub["seq"], got[-1]["seq"])

        mine = [m for m in got if m["task_id"] == task_id]
        with live_app.db.reading() as session:
            stored = [e for e in events_between(session, 0, None, limit=1000, task_id=task_id)]
        assert [m["type"] for m in mine] == [e.type for e in stored]
        assert [m["type"] for m in mine][:2] == [EventType.CREATED, EventType.TRANSITION]
        assert [m["data"]["message"] for m in mine if m["type"] == EventType.ACTIVITY] == [
            f"line {i}" for i in range(20)
        ]
        assert mine[-1]["from"] == "running" and mine[-1]["to"] == "completed"
        started = next(m for m in mine if m["type"] == EventType.INVOCATION_STARTED)
        assert started["invocation_id"] == "ws-inv-1"
    finally:
        client.close()


# ---- 2. replay after a reconnect -----------------------------------------------------------------------
def test_reconnect_with_since_replays_exactly_the_missed_events(live_app: LiveApp) -> None:
    rec, db = live_app.recorder, live_app.db
    task_id = external_task(rec, "websocket replay")
    a = WsClient(live_app.ws_url)
    first_sub = a.subscribe()
    lines(rec, task_id, "before", 5)
    seen = a.read_until(message_is("before 4"))
    last = seen[-1]["seq"]
    a.close()

    lines(rec, task_id, "missed", 9, per_commit=3)
    missed_upto = latest(db)
    missed = db_seqs(db, last, missed_upto)
    assert len(missed) >= 9

    # Reconnect while a writer keeps committing: the seam between replay and live must neither drop nor
    # duplicate an event.
    writer = threading.Thread(target=lines, args=(rec, task_id, "during", 150))
    writer.start()
    try:
        a2 = WsClient(live_app.ws_url)
        sub = a2.subscribe(since=last)
    finally:
        writer.join(DEADLINE)
    try:
        replay = a2.replayed
        assert seqs(replay)[: len(missed)] == missed, "the missed events come first, in order"
        assert all(m["seq"] <= sub["seq"] for m in replay), "replay stops at the subscribed seq"
        lines(rec, task_id, "after", 1)
        live = a2.read_until(message_is("after 0"))
        assert all(m["seq"] > sub["seq"] for m in live)
        everything = seqs(replay) + seqs(live)
        assert everything == sorted(set(everything)), "strictly increasing, no duplicates"
        assert everything == db_seqs(db, last, live[-1]["seq"]), "nothing lost"
        texts = [m["data"]["message"] for m in replay + live if m["type"] == EventType.ACTIVITY]
        assert texts == [f"missed {i}" for i in range(9)] + [f"during {i}" for i in range(150)] + ["after 0"]

        # A replayed event is the same message the live stream sent.
        b = WsClient(live_app.ws_url)
        b.subscribe(since=first_sub["seq"])
        by_seq = {m["seq"]: m for m in b.replayed}
        assert [by_seq[m["seq"]] for m in seen] == seen
        b.close()
    finally:
        a2.close()


# ---- 3. task filter -------------------------------------------------------------------------------------
def test_task_filter_gets_only_that_task_in_replay_and_live(live_app: LiveApp) -> None:
    rec, db = live_app.recorder, live_app.db
    t1 = external_task(rec, "filtered one")
    t2 = external_task(rec, "filtered two")
    for i in range(10):
        rec.record(t1, ActivityLine(f"t1 {i}"))
        rec.record(t2, ActivityLine(f"t2 {i}"))

    client = WsClient(live_app.ws_url)
    try:
        sub = client.subscribe(since=0, task_id=t1)
        assert sub["task_id"] == t1
        assert seqs(client.replayed) == db_seqs(db, 0, sub["seq"], task_id=t1)
        assert {m["task_id"] for m in client.replayed} == {t1}
        assert client.replayed[0]["type"] == EventType.CREATED

        for i in range(10, 20):
            rec.record(t2, ActivityLine(f"t2 {i}"))
            rec.record(t1, ActivityLine(f"t1 {i}"))
        rec.record(t2, ActivityLine("t2 end"))
        rec.record(t1, ActivityLine("t1 end"))
        live = client.read_until(message_is("t1 end"))
        assert {m["task_id"] for m in live} == {t1}
        assert seqs(live) == db_seqs(db, sub["seq"], live[-1]["seq"], task_id=t1)
        texts = [m["data"]["message"] for m in client.replayed + live if m["type"] == EventType.ACTIVITY]
        assert texts == [f"t1 {i}" for i in range(20)] + ["t1 end"]
    finally:
        client.close()


# ---- 4. slow clients -------------------------------------------------------------------------------------
SLOW_EVENTS = 8_000
# Long messages (the event keeps a 500-character preview) so the socket buffers fill quickly.
FILLER = "x" * 400


def test_slow_client_blocks_nobody_then_catches_up_exactly_once(
    quiet_app: LiveApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    # This client is slow, not dead: however long the flood takes on a loaded machine, it is not dropped.
    monkeypatch.setattr(wslimits, "STALL_SECONDS", 3600.0)  # read at call time
    app, rec = quiet_app, quiet_app.recorder
    task_id = external_task(rec, "flood")
    feed_subs: set[Subscriber] = app.feed._subs  # read-only look at the feed's mailboxes

    # The slow client reads nothing during the flood. It needs no tiny receive buffer to stall the server's
    # sends: the flood is many times what its buffer, the server's capped send buffer and a mailbox hold
    # together, so its mailbox must overflow; and once it reads, it reads at full speed (a 4 KB receive
    # window made the catch-up crawl on a loaded machine).
    slow = WsClient(app.ws_url)
    slow_sub = slow.subscribe()
    (slow_box,) = list(feed_subs)
    fast = WsClient(app.ws_url)
    fast.subscribe()
    assert slow.ws.sock is not None
    rcvbuf = slow.ws.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    held = rcvbuf + 2 * wslimits.SEND_BUFFER_BYTES + wslimits.MAILBOX_BYTES  # the kernel doubles SO_SNDBUF
    assert SLOW_EVENTS * len(FILLER) > 4 * held, "the flood must overflow the slow client's mailbox"

    def flood() -> None:
        for start in range(0, SLOW_EVENTS, 100):
            rec.record(task_id, *[ActivityLine(f"{i} {FILLER}") for i in range(start, start + 100)])
        rec.record(task_id, ActivityLine("flood end"))

    writer = threading.Thread(target=flood)
    writer.start()
    try:
        # The fast client gets every event while the slow one reads nothing at all.
        got = fast.read_until(message_is("flood end"), timeout=300)
    finally:
        writer.join(300)
    assert seqs(got) == list(range(got[0]["seq"], got[-1]["seq"] + 1))
    assert len(got) == SLOW_EVENTS + 1
    # Every event has been offered to the slow client's mailbox too (the feed offers to each in turn), and
    # its handler is stuck in a send: the mailbox overflowed and it must be caught up from the database.
    end = got[-1]["seq"]
    wait_until(lambda: app.feed.cursor >= end, DEADLINE, "the feed to offer every event")
    wait_until(lambda: slow_box.overflowed, DEADLINE, "the slow client's queue to overflow")

    caught_up = slow.read_until(message_is("flood end"), timeout=300)
    assert seqs(caught_up) == list(range(slow_sub["seq"] + 1, caught_up[-1]["seq"] + 1)), "once, in order"
    assert seqs(caught_up) == seqs(got)
    assert [m["data"]["message"] for m in caught_up] == [m["data"]["message"] for m in got]

    # And it is live again afterwards.
    rec.record(task_id, ActivityLine("after flood"))
    assert slow.read_until(message_is("after flood"))[0]["seq"] == caught_up[-1]["seq"] + 1
    slow.close()
    fast.close()


def test_change_feed_overflow_marks_the_subscriber_and_never_blocks(db: Database) -> None:
    """Unit level: the feed offers to bounded mailboxes; a full one is cleared and flagged, others unharmed."""
    hub = Hub()
    rec = Recorder(db, hub)
    stop = threading.Event()
    feed = ChangeFeed(db, hub)
    feed.start(stop)
    try:
        t1 = external_task(rec, "feed one")
        t2 = external_task(rec, "feed two")
        caught_up = latest(db)
        wait_until(lambda: feed.cursor >= caught_up, 10, "the feed to catch up")
        small, big, only_t2 = Subscriber(limit=10), Subscriber(), Subscriber(task_id=t2)
        by_bytes = Subscriber(byte_limit=2_000)  # a few events' worth of text
        base = feed.attach(small)
        assert base == caught_up, "attach returns the cursor: later events reach the queue"
        feed.attach(big)
        feed.attach(only_t2)
        feed.attach(by_bytes)
        lines(rec, t1, "a", 50, per_commit=5)
        rec.record(t2, ActivityLine("b"))
        end = latest(db)
        wait_until(lambda: feed.cursor >= end, 10, "the feed to read every event")

        for full in (small, by_bytes):
            # Once overflowed, nothing more is queued: the socket's catch-up reads up to the feed's cursor,
            # which covers every event offered meanwhile.
            assert full.queued_bytes == 0
            assert full.take(timeout=0) == ([], True)
            assert full.take(timeout=0) == ([], False), "take resets the flag"
        rec.record(t1, ActivityLine("after the overflow"))
        wait_until(lambda: feed.cursor >= end + 1, 10, "the feed to read it")
        for full in (small, by_bytes):
            items, overflowed = full.take(timeout=0)
            assert [s for s, _ in items] == [end + 1] and not overflowed, "queued again once taken"
        end += 1

        items, overflowed = big.take(timeout=0)
        assert not overflowed
        assert [s for s, _ in items] == list(range(base + 1, end + 1))
        assert all(json.loads(text)["seq"] == s for s, text in items)

        items, overflowed = only_t2.take(timeout=0)
        assert not overflowed
        assert [json.loads(text)["task_id"] for _, text in items] == [t2]
        feed.detach(small)
        assert feed.connections == 3
    finally:
        stop.set()


# ---- 5. bad input ------------------------------------------------------------------------------------------
BAD_SUBSCRIBES: list[Any] = [
    {"type": "subscribe", "since": "x"},
    {"type": "subscribe", "since": -1},
    {"type": "subscribe", "task_id": True},
    "this is not JSON {",
    {"type": "subscribe", "since": 1.5},
    {"type": "hello"},
    [1, 2, 3],
]


def test_bad_subscribe_gets_an_error_and_a_close_while_others_are_served(live_app: LiveApp) -> None:
    healthz = f"{live_app.url}/healthz"
    for bad in BAD_SUBSCRIBES:
        client = WsClient(live_app.ws_url)
        client.ws.send(bad if isinstance(bad, str) else json.dumps(bad))
        msg = client.recv()
        assert msg["type"] == "error", (bad, msg)
        error = msg["error"]
        assert set(error) == {"code", "message", "details"}, (bad, error)
        assert isinstance(error["code"], str) and error["code"]
        assert isinstance(error["message"], str) and error["message"]
        assert isinstance(error["details"], dict)
        client.assert_closed_by_server()
        client.close()
        assert requests.get(healthz, timeout=10).status_code == 200

    # The server keeps serving: a well-behaved client subscribes and gets live events.
    good = WsClient(live_app.ws_url)
    good.subscribe()
    task_id = external_task(live_app.recorder, "after bad input")
    good.read_until(lambda m: m["task_id"] == task_id and m.get("to") == "running")
    health = requests.get(healthz, timeout=10)
    assert health.status_code == 200 and health.json()["sockets"] >= 1
    good.close()
    # Closed sockets leave the feed (the handler notices the close within its poll).
    wait_until(lambda: requests.get(healthz, timeout=10).json()["sockets"] == 0, 15, "sockets to detach")


# Edge cases of the protocol (each was a bug these tests found).
def test_out_of_range_ids_get_an_error_message(live_app: LiveApp) -> None:
    external_task(live_app.recorder, "range")
    for bad in ({"type": "subscribe", "since": 0, "task_id": 2**63}, {"type": "subscribe", "since": 2**63}):
        client = WsClient(live_app.ws_url)
        try:
            client.ws.send(json.dumps(bad))
            try:
                msg = client.recv(timeout=10)
            except websocket.WebSocketException as exc:
                raise AssertionError(f"{bad}: the socket broke instead of an error message: {exc!r}") from exc
            assert msg["type"] == "error", (bad, msg)
            client.assert_closed_by_server()
        finally:
            client.close()
    assert requests.get(f"{live_app.url}/healthz", timeout=10).status_code == 200


def test_since_ahead_of_the_server_cursor_gets_no_duplicates(quiet_app: LiveApp) -> None:
    task_id = external_task(quiet_app.recorder, "ahead")
    client = WsClient(quiet_app.ws_url)
    try:
        since = client.hello["seq"] + 3
        client.subscribe(since=since)
        lines(quiet_app.recorder, task_id, "ahead", 5)
        got = client.read_until(message_is("ahead 4"))
        assert all(m["seq"] > since for m in got), f"since={since}, got {seqs(got)}"
    finally:
        client.close()


def test_a_late_subscribe_is_honoured_or_refused(quiet_app: LiveApp, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ws_protocol, "SUBSCRIBE_WAIT_SECONDS", 0.3)  # read at call time
    task_id = external_task(quiet_app.recorder, "late")
    lines(quiet_app.recorder, task_id, "late", 3)
    expected = db_seqs(quiet_app.db, 0, latest(quiet_app.db))
    client = WsClient(quiet_app.ws_url)
    try:
        received: list[Message] = []
        with_timeout = _now() + 1.0
        while _now() < with_timeout:  # the server's default subscription (or its refusal), if any
            try:
                received.append(client.recv(timeout=max(0.01, with_timeout - _now())))
            except (websocket.WebSocketException, AssertionError):  # timeout, or closed after an error
                break
        if not any(m["type"] == "error" for m in received):
            client.send(type="subscribe", since=0)
            deadline = _now() + 2.0
            while _now() < deadline:
                try:
                    received.append(client.recv(timeout=max(0.01, deadline - _now())))
                except (websocket.WebSocketException, AssertionError):
                    break
        refused = any(m["type"] == "error" for m in received)
        replayed = [m["seq"] for m in received if m["type"] not in CONTROL]
        assert refused or replayed == expected, received
    finally:
        client.close()


# ---- 6. ping / pong and heartbeats --------------------------------------------------------------------------
def test_client_ping_gets_a_pong(live_app: LiveApp) -> None:
    client = WsClient(live_app.ws_url)
    try:
        client.subscribe()
        client.send(type="ping")
        pong = client.read_control("pong")
        assert isinstance(pong["seq"], int)
        parse_at(pong["at"])
        # Still subscribed afterwards.
        task_id = external_task(live_app.recorder, "after ping")
        client.read_until(lambda m: m["task_id"] == task_id and m.get("to") == "running")
    finally:
        client.close()


def test_server_heartbeats_arrive(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ws_protocol, "HEARTBEAT_SECONDS", 0.3)  # read at call time
    app = start_live_app(db_url, worker=False)
    client = WsClient(app.ws_url)
    try:
        assert client.hello["heartbeat"] == 0.3
        client.subscribe()
        beats = [client.read_control("ping", timeout=10) for _ in range(2)]
        for beat in beats:
            assert isinstance(beat["seq"], int)
            parse_at(beat["at"])
    finally:
        client.close()
        app.close()


# ---- 7. events from another process -------------------------------------------------------------------------
def _submitted_id(stdout: str) -> int:
    match = re.search(r"submitted task (\d+)", stdout)
    assert match, stdout
    return int(match.group(1))


def test_events_committed_by_another_process_reach_the_socket(live_app: LiveApp) -> None:
    client = WsClient(live_app.ws_url)
    try:
        client.subscribe()
        db_url = live_app.settings.database_url
        done = run_cli("submit", "--db", db_url, "--title", "from another process", "--command", "echo hi-ws")
        assert done.returncode == 0, done.stderr
        task_id = _submitted_id(done.stdout)
        got = client.read_until(lambda m: m["task_id"] == task_id and m["type"] == EventType.CREATED)
        assert got[-1]["data"]["title"] == "from another process"
        # The app's own worker runs it; its output and completion follow on the same socket.
        rest = client.read_until(lambda m: m["task_id"] == task_id and m.get("to") == "completed")
        assert any(m["type"] == EventType.ACTIVITY and m["data"]["message"] == "hi-ws" for m in rest)
        everything = seqs(got + rest)
        assert everything == sorted(set(everything))
    finally:
        client.close()


@pytest.mark.slow
def test_only_the_cross_process_watcher_wakes_a_web_process_without_writers(
    quiet_app: LiveApp, tmp_path: Any
) -> None:
    """Nothing in this process writes; a worker process and a CLI process do. Every wake-up of the feed
    must come from the watcher thread (SQLite data_version / PostgreSQL LISTEN), and every event arrives."""
    app = quiet_app
    wakers: list[str] = []
    app.hub.subscribe(lambda _topics: wakers.append(threading.current_thread().name))
    watcher = "sqlite-watcher" if app.db.is_sqlite else "pg-listener"
    client = WsClient(app.ws_url)
    try:
        sub = client.subscribe()
        with WorkerProcess(app.settings.database_url, tmp_path) as worker:
            worker.wait_registered(app.db)
            done = run_cli(
                "submit",
                "--db",
                app.settings.database_url,
                "--title",
                "cross",
                "--command",
                "echo one; echo two",
            )
            assert done.returncode == 0, done.stderr
            task_id = _submitted_id(done.stdout)
            got = client.read_until(
                lambda m: m["task_id"] == task_id and m.get("to") == "completed", timeout=60
            )
        assert seqs(got) == db_seqs(app.db, sub["seq"], got[-1]["seq"])
        texts = [m["data"]["message"] for m in got if m["task_id"] == task_id and m["type"] == "activity"]
        assert "one" in texts and "two" in texts
        assert wakers and set(wakers) == {watcher}, wakers
    finally:
        client.close()
