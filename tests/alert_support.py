"""Tests: a local HTTP server that receives alert webhooks (http.server in a thread), and resetting the alert
tables between tests on the shared PostgreSQL database (the built-in rules stay)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from sqlalchemy import text

from db.alerts.rules import BUILTIN_RULES
from db.core.engine import Database
from tests.liveserver import serve


class Receiver:
    """Collects every POST (path, headers, JSON body); `status` is what it answers, and `fail_next` makes
    the next requests to a path fail with 500."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.refused: list[dict[str, Any]] = []
        self.status = 200
        self.fail_next: dict[str, int] = {}  # path -> how many more requests to answer 500
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with owner._lock:
                    status = owner.status
                    if owner.fail_next.get(self.path, 0) > 0:
                        owner.fail_next[self.path] -= 1
                        status = 500
                    post = {
                        "path": self.path,
                        "headers": dict(self.headers),
                        "json": json.loads(body or b"null"),
                    }
                    # `posts` holds the deliveries that succeeded; `refused` the ones answered with an error.
                    (owner.posts if status < 300 else owner.refused).append(post)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:  # quiet test output
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def bodies(self, path: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [p["json"] for p in self.posts if path is None or p["path"] == path]


@contextmanager
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    serve(r.server, "webhook-receiver")
    try:
        yield r
    finally:
        r.server.shutdown()
        r.server.server_close()


def reset_alerts(db: Database) -> None:
    """Empty the alert tables and put the built-in rules back as the migration made them (conftest's
    emptying keeps the rules, which a fresh SQLite file gets from the migration)."""
    with db.write_engine.begin() as conn:
        for table in ("alert_acks", "alert_notifications", "alerts", "alert_silences"):
            conn.execute(text(f"DELETE FROM {table}"))
        conn.execute(text("DELETE FROM alert_rules WHERE builtin = :f"), {"f": False})
        for name, _kind, threshold, window, for_, severity, repeat in BUILTIN_RULES:
            conn.execute(
                text(
                    "UPDATE alert_rules SET enabled = :t, channels = '[]', actions = '[]', scope_kind = 'all', "
                    "scope_value = NULL, threshold = :th, window_seconds = :w, for_seconds = :f, severity = :s, "
                    "repeat_seconds = :r WHERE name = :n"
                ),
                {"t": True, "th": threshold, "w": window, "f": for_, "s": severity, "r": repeat, "n": name},
            )
        conn.execute(text("DELETE FROM job_leases WHERE name LIKE 'alerts:%'"))
