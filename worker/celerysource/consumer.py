"""Worker layer: the Celery source's consumer — reads a Celery broker's events with Celery's own event receiver
(as Flower does) and records them in batches through the recorder. On RabbitMQ its queue is durable and each
batch is acknowledged only after it committed (at-least-once; the ledger makes a redelivered event change
nothing), so a consumer killed or stopped loses nothing. On Redis Celery publishes events with PUBLISH (a fanout
exchange): what is sent while no consumer listens is gone for every monitor, Flower included. One consumer per
broker across processes: it consumes only while it holds the database lease `celery:<broker>`. A lost broker
connection is retried with jittered exponential backoff."""

from __future__ import annotations

import contextlib
import logging
import os
import random
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from config import Settings
from db.control import leases
from db.core.timeutil import utcnow
from db.core.unavailable import classify
from db.read import broker_queues
from db.write.celery_ingest import CeleryTaskEvent, apply_celery
from db.write.celery_workers import (
    CeleryWorkerEvent,
    apply_worker_events,
    mark_silent,
    pool_size,
    set_pool_sizes,
)
from db.write.recorder import Recorder
from db.write.redact import Redactor
from worker.celerysource.broker import queue_depths
from worker.celerysource.translate import Translator

log = logging.getLogger(__name__)

# A batch is written when it holds this many events or its first event waited this long: at 2,000 Celery
# tasks/s (≈8,000 events/s) a transaction carries about 800 events; a lone event is on the board in 0.1 s.
BATCH_EVENTS = 2_000
FLUSH_SECONDS = 0.1
# Workers started without -E send no task events; like Flower, the consumer asks every worker to send them.
ENABLE_EVENTS_EVERY = 30.0
# The event queue is durable so events sent while no TaskLens consumes wait for it, but it goes away after a
# day without a consumer (RabbitMQ's x-expires), so an abandoned installation does not fill the broker.
QUEUE_EXPIRES = 86_400.0
# No message TTL on it: Celery's receivers default to 5 s (event_queue_ttl), so events that waited longer — a
# consumer restarting, or a busy machine — were silently dropped by RabbitMQ. Whether an old event is still
# worth recording is the recorder's business, not the broker's.
QUEUE_TTL = None
FIRST_BACKOFF, MAX_BACKOFF = 0.5, 30.0
# How often the broker's queue lengths are measured (the Agents page and the broker_queue_depth alert read them).
MEASURE_QUEUES_EVERY = 10.0
# How long the workers are given to tell their pool size (one broadcast; it ends when all have answered).
POOL_ASK_SECONDS = 1.0
# A worker that did not answer in time (a busy one) is asked again after 3, 6, 12, 24 s, then only when heard
# again at a later round: a page says its pool size soon, and a worker that is gone costs no broadcasts.
POOL_RETRY_SECONDS, POOL_MAX_MISSES = 3.0, 5


def declare_event_queue(conn: Any, queue: Any) -> None:
    """Declares the event queue on RabbitMQ. One declared by an earlier TaskLens carries Celery's 5 s message
    TTL, and RabbitMQ refuses to redeclare a queue with other arguments (PRECONDITION_FAILED): that queue is
    deleted and declared again (what it held was at most 5 s of events)."""
    from amqp.exceptions import PreconditionFailed

    channel = conn.channel()
    try:
        queue.bind(channel).declare()
    except PreconditionFailed:
        log.warning("Celery source: re-creating the event queue %s without a message TTL", queue.name)
        channel = conn.channel()  # the broker closed the channel that asked
        queue.bind(channel).delete()
        queue.bind(channel).declare()
    finally:
        with contextlib.suppress(Exception):
            channel.close()


def masked(broker: str) -> str:
    """The broker URL without its password, for the lease name and messages."""
    from kombu.utils.url import maybe_sanitize_url

    return str(maybe_sanitize_url(broker))


@dataclass
class Stats:
    events: int = 0  # Celery events recorded (duplicates not counted)
    duplicates: int = 0
    batches: int = 0
    connected: bool = False
    errors: list[str] = field(default_factory=list)


class CeleryConsumer:
    """Run it with `start()` (a daemon thread) or `run()`; it stops when `stop` is set."""

    def __init__(
        self,
        settings: Settings,
        recorder: Recorder,
        stop: threading.Event,
        *,
        broker: str | None = None,
    ) -> None:
        self.broker = broker or settings.celery_broker or ""
        if not self.broker:
            raise ValueError("no Celery broker: give --broker or TASKLENS_CELERY_BROKER")
        self.settings = settings
        self.recorder = recorder
        self.stop = stop
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease_name = f"celery:{masked(self.broker)}"[:200]
        self.translate = Translator(
            settings.skew_window,
            settings.celery_args_max_chars,
            settings.redact_keys(),
            Redactor(settings.redact_patterns()),
        )
        self.lease_seconds = settings.celery_lease_seconds
        self.stats = Stats()
        self._buffer: list[tuple[Any, Any]] = []
        self._first_at = 0.0
        self._lease_renewed = 0.0
        # Worker hostnames heard from: a new one is asked to send task events at once (it may have started
        # without -E after the last broadcast), not at the next 30 s round.
        self._known_workers: set[str] = set()
        self._ask_now = False
        # Workers heard from since their pool size was last asked (a new one at once, the rest every round).
        self._to_size: set[str] = set()
        self._misses: dict[str, int] = {}  # asked, not answered yet: how many times

    # ---- the loop --------------------------------------------------------------------------------------
    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="celery-source", daemon=True)
        thread.start()
        return thread

    def run(self) -> None:
        failures = 0
        waiting_logged = False
        try:
            while not self.stop.is_set():
                if not self._take_lease():
                    if not waiting_logged:
                        log.info(
                            "Celery source: %s is consumed by another process; standing by", self.lease_name
                        )
                        waiting_logged = True
                    self.stop.wait(self.lease_seconds / 3)
                    continue
                waiting_logged = False
                try:
                    self._consume()
                    failures = 0
                except Exception as exc:  # any broker or database failure: back off, reconnect
                    failures += 1
                    self.stats.connected = False
                    delay = min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** (failures - 1)) * random.uniform(0.5, 1.0)
                    self.stats.errors = [*self.stats.errors[-9:], f"{type(exc).__name__}: {exc}"]
                    log.warning(
                        "Celery source: %s: %s: %s; reconnecting in %.1f s",
                        masked(self.broker),
                        type(exc).__name__,
                        exc,
                        delay,
                    )
                    self.stop.wait(delay)
        finally:
            self._release_lease()

    def _consume(self) -> None:
        from celery import Celery
        from kombu.connection import Connection
        from kombu.messaging import Consumer

        app = Celery("tasklens-celery-source", broker=self.broker, set_as_current=False)
        app.conf.event_queue_ttl = QUEUE_TTL  # the receiver reads None as "Celery's default": set it here
        with Connection(self.broker, connect_timeout=5) as conn:  # type: ignore[no-untyped-call]
            conn.ensure_connection(max_retries=1)
            receiver = app.events.Receiver(
                conn,
                handlers={},
                node_id=self.settings.celery_queue,
                queue_durable=True,
                queue_exclusive=False,
                queue_expires=QUEUE_EXPIRES,
            )
            amqp = conn.transport.driver_type == "amqp"
            if amqp:
                declare_event_queue(conn, receiver.queue)
            channel = conn.channel()
            # Acknowledgements only where the broker keeps messages for them (AMQP); Redis pub/sub has none,
            # and kombu's emulated ones would re-queue a fanout message into a list nobody reads.
            consumer = Consumer(  # type: ignore[no-untyped-call]
                channel,
                queues=[receiver.queue],
                callbacks=[self._on_message],
                no_ack=not amqp,
                accept=receiver.accept,
            )
            # Bounds what the broker hands over unacknowledged (RabbitMQ): two batches' worth.
            consumer.qos(prefetch_count=2 * BATCH_EVENTS)  # type: ignore[no-untyped-call]
            with consumer:
                asked = measured = 0.0
                while not self.stop.is_set():
                    with contextlib.suppress(TimeoutError):  # nothing came: time to look at the batch
                        conn.drain_events(timeout=FLUSH_SECONDS / 2)
                    if not self.stats.connected:
                        # Only now is it listening: on Redis kombu SUBSCRIBEs in the first drain, and what is
                        # published before that reaches nobody (the wake-up's heartbeats included).
                        self.stats.connected = True
                        log.info("Celery source: consuming events of %s", masked(self.broker))
                    since = time.monotonic() - asked
                    if self._ask_now or since > ENABLE_EVENTS_EVERY or since > self._retry_in():
                        self._ask_now = False
                        app.control.enable_events(connection=conn)
                        receiver.wakeup_workers(channel=channel)  # heartbeats now: worker rows at once
                        self.size_pools(app)
                        asked = time.monotonic()
                    if time.monotonic() - measured > MEASURE_QUEUES_EVERY:
                        self.measure_queues(conn)
                        measured = time.monotonic()
                    if self._buffer and (
                        len(self._buffer) >= BATCH_EVENTS
                        or time.monotonic() - self._first_at >= FLUSH_SECONDS
                    ):
                        self._flush(amqp)
                    if not self._renew_lease():
                        log.warning("Celery source: lost the lease %s; stopping to consume", self.lease_name)
                        break
                if self._buffer:
                    self._flush(amqp)
            self.stats.connected = False

    def _on_message(self, body: Any, message: Any) -> None:
        if not self._buffer:
            self._first_at = time.monotonic()
        self._buffer.append((body, message))

    # ---- writing ---------------------------------------------------------------------------------------
    def _flush(self, amqp: bool) -> None:
        """Records the buffered events in one transaction, then acknowledges them. A database outage waits and
        retries (the broker keeps the rest); an event the write path refuses is logged and dropped alone."""
        batch, self._buffer = self._buffer, []
        bodies = [b for body, _ in batch for b in (body if isinstance(body, list) else [body])]
        while True:
            try:
                self.record(bodies)
                break
            except Exception as exc:
                if classify(exc) is not None and not self.stop.is_set():
                    self.stop.wait(self.recorder.db.health.wait_seconds())
                    continue
                if classify(exc) is not None:
                    raise  # stopping during an outage: the unacknowledged events come back later
                log.exception(
                    "Celery source: a batch of %d events failed; recording them one by one", len(bodies)
                )
                for body in bodies:
                    try:
                        self.record([body])
                    except Exception:
                        log.exception("Celery source: dropped an event it cannot record: %.200r", body)
                break
        if amqp:
            batch[-1][1].ack(multiple=True)  # one frame acknowledges the whole batch
        self.stats.batches += 1

    def record(self, bodies: list[Any]) -> None:
        """Translates and records Celery event bodies in one transaction (the bench and tests call it too)."""
        now = utcnow()
        tasks: list[CeleryTaskEvent] = []
        workers: list[CeleryWorkerEvent] = []
        for body in bodies:
            if not isinstance(body, dict):
                continue
            event = self.translate(body, now)
            if isinstance(event, CeleryTaskEvent):
                tasks.append(event)
            elif isinstance(event, CeleryWorkerEvent):
                workers.append(event)
                if event.kind != "offline":
                    self._to_size.add(event.hostname)
                else:
                    self._misses.pop(event.hostname, None)
                if event.hostname not in self._known_workers:
                    self._known_workers.add(event.hostname)
                    self._ask_now = True
        if not tasks and not workers:
            return
        with self.recorder.transaction() as session:
            outcome = apply_celery(session, tasks, actor="celery", now=now) if tasks else None
            if workers:
                apply_worker_events(session, workers, now=now)
        if outcome is not None:
            self.stats.events += outcome.recorded
            self.stats.duplicates += outcome.duplicates

    def size_pools(self, app: Any) -> None:
        """Asks the workers heard since the last round for their pool size (`inspect stats`: Celery's events
        carry none) and writes it as their rows' concurrency, so a worker page says "1 of 4 busy", not "of 1".
        Bounded by POOL_ASK_SECONDS; a worker that does not answer is asked again soon (POOL_RETRY_SECONDS)."""
        names, self._to_size = sorted(self._to_size | set(self._misses)), set()
        if not names:
            return
        try:
            inspect = app.control.inspect(destination=names, timeout=POOL_ASK_SECONDS, limit=len(names))
            replies = inspect.stats() or {}
            sizes = {host: pool_size(stats) for host, stats in replies.items() if host in names}
            for host in names:
                misses = 0 if host in sizes else self._misses.get(host, 0) + 1
                if 0 < misses < POOL_MAX_MISSES:
                    self._misses[host] = misses
                else:
                    self._misses.pop(host, None)
            with self.recorder.transaction() as session:
                set_pool_sizes(session, sizes)
        except Exception as exc:
            log.warning("Celery source: could not ask workers for their pool size: %s", exc)

    def _retry_in(self) -> float:
        """Seconds after the last round that the workers who did not answer are asked again (inf: none)."""
        if not self._misses:
            return float("inf")
        return POOL_RETRY_SECONDS * float(2 ** (max(self._misses.values()) - 1))

    def measure_queues(self, conn: Any) -> None:
        """Writes the broker's queue lengths (broker_queues) and marks the workers it heard that went silent
        offline; a failure is logged, consuming goes on."""
        try:
            with self.recorder.db.reading() as session:
                names = broker_queues.queue_names(session)
            depths = queue_depths(conn, names)
            with self.recorder.transaction() as session:
                broker_queues.record(session, masked(self.broker)[:200], depths, utcnow())
                mark_silent(session, sorted(self._known_workers), now=utcnow())
        except Exception as exc:
            log.warning("Celery source: could not measure the queues of %s: %s", masked(self.broker), exc)

    # ---- the lease -------------------------------------------------------------------------------------
    def _take_lease(self) -> bool:
        try:
            with self.recorder.transaction() as session:
                held = leases.acquire(session, self.lease_name, self.holder, utcnow(), self.lease_seconds)
        except Exception as exc:
            if classify(exc) is None:
                raise
            return False
        if held:
            self._lease_renewed = time.monotonic()
        return held

    def _renew_lease(self) -> bool:
        if time.monotonic() - self._lease_renewed < self.lease_seconds / 3:
            return True
        return self._take_lease()

    def _release_lease(self) -> None:
        try:
            with self.recorder.transaction() as session:
                leases.release(session, self.lease_name, self.holder)
        except Exception:  # the lease then simply expires
            log.debug("Celery source: could not release %s", self.lease_name, exc_info=True)
