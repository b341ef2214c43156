"""Dashboard layer: the `/ws` socket's limits — the largest message read, what one socket may hold queued or
in its kernel send buffer, how long its sends may stall before the client is dropped, and handing the memory
of closed sockets back to the system."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import select
import socket
import threading
import time
from contextlib import suppress
from typing import Any

log = logging.getLogger(__name__)

# A subscribe or a ping is under 200 bytes; simple-websocket counts a message as it arrives and closes the
# socket with 1009 (message too big) past this, so an oversize message is never buffered whole.
MAX_MESSAGE_BYTES = 64 * 1024
# The kernel send buffer of one socket. Left alone, Linux grows it to 4 MB per socket (tcp_wmem), and a
# client that never reads made its handler serialise and push megabytes before its send blocked.
SEND_BUFFER_BYTES = 128 * 1024
# Serialised events waiting in one socket's mailbox (dashboard.bridge.Subscriber); past it the socket
# catches up from the database instead.
MAILBOX_BYTES = 256 * 1024
# A send that makes no progress for this long means the client reads nothing: it is dropped (and a browser
# reconnects with its last seq, catching up from the database). Read at call time, so tests can lower it.
STALL_SECONDS = 20.0
# Freed memory is handed back this long after the last socket closed (one trim for a burst of closes).
TRIM_DELAY_SECONDS = 1.0


def server_options() -> dict[str, Any]:
    """flask-sock's SOCK_SERVER_OPTIONS: passed to every simple_websocket.Server."""
    return {"max_message_size": MAX_MESSAGE_BYTES}


class ClientGone(ConnectionError):
    """The client's side of the socket is gone (reset, broken pipe, closed): not a server fault."""


class SendStalled(ClientGone):
    """The client read nothing for STALL_SECONDS while the server had data for it."""


class GuardedSocket:
    """Stands in for the connection socket inside simple_websocket.Server, which calls only send, recv,
    fileno and close on it. Every send (the handler's messages and the reader thread's control replies)
    goes through one lock, whole, with a stall deadline: the socket stays in blocking mode for the reader
    thread's recv, and sends use MSG_DONTWAIT plus poll, so a full buffer never blocks past the deadline."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._lock = threading.Lock()
        with suppress(OSError):  # a socket without the option (a socketpair in a test) keeps its own
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)

    def fileno(self) -> int:
        return self._sock.fileno()

    def recv(self, size: int) -> bytes:
        return self._sock.recv(size)

    def send(self, data: bytes) -> int:
        view = memoryview(data)
        stall = STALL_SECONDS
        with self._lock:
            stuck_since: float | None = None
            while view:
                try:
                    sent = self._sock.send(view, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    sent = 0
                except OSError as exc:
                    raise ClientGone(f"send failed: {exc}") from exc
                if sent:
                    view = view[sent:]
                    stuck_since = None  # progress: the client reads, however slowly
                    continue
                now = time.monotonic()
                if stuck_since is None:
                    stuck_since = now
                elif now - stuck_since >= stall:
                    # Part of a frame may be on the wire: this connection cannot carry another message.
                    self.shutdown()
                    raise SendStalled(f"the client read nothing for {stall:g} s")
                poller = select.poll()
                poller.register(self._sock, select.POLLOUT)
                poller.poll(max(1, int((stuck_since + stall - now) * 1000)))
        return len(data)

    def shutdown(self) -> None:
        """Ends the connection both ways now: the reader thread's recv sees the end, and nothing more is
        written (Werkzeug would otherwise write an HTTP response into the upgraded connection)."""
        with suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.shutdown()
        self._sock.close()


class Guard:
    """One `/ws` connection's guard: installed before anything is sent, finished when the handler ends."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.sock = GuardedSocket(ws.sock)
        ws.sock = self.sock  # simple-websocket reads `self.sock` on every call, its reader thread too

    def finish(self) -> None:
        """The close frame (if the socket is still open), then the end of the connection; then, soon, the
        memory its threads used goes back to the system."""
        with suppress(Exception):  # the client may be gone already; there is nothing left to tell it
            if self.ws.connected:
                self.ws.close()
        self.sock.shutdown()
        _returner.soon()


class MemoryReturn:
    """glibc malloc gives each thread that allocates an arena of its own (up to 8 per core). Every socket
    has two threads, and the event texts they build are mostly over pymalloc's 512-byte cut-off, so they
    come from those arenas. Freed, that memory stays mapped in the arenas (measured: 200 closed sockets left
    the web process 50 MiB larger); malloc_trim(0) hands the free pages of every arena back."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending = False
        self._trim: Any = None
        self._looked_up = False

    def soon(self) -> None:
        with self._lock:
            if self._pending:
                return  # the trim already scheduled also covers this close
            self._pending = True
        timer = threading.Timer(TRIM_DELAY_SECONDS, self.now)
        timer.name = "ws-malloc-trim"
        timer.daemon = True
        timer.start()

    def now(self) -> None:
        with self._lock:
            self._pending = False
            if not self._looked_up:  # once, on first use: nothing is loaded at import time
                self._looked_up = True
                self._trim = _malloc_trim()
            trim = self._trim
        if trim is not None:
            trim(0)


def _malloc_trim() -> Any:
    """glibc's malloc_trim, or None elsewhere (musl, macOS, Windows): there is nothing to trim then."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        trim = libc.malloc_trim
    except (OSError, AttributeError, TypeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


_returner = MemoryReturn()


def guard(ws: Any) -> Guard:
    return Guard(ws)
