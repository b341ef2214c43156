"""Dashboard layer: the websocket bridge's server side — one change-feed listener per web process that reads
new events in seq order and fans them out to this process's sockets, each through a bounded queue."""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass, field

from dashboard.wslimits import MAILBOX_BYTES
from db.core.engine import Database
from db.live.changefeed import Hub
from db.live.feed import FeedEvent, OrderedReader, latest_seq

log = logging.getLogger(__name__)

QUEUE_LIMIT = 2_000
READ_PAGE = 1_000


@dataclass(eq=False)  # identity semantics: subscribers live in a set
class Subscriber:
    """One socket's mailbox, bounded by count and by bytes of text. The feed never blocks on it: when it is
    full the subscriber is marked overflowed and its socket catches up from the database instead (slow
    clients stall nobody). Until that socket takes, nothing more is queued: the catch-up reads up to the
    feed's cursor, so whatever would be queued meanwhile is skipped anyway and only costs memory."""

    task_id: int | None = None
    limit: int = QUEUE_LIMIT
    byte_limit: int = MAILBOX_BYTES
    items: deque[tuple[int, str]] = field(default_factory=deque)
    queued_bytes: int = 0  # characters of queued text (JSON, nearly all ASCII: about its bytes)
    overflowed: bool = False
    ready: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wants(self, ev: FeedEvent) -> bool:
        """Whether this mailbox takes `ev`, asked before the event is serialised (which costs the most)."""
        return self.task_id is None or ev.task_id == self.task_id

    def offer(self, seq: int, text: str) -> None:
        with self.lock:
            if self.overflowed:
                return  # already flagged and woken
            if len(self.items) >= self.limit or self.queued_bytes + len(text) > self.byte_limit:
                self.items.clear()
                self.queued_bytes = 0
                self.overflowed = True
            else:
                self.items.append((seq, text))
                self.queued_bytes += len(text)
            # Setting a set Event still takes its lock: with hundreds of sockets that was most of a fan-out.
            if not self.ready.is_set():
                self.ready.set()

    def take(self, timeout: float) -> tuple[list[tuple[int, str]], bool]:
        """Waits up to `timeout`; returns the queued items and whether the queue overflowed meanwhile."""
        self.ready.wait(timeout)
        with self.lock:
            items = list(self.items)
            self.items.clear()
            self.queued_bytes = 0
            overflowed, self.overflowed = self.overflowed, False
            self.ready.clear()
        return items, overflowed


class ChangeFeed:
    """Per web process: woken by the hub (in-process commits, or the SQLite/PostgreSQL watcher for other
    processes), reads events after its cursor and hands each one, serialised once, to every subscriber."""

    def __init__(self, db: Database, hub: Hub, *, gap_timeout: float = 2.0) -> None:
        self.db = db
        self.hub = hub
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._subs: set[Subscriber] = set()
        self._reader = OrderedReader(0, gap_timeout=gap_timeout)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.delivered = 0

    @property
    def cursor(self) -> int:
        return self._reader.cursor

    @property
    def started(self) -> bool:
        return self._thread is not None

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._subs)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def start(self, stop: threading.Event) -> None:
        """Runs until `stop` is set (or close() is called); open sockets end when they see it."""
        self._stop = stop
        with self.db.reading() as session:
            self._reader.cursor = latest_seq(session)
        self.hub.subscribe(lambda _topics: self._wake.set())
        self._thread = threading.Thread(target=self._run, name="change-feed", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def attach(self, sub: Subscriber) -> int:
        """Registers a subscriber; returns the cursor at that moment: every later event reaches its queue,
        every earlier one is the caller's to replay from the database."""
        with self._lock:
            self._subs.add(sub)
            return self._reader.cursor

    def detach(self, sub: Subscriber) -> None:
        with self._lock:
            self._subs.discard(sub)

    def _run(self) -> None:
        while not self._stop.is_set():
            # A hole in the sequence (a transaction still in flight) is re-checked soon without a wake-up.
            self._wake.wait(0.05 if self._reader.waiting_on_gap else 1.0)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self._pump()
            except Exception:  # the database may be briefly away; the next wake-up retries from the cursor
                log.warning("change feed read failed", exc_info=True)
                self._stop.wait(0.5)

    def _pump(self) -> None:
        while True:
            with self.db.reading() as session, self._lock:
                # Read and offer under the lock so attach() sees a cursor that matches what was offered.
                subs = list(self._subs)
                if not subs:
                    # Nobody to hand events to: move the cursor on by seq alone, decoding nothing (under
                    # heavy ingestion, decoding every payload cost this process a quarter of its CPU).
                    count = self._reader.skip(session, limit=READ_PAGE)
                else:
                    events = self._reader.read(session, limit=READ_PAGE)
                    count = len(events)
                    # An overflowed mailbox takes nothing until its socket catches up from the database
                    # (which reads up to the cursor, already past this page): leave it out of the page.
                    subs = [sub for sub in subs if not sub.overflowed]
                    for ev in events:
                        takers = [sub for sub in subs if sub.wants(ev)]
                        if takers:  # serialised once, and only when some mailbox takes it
                            text = ev.text()
                            for sub in takers:
                                sub.offer(ev.seq, text)
                self.delivered += count
            if count < READ_PAGE:
                return
