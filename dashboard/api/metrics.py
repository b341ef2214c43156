"""API layer: the Prometheus metrics of one web process (a registry of its own, never the global one, so
several apps in one process never clash). Database-wide figures are read at scrape time and are the same on
every web process (aggregate them with max, not sum); process figures (requests, ingested events, commits,
task durations, sockets) are this process's own."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from dashboard.bridge import Subscriber
from dashboard.services import Services
from db.alerts.queries import firing_by_rule
from db.core.models import Task
from db.core.timeutil import utcnow
from db.domain.states import TERMINAL
from db.live.feed import FeedEvent
from db.read import api_metrics
from db.read.tasks.detail import write_latency

log = logging.getLogger(__name__)

DURATION_BUCKETS = (1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)
COMMIT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
_ENDED = frozenset(s.value for s in TERMINAL)


class Metrics:
    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.events_ingested = Counter(
            "tasklens_events_ingested", "Client events recorded through POST /api/v1/events", registry=r
        )
        self.requests = Counter(
            "tasklens_api_requests", "API requests answered", ["method", "endpoint", "status"], registry=r
        )
        self.request_seconds = Histogram(
            "tasklens_api_request_duration_seconds", "API request time", ["endpoint"], registry=r
        )
        self.task_duration = Histogram(
            "tasklens_task_duration_seconds",
            "Run time (started to ended) of tasks that ended while this process watched the event log",
            ["kind", "status"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.commit_seconds = Histogram(
            "tasklens_commit_duration_seconds",
            "Write transactions of this process (begin to commit)",
            buckets=COMMIT_BUCKETS,
            registry=r,
        )
        self._observer: threading.Thread | None = None
        r.register(_DatabaseCollector(svc, self.sockets))
        self._lock = threading.Lock()
        self._time_commits()

    def _time_commits(self) -> None:
        # Its own session events (db/core/writestats keeps its own ring for the Database page).
        factory = self.svc.db.write_session

        @event.listens_for(factory, "after_begin")
        def _begin(session: Session, _tx: object, _conn: object) -> None:
            session.info.setdefault("metrics_t0", time.perf_counter())

        @event.listens_for(factory, "after_commit")
        def _commit(session: Session) -> None:
            t0 = session.info.pop("metrics_t0", None)
            if t0 is not None:
                self.commit_seconds.observe(time.perf_counter() - t0)

        @event.listens_for(factory, "after_rollback")
        def _rollback(session: Session) -> None:
            session.info.pop("metrics_t0", None)

    def sockets(self) -> int:
        """Open /ws sockets: the feed's subscribers less this object's own mailbox."""
        return self.svc.feed.connections - (
            1 if self._observer is not None and self._observer.is_alive() else 0
        )

    def watch_durations(self) -> None:
        """Starts, once, the thread that times tasks as the change feed reports them ended (on the first
        scrape: a process nobody scrapes does no such work)."""
        with self._lock:
            if self._observer is None:
                sub = _EndedTasks(limit=20_000)
                self.svc.feed.attach(sub)
                self._observer = threading.Thread(
                    target=self._observe, args=(sub,), name="metrics-durations", daemon=True
                )
                self._observer.start()

    def _observe(self, sub: _EndedTasks) -> None:
        feed = self.svc.feed
        try:
            while not feed.stopped:
                items, overflowed = sub.take(timeout=1.0)
                if overflowed:
                    log.warning("task duration metrics fell behind; some ended tasks were not timed")
                ids = {json.loads(text)["task_id"] for _seq, text in items}
                if ids:
                    self._time_tasks(sorted(ids))
        except Exception:
            log.exception("task duration metrics stopped")
        finally:
            feed.detach(sub)

    def _time_tasks(self, ids: list[int]) -> None:
        t = Task.__table__.c
        with self.svc.db.reading() as session:
            rows = session.execute(
                select(t.kind, t.status, t.started_at, t.completed_at).where(t.id.in_(ids))
            ).all()
        for kind, status, started, completed in rows:
            if started is not None and completed is not None and status in {s.value for s in TERMINAL}:
                self.task_duration.labels(kind, status).observe(
                    max(0.0, (completed - started).total_seconds())
                )


class _EndedTasks(Subscriber):
    """A change-feed mailbox that takes only transitions into a final state (every other event is passed
    over before it is serialised, so a busy feed costs this almost nothing)."""

    def wants(self, ev: FeedEvent) -> bool:
        return ev.type == "task.transition" and ev.to_status in _ENDED


class _DatabaseCollector(Collector):
    """Read at each scrape: tasks by status, queue depth, workers by status, commit latency of every
    process (write_stats, last 15 minutes), and this process's open websockets."""

    def __init__(self, svc: Services, sockets: Callable[[], int]) -> None:
        self.svc = svc
        self.sockets = sockets

    def describe(self) -> list[Metric]:
        return []  # nothing at registration: collect() reads the database

    def collect(self) -> Iterator[Metric]:
        now = utcnow()
        with self.svc.db.reading() as session:
            by_status = api_metrics.tasks_by_status(session)
            depth = api_metrics.queue_depth(session, now)
            fleet = api_metrics.workers_by_status(session)
            p50, p95 = write_latency(session, now)
            alerts = firing_by_rule(session)
        yield _gauge("tasklens_tasks", "Tasks by current status", "status", by_status)
        yield _gauge("tasklens_queue_depth", "Queued tasks ready to be claimed", None, {"": depth})
        yield _gauge("tasklens_workers", "Worker processes by status", "status", fleet)
        latency: dict[str, Any] = {"0.5": (p50 or 0.0) / 1000.0, "0.95": (p95 or 0.0) / 1000.0}
        yield _gauge(
            "tasklens_db_commit_latency_seconds",
            "Commit latency of the write path over the last 15 minutes, all processes (write_stats)",
            "quantile",
            latency,
        )
        firing = GaugeMetricFamily(
            "tasklens_alerts_firing", "Firing alerts by rule and severity", labels=["rule", "severity"]
        )
        for rule, severity, count in sorted(alerts):
            firing.add_metric([rule, severity], float(count))
        yield firing
        yield _gauge(
            "tasklens_websocket_connections",
            "Open /ws sockets of this process",
            None,
            {"": self.sockets()},
        )


def _gauge(name: str, doc: str, label: str | None, values: dict[str, Any]) -> GaugeMetricFamily:
    if label is None:
        return GaugeMetricFamily(name, doc, value=float(values[""]))
    family = GaugeMetricFamily(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], float(value))
    return family
