"""Tests: the `/ws` socket's limits against the real web app (Werkzeug's threaded server, flask-sock, the change
feed) — an oversize message closes with 1009, deep nesting is a bad_subscribe, frames that break RFC 6455
close the socket, a client vanishing mid-stream is not a server error, a client that reads nothing is
dropped after the stall limit, and clients that never read neither hold unbounded mailboxes nor delay a
reading client. These are transport limits, the same on every database: they run on SQLite."""

from __future__ import annotations

import base64
import json
import logging
import os
import socket
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import websocket

from dashboard import wslimits
from dashboard.bridge import Subscriber
from db.domain.ops import ActivityLine
from db.live.feed import latest_seq
from db.write.recorder import Recorder
from tests.builders import external_task
from tests.conftest import sqlite_database
from tests.helpers import DEADLINE, wait_until
from tests.liveserver import LiveApp, start_live_app

FILLER = "x" * 400  # long messages (the event keeps a 500-character preview) fill buffers quickly
CLOSE_TOO_BIG = 1009


@pytest.fixture
def app(tmp_path: Path) -> Iterator[LiveApp]:
    live = start_live_app(sqlite_database(tmp_path), worker=False)
    yield live
    live.close()


def healthy(app: LiveApp) -> bool:
    return bool(requests.get(f"{app.url}/healthz", timeout=DEADLINE).status_code == 200)


def flood(recorder: Recorder, task_id: int, count: int, prefix: str = "") -> None:
    for start in range(0, count, 100):
        ops = [ActivityLine(f"{prefix}{i} {FILLER}") for i in range(start, min(count, start + 100))]
        recorder.record(task_id, *ops, actor="test")


# ---- a raw RFC 6455 client: frames exactly as the test writes them -------------------------------------------
@dataclass
class RawWs:
    sock: socket.socket
    buf: bytearray = field(default_factory=bytearray)

    @classmethod
    def connect(cls, app: LiveApp, rcvbuf: int | None = None) -> RawWs:
        host, port = app.url.removeprefix("http://").split(":")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # before connect, so the advertised window is small from the start
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.settimeout(DEADLINE)
        sock.connect((host, int(port)))
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            (
                f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        raw = cls(sock)
        while b"\r\n\r\n" not in raw.buf:
            raw._fill()
        head, _, rest = bytes(raw.buf).partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        raw.buf = bytearray(rest)
        return raw

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError
        self.buf += chunk

    def send_frame(
        self, opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0, masked: bool = True
    ) -> None:
        self.sock.sendall(frame(opcode, payload, fin=fin, rsv=rsv, masked=masked))

    def read_frame(self) -> tuple[int, bytes]:
        """The next server frame (opcode, payload); EOFError when the server has closed the connection."""
        while True:
            if len(self.buf) >= 10 or (len(self.buf) >= 2 and self.buf[1] & 0x7F < 126):
                n, head = self.buf[1] & 0x7F, 2
                if n == 126:
                    n, head = int.from_bytes(self.buf[2:4], "big"), 4
                elif n == 127:
                    n, head = int.from_bytes(self.buf[2:10], "big"), 10
                if len(self.buf) >= head + n:
                    opcode, payload = self.buf[0] & 0x0F, bytes(self.buf[head : head + n])
                    del self.buf[: head + n]
                    return opcode, payload
            self._fill()

    def read_json(self) -> dict[str, Any]:
        opcode, payload = self.read_frame()
        assert opcode == 0x1, (opcode, payload)
        msg: dict[str, Any] = json.loads(payload)
        return msg

    def close_code_then_eof(self) -> int | None:
        """Reads to the end: the code of the server's close frame (None if it sent none) once the TCP
        connection is gone. Text frames before it are skipped; a reset counts as gone. Nothing may follow
        a close frame (RFC 6455 5.5.1): such bytes fail the test."""
        try:
            while True:
                opcode, payload = self.read_frame()
                if opcode == 0x8:
                    break
        except (EOFError, ConnectionResetError):
            return None
        trailing = bytes(self.buf)
        try:
            while chunk := self.sock.recv(65536):
                trailing += chunk
        except ConnectionResetError:
            pass
        assert trailing == b"", f"bytes after the close frame: {trailing[:200]!r}"
        return int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005

    def close(self) -> None:
        self.sock.close()


def frame(opcode: int, payload: bytes, *, fin: bool = True, rsv: int = 0, masked: bool = True) -> bytes:
    first = (0x80 if fin else 0) | (rsv << 4) | opcode
    n = len(payload)
    mask_bit = 0x80 if masked else 0
    if n < 126:
        head = struct.pack("!BB", first, mask_bit | n)
    elif n < 65536:
        head = struct.pack("!BBH", first, mask_bit | 126, n)
    else:
        head = struct.pack("!BBQ", first, mask_bit | 127, n)
    if not masked:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def masked_header(opcode: int, length: int) -> bytes:
    """The header of one masked frame with an all-zero mask (its payload goes on the wire as is)."""
    return struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length) + b"\0\0\0\0"


# ---- a) maximum message size ----------------------------------------------------------------------------------
def test_an_oversize_message_closes_with_1009_and_the_server_stays_healthy(app: LiveApp) -> None:
    raw = RawWs.connect(app)
    try:
        assert raw.read_json()["type"] == "hello"
        size = 10 * 1024 * 1024  # a 10 MB "subscribe": announced in one frame header, then streamed
        raw.sock.sendall(masked_header(0x1, size))
        sent = 0
        chunk = b" " * 65536
        try:
            while sent < size:
                raw.sock.sendall(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            # The server stopped reading (a full send buffer blocks until the socket's timeout when its close is
            # slow to come, as at load 12): what is checked is why.
            pass
        assert raw.close_code_then_eof() == CLOSE_TOO_BIG
        assert sent < size, "the server read all 10 MB before refusing it"
    finally:
        raw.close()
    assert healthy(app)
    wait_until(lambda: app.feed.connections == 0, DEADLINE, "the socket to leave the feed")
    # A message just under the limit is read and answered (a bad_subscribe, not a close).
    ok = RawWs.connect(app)
    try:
        ok.read_json()
        ok.send_frame(0x1, b" " * (wslimits.MAX_MESSAGE_BYTES - 100) + b'{"type":"subscribe"}')
        assert ok.read_json()["type"] == "subscribed"
    finally:
        ok.close()


# ---- b) deep nesting ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_deeply_nested_json_is_a_bad_subscribe(app: LiveApp, opener: str) -> None:
    depth = (wslimits.MAX_MESSAGE_BYTES - 10) // len(opener)  # within the size limit
    client = websocket.create_connection(app.ws_url, timeout=DEADLINE)
    try:
        client.recv()  # hello
        client.send(opener * depth)
        msg = json.loads(client.recv())
        assert msg["type"] == "error" and msg["error"]["code"] == "bad_subscribe", msg
    finally:
        client.close()
    assert healthy(app)


def test_deeply_nested_json_after_subscribing_is_not_a_crash(app: LiveApp) -> None:
    """A ping-shaped message is parsed in the live loop too: nesting there is ignored, the stream goes on."""
    task_id = external_task(app.recorder, "nested ping")
    client = websocket.create_connection(app.ws_url, timeout=DEADLINE)
    try:
        client.recv()
        client.send(json.dumps({"type": "subscribe"}))
        assert json.loads(client.recv())["type"] == "subscribed"
        client.send("[" * 50_000)
        client.send(json.dumps({"type": "ping"}))
        assert json.loads(client.recv())["type"] == "pong"
        app.recorder.record(task_id, ActivityLine("still live"), actor="test")
        while (msg := json.loads(client.recv())).get("type") != "activity":
            pass
        assert msg["data"]["message"] == "still live"
    finally:
        client.close()


# ---- c) frames that break RFC 6455 ----------------------------------------------------------------------------
SUBSCRIBE = b'{"type":"subscribe"}'
BAD_FRAMES: dict[str, bytes] = {
    "unmasked client frame": frame(0x1, SUBSCRIBE, masked=False),
    "reserved bit RSV1 without an extension": frame(0x1, SUBSCRIBE, rsv=0b100),
    "reserved bits RSV2 and RSV3": frame(0x1, SUBSCRIBE, rsv=0b011),
    "reserved data opcode 0x3": frame(0x3, SUBSCRIBE),
    "reserved control opcode 0xB": frame(0xB, b""),
    "fragmented control frame": frame(0x9, b"ping", fin=False),
    "control frame over 125 bytes": frame(0x9, b"p" * 126),
    "continuation with nothing to continue": frame(0x0, SUBSCRIBE),
    "text that is not UTF-8": frame(0x1, b'{"type":"\xff\xfe"}'),
}


@pytest.mark.parametrize("name", list(BAD_FRAMES))
def test_a_frame_that_breaks_rfc6455_closes_the_socket(app: LiveApp, name: str) -> None:
    raw = RawWs.connect(app)
    try:
        assert raw.read_json()["type"] == "hello"
        raw.sock.sendall(BAD_FRAMES[name])
        code = raw.close_code_then_eof()  # the TCP connection ends (with a close frame, or without one)
        assert code in (None, 1002, 1007), f"{name}: closed with {code}"
    finally:
        raw.close()
    wait_until(lambda: app.feed.connections == 0, DEADLINE, "the socket to leave the feed")
    assert healthy(app)


def test_a_broken_frame_after_subscribing_closes_the_socket(app: LiveApp) -> None:
    raw = RawWs.connect(app)
    try:
        raw.read_json()
        raw.send_frame(0x1, SUBSCRIBE)
        assert raw.read_json()["type"] == "subscribed"
        wait_until(lambda: app.feed.connections == 1, DEADLINE, "the subscription")
        raw.sock.sendall(frame(0x1, b'{"type":"ping"}', masked=False))
        assert raw.close_code_then_eof() in (None, 1002)
    finally:
        raw.close()
    wait_until(lambda: app.feed.connections == 0, DEADLINE, "the socket to leave the feed")


# ---- d) a client vanishing mid-stream is not a server error ------------------------------------------------
class ThreadErrors:
    """Uncaught exceptions in any thread (they would print a traceback to the server's stderr)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.seen: list[str] = []
        monkeypatch.setattr(threading, "excepthook", self._hook)

    def _hook(self, args: threading.ExceptHookArgs) -> None:
        self.seen.append(
            f"{args.thread.name if args.thread else '?'}: {args.exc_type.__name__}: {args.exc_value}"
        )


def test_a_client_vanishing_mid_stream_logs_no_error(
    app: LiveApp, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    caplog.set_level(logging.DEBUG)
    thread_errors = ThreadErrors(monkeypatch)
    task_id = external_task(app.recorder, "vanishing")
    flood(app.recorder, task_id, 3_000)  # a backlog: each client below is mid-replay when it vanishes
    for _ in range(6):
        # A small receive buffer: the server's sends stall at once, so the reset finds it inside send().
        raw = RawWs.connect(app, rcvbuf=4096)
        raw.read_json()
        raw.send_frame(0x1, b'{"type":"subscribe","since":0}')
        raw.read_frame()  # the replay has started
        wait_until(lambda: app.feed.connections == 1, DEADLINE, "the subscription")
        # Gone without a close frame, with unread data: the kernel sends a reset.
        raw.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        raw.close()
        wait_until(lambda: app.feed.connections == 0, DEADLINE, "the handler to notice")
    errors = [
        f"{r.name} {r.levelname}: {r.getMessage()}"
        for r in caplog.records
        if r.levelno >= logging.ERROR or r.exc_info
    ]
    assert errors == [], errors
    assert thread_errors.seen == []
    assert healthy(app)


# ---- e) clients that never read ------------------------------------------------------------------------------
def queued_bytes(sub: Subscriber) -> int:
    with sub.lock:
        return sum(len(text) for _, text in sub.items)


def first_live_event(app: LiveApp, task_id: int, key: str) -> None:
    """A new client subscribes and receives the event committed after it did (or the test times out)."""
    client = websocket.create_connection(app.ws_url, timeout=DEADLINE)
    try:
        client.recv()
        client.send(json.dumps({"type": "subscribe"}))
        while json.loads(client.recv())["type"] != "subscribed":
            pass
        app.recorder.record(task_id, ActivityLine(key), actor="test")
        while True:
            msg = json.loads(client.recv())
            if msg.get("type") == "activity" and msg["data"]["message"] == key:
                return
    finally:
        client.close()


IDLE_SOCKETS = 25


def test_clients_that_never_read_hold_bounded_mailboxes_and_delay_no_one(app: LiveApp) -> None:
    task_id = external_task(app.recorder, "never read")
    flood(app.recorder, task_id, 2_000, prefix="backlog ")  # each idle client asks for it all (since 0)
    idle = []
    for _ in range(IDLE_SOCKETS):
        ws = websocket.create_connection(app.ws_url, timeout=DEADLINE)
        ws.send(json.dumps({"type": "subscribe", "since": 0}))  # and never reads again
        idle.append(ws)
    wait_until(lambda: app.feed.connections == IDLE_SOCKETS, DEADLINE, "the idle sockets to subscribe")
    subs = list(app.feed._subs)  # read-only look at the feed's mailboxes
    peak = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not stop.wait(0.02):
            peak = max([peak] + [queued_bytes(s) for s in subs])

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        flood(app.recorder, task_id, 8_000)  # ~5 MB per socket: far more than any buffer takes
        end = latest(app)
        wait_until(lambda: app.feed.cursor >= end, DEADLINE, "the feed to offer every event")
        # A client that reads gets its first live event; before the limits this waited on 25 replays
        # that each had megabytes of kernel buffer to fill.
        first_live_event(app, task_id, "reader's event")
    finally:
        stop.set()
        watcher.join(DEADLINE)
        for ws in idle:
            ws.close()
    assert peak <= wslimits.MAILBOX_BYTES, f"a mailbox held {peak:,} bytes"
    assert all(s.queued_bytes <= wslimits.MAILBOX_BYTES for s in subs)


def test_a_client_that_reads_nothing_for_the_stall_limit_is_dropped(
    app: LiveApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wslimits, "STALL_SECONDS", 1.0)  # read at call time
    task_id = external_task(app.recorder, "stalled")
    flood(app.recorder, task_id, 3_000)
    stalled = RawWs.connect(app, rcvbuf=4096)
    reader = websocket.create_connection(app.ws_url, timeout=DEADLINE)
    try:
        stalled.read_json()
        stalled.send_frame(0x1, b'{"type":"subscribe","since":0}')  # ~2 MB of replay it never reads
        reader.recv()
        reader.send(json.dumps({"type": "subscribe"}))
        assert json.loads(reader.recv())["type"] == "subscribed"
        wait_until(lambda: app.feed.connections == 2, DEADLINE, "both subscriptions")
        # The stalled one is dropped by the server; the reading one stays.
        wait_until(lambda: app.feed.connections == 1, DEADLINE, "the stalled socket to be dropped")
        stalled.close_code_then_eof()  # the connection really ends: what it had buffered, then EOF
        app.recorder.record(task_id, ActivityLine("reader still served"), actor="test")
        while (msg := json.loads(reader.recv())).get("type") != "activity":
            pass
        assert msg["data"]["message"] == "reader still served"
    finally:
        stalled.close()
        reader.close()


def latest(app: LiveApp) -> int:
    with app.db.reading() as session:
        return latest_seq(session)
