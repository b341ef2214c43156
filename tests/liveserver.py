"""Tests: runs the real dashboard (Flask/Dash + flask-sock on Werkzeug's threaded server), its change feed and
optionally a worker, in this process against a given database — what `python app.py` runs, on a free port."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from socketserver import BaseServer
from typing import Any

from werkzeug.serving import BaseWSGIServer, make_server

from config import Settings
from dashboard.bridge import ChangeFeed
from dashboard.server import create_app
from dashboard.services import Services
from db.core.engine import Database, open_database
from db.live.changefeed import Hub, start_watcher
from db.write.recorder import Recorder
from worker.worker import Worker

# How often a serving loop looks at its shutdown flag: `shutdown()` waits up to this long, and the standard
# library's half second, paid by every test that closes a server, added up to minutes over the suite.
POLL_SECONDS = 0.02


def serve(server: BaseServer, name: str) -> threading.Thread:
    """Serves `server` in a daemon thread whose loop notices `shutdown()` within POLL_SECONDS."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": POLL_SECONDS}, name=name, daemon=True
    )
    thread.start()
    return thread


@dataclass
class LiveApp:
    url: str
    ws_url: str
    settings: Settings
    db: Database
    hub: Hub
    recorder: Recorder
    feed: ChangeFeed
    worker: Worker | None
    server: BaseWSGIServer
    stop: threading.Event

    def close(self) -> None:
        self.feed.close()  # open sockets see it and end
        self.server.shutdown()
        if self.worker is not None:
            self.worker.stop(timeout=5)
        self.stop.set()
        self.db.dispose()


def start_live_app(db_url: str, *, worker: bool = True, **settings: Any) -> LiveApp:
    base = Settings(
        database_url=db_url,
        heartbeat_seconds=0.5,
        lease_seconds=5,
        sweep_seconds=1,
        retry_backoff_seconds=0.1,
    )
    config = base.with_(**settings)
    db = open_database(db_url)
    hub = Hub()
    recorder = Recorder(db, hub)
    stop = threading.Event()
    start_watcher(db, hub, stop)
    feed = ChangeFeed(db, hub)
    feed.start(stop)
    app = create_app(Services(config, db, recorder, feed))
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    serve(server, "live-server")
    w = None
    if worker:
        w = Worker(config, db, recorder, hub)
        w.start()
    port = server.server_port
    return LiveApp(
        f"http://127.0.0.1:{port}",
        f"ws://127.0.0.1:{port}/ws",
        config,
        db,
        hub,
        recorder,
        feed,
        w,
        server,
        stop,
    )
