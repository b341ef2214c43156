"""Data layer: the change feed's wake-up side — an in-process hub, and watchers that hear other processes'
commits (SQLite PRAGMA data_version, PostgreSQL LISTEN) and publish them to the hub."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable

from db.core.engine import Database, psycopg_dsn
from db.core.unavailable import classify
from db.write.writes import NOTIFY_CHANNEL

log = logging.getLogger(__name__)

TOPIC_EVENTS = "events"
TOPIC_QUEUE = "queue"
# Another process committed: we do not know what, so listeners treat it as both.
ANY = frozenset({TOPIC_EVENTS, TOPIC_QUEUE})

Subscriber = Callable[[frozenset[str]], None]


class Hub:
    """In-process fan-out of "something was committed". Subscribers must be quick (set an Event)."""

    def __init__(self) -> None:
        self._subs: list[Subscriber] = []
        self._lock = threading.Lock()

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        with self._lock:
            self._subs.append(callback)

        def unsubscribe() -> None:
            with self._lock:
                if callback in self._subs:
                    self._subs.remove(callback)

        return unsubscribe

    def publish(self, topics: frozenset[str]) -> None:
        with self._lock:
            subs = list(self._subs)
        for callback in subs:
            try:
                callback(topics)
            except Exception:  # a broken subscriber must not break the writer that published
                log.exception("change-feed subscriber failed")


class SqliteWatcher(threading.Thread):
    """Polls PRAGMA data_version on a dedicated connection: it changes only when ANOTHER connection commits,
    so this hears every other process (and this process's pooled writers) at the cost of one cheap pragma."""

    def __init__(self, path: str, hub: Hub, stop: threading.Event, interval: float = 0.02) -> None:
        super().__init__(name="sqlite-watcher", daemon=True)
        self.path, self.hub, self.stop, self.interval = path, hub, stop, interval

    def run(self) -> None:
        conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
        try:
            last = conn.execute("PRAGMA data_version").fetchone()[0]
            while not self.stop.wait(self.interval):
                try:
                    version = conn.execute("PRAGMA data_version").fetchone()[0]
                except sqlite3.Error:
                    log.warning("data_version poll failed; retrying", exc_info=True)
                    continue
                if version != last:
                    last = version
                    self.hub.publish(ANY)
        finally:
            conn.close()


class PgListener(threading.Thread):
    """LISTENs on the recorder's channel; reconnects with backoff if the connection drops."""

    def __init__(self, dsn: str, hub: Hub, stop: threading.Event) -> None:
        super().__init__(name="pg-listener", daemon=True)
        self.dsn, self.hub, self.stop = dsn, hub, stop
        self.connected = threading.Event()

    def run(self) -> None:
        import psycopg

        backoff = 0.5
        lost_at: float | None = None
        while not self.stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self.connected.set()
                    backoff = 0.5
                    if lost_at is not None:
                        log.warning("LISTEN connection back after %.0f s", time.monotonic() - lost_at)
                        lost_at = None
                    # Anything committed while we were away: wake listeners so they re-read by seq.
                    self.hub.publish(ANY)
                    while not self.stop.is_set():
                        # stop_after=1: the timeout bounds the whole generator, so waiting for more than
                        # one notification would hold each wake-up until the window closes.
                        for _ in conn.notifies(timeout=0.5, stop_after=1):
                            self.hub.publish(ANY)
            except Exception as exc:
                self.connected.clear()
                outage = classify(exc)
                if outage is None:  # not the database being away: worth its traceback every time
                    log.warning("LISTEN connection failed; reconnecting in %.1fs", backoff, exc_info=True)
                elif lost_at is None:  # one line per outage, not one per reconnect attempt
                    lost_at = time.monotonic()
                    log.warning("LISTEN connection lost (%s); reconnecting with backoff", outage.reason)
                self.stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)


def start_watcher(db: Database, hub: Hub, stop: threading.Event) -> threading.Thread:
    """Start the cross-process watcher that fits the database."""
    watcher: threading.Thread
    if db.is_sqlite:
        watcher = SqliteWatcher(str(db.url.database), hub, stop)
    else:
        watcher = PgListener(psycopg_dsn(db.url), hub, stop)
    watcher.start()
    return watcher
