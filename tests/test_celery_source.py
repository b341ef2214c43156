"""Tests: the Celery source with real parts — a real Celery worker on the local Redis (and RabbitMQ), its events
consumed by the source and recorded through the one write path into a real SQLite file: states, attempts,
runtimes, tracebacks, worker rows; a consumer killed mid-stream and restarted duplicates nothing; a replayed
event changes nothing; one consumer per broker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from config import Settings
from dashboard.components import worker as worker_view
from db.core.engine import Database, open_database
from db.core.models import IngestedEvent, JobLease, Task, TaskEvent
from db.core.models import Worker as WorkerRow
from db.core.timeutil import utcnow
from db.live.changefeed import Hub
from db.read import worker_detail
from db.write.celery_workers import is_celery_worker
from db.write.recorder import Recorder
from tests import parallel
from tests.celery_support import SAFETY, celery_events, celery_worker, rabbit_broker, redis_broker
from tests.conftest import sqlite_database
from tests.helpers import APP, REPO_ROOT, clean_env, stop_process, wait_until
from worker.celerysource.consumer import CeleryConsumer


class Source:
    """A TaskLens database with the Celery source consuming `broker` in this process."""

    def __init__(self, url: str, broker: str, queue: str = "tasklens") -> None:
        self.db: Database = open_database(url)
        self.recorder = Recorder(self.db, Hub())
        self.stop = threading.Event()
        settings = Settings(database_url=url, celery_broker=broker, celery_queue=queue)
        self.consumer = CeleryConsumer(settings, self.recorder, self.stop)
        self.thread = self.consumer.start()
        wait_until(lambda: self.consumer.stats.connected, timeout=SAFETY, what="the Celery source to connect")

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=20)
        self.db.dispose()

    def task(self, celery_id: str) -> Task | None:
        with self.db.reading() as s:
            return s.scalars(select(Task).where(Task.external_id == celery_id)).first()

    def ended(self, celery_id: str) -> Task | None:
        task = self.task(celery_id)
        return task if task is not None and task.completed_at is not None else None

    def wait_ended(self, celery_id: str, timeout: float = SAFETY) -> Task:
        return wait_until(
            lambda: self.ended(celery_id), timeout=timeout, what=f"Celery task {celery_id} to end"
        )

    def activity(self, task_id: int) -> list[str]:
        from db.core.models import Activity

        with self.db.reading() as s:
            return list(s.scalars(select(Activity.message).where(Activity.task_id == task_id)))

    def transitions(self, task_id: int) -> list[tuple[str | None, str | None]]:
        with self.db.reading() as s:
            rows = s.execute(
                select(TaskEvent.from_status, TaskEvent.to_status)
                .where(TaskEvent.task_id == task_id, TaskEvent.type == "task.transition")
                .order_by(TaskEvent.seq)
            )
            return [(a, b) for a, b in rows]


# The tests on the module's one Celery worker: on one xdist worker (--dist loadgroup), which starts it once.
REDIS_WORKER = pytest.mark.xdist_group("celery-redis-worker")


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with redis_broker() as url:
        yield url


@pytest.fixture(scope="module")
def celery_app(redis_url: str) -> Iterator[Any]:
    with celery_worker(redis_url, f"tl18-{uuid.uuid4().hex[:6]}") as app:
        yield app


@pytest.fixture(scope="module")
def source(redis_url: str, celery_app: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Source]:
    src = Source(sqlite_database(tmp_path_factory.mktemp("celery")), redis_url)
    yield src
    src.close()


@pytest.mark.slow
@REDIS_WORKER
def test_outcomes_states_runtimes_and_tracebacks(source: Source, celery_app: Any) -> None:
    with celery_events(celery_app) as heard:  # what Celery itself says, to compare the records with
        ok = celery_app.send_task("tests.add", args=(2, 3), kwargs={"password": "hunter2"})
        bad = celery_app.send_task("tests.boom", args=("kaput",))
        flaky = celery_app.send_task("tests.flaky", args=(2,))
        over = celery_app.send_task("tests.overrun", args=(30,))
        slow = celery_app.send_task("tests.sleepy", args=(0.5,))

        def celery_said() -> dict[str, dict[str, Any]] | None:
            mine = {e["type"]: e for e in list(heard) if e.get("uuid") == slow.id}
            return mine if {"task-started", "task-succeeded"} <= mine.keys() else None

        said = wait_until(
            celery_said, timeout=SAFETY, what="Celery's own start and end events of the sleepy task"
        )

    done = source.wait_ended(ok.id)
    assert (done.kind, done.status, done.title, done.result) == ("celery", "completed", "tests.add", "5")
    assert {"celery", "task:tests.add", "queue:celery", "routing_key:celery"} <= set(done.tags)
    assert done.payload["celery"]["args"] == "(2, 3)"
    assert "hunter2" not in done.payload["celery"]["kwargs"] and "***" in done.payload["celery"]["kwargs"]
    assert done.worker_id is not None and done.worker_id.startswith("tl18-")
    assert done.started_at is not None and done.completed_at is not None
    assert done.created_at <= done.started_at <= done.completed_at

    failed = source.wait_ended(bad.id)
    assert (failed.status, failed.failure_reason) == ("failed", "error")
    assert failed.error_message == "ValueError('kaput')"
    traceback = "\n".join(source.activity(failed.id))
    assert "Traceback (most recent call last)" in traceback and "ValueError: kaput" in traceback

    retried = source.wait_ended(flaky.id)
    assert (retried.status, retried.attempt, retried.result) == ("completed", 3, "'ok after 2 retries'")
    steps = source.transitions(retried.id)
    assert steps.count(("running", "queued")) == 2 and steps[-1] == ("running", "completed")
    assert sum("try 1 failed" in line for line in source.activity(retried.id)) == 1

    # Durations are Celery's own times, not when TaskLens heard of them. Celery stamps task-started and
    # task-succeeded with the worker's wall clock as its main process *sends* each: the start only once the pool
    # process has taken the task and begun it, the end once the result is back. Under load the first delay can
    # exceed the second, so their difference may be shorter than the task ran (0.496 s for this 0.5 s sleep at
    # load 14) — or far longer: no bound on it holds. What is guaranteed: TaskLens keeps exactly those two
    # timestamps, in order, and Celery's `runtime` (measured around the task's body in the pool process, on a
    # monotonic clock) is at least the 0.5 s slept.
    slept = source.wait_ended(slow.id)

    def at(event: dict[str, Any]) -> datetime:
        return datetime.fromtimestamp(event["timestamp"], UTC).replace(tzinfo=None)

    began, ended = at(said["task-started"]), at(said["task-succeeded"])
    assert (slept.started_at, slept.completed_at) == (began, ended)
    assert began <= ended and said["task-succeeded"]["runtime"] >= 0.5

    timed_out = source.wait_ended(over.id)
    assert (timed_out.status, timed_out.failure_reason) == ("timed_out", "timeout")
    assert "TimeLimitExceeded" in (timed_out.error_message or "")


@pytest.mark.slow
@REDIS_WORKER
def test_revoke_a_running_task(source: Source, celery_app: Any) -> None:
    task = celery_app.send_task("tests.sleepy", args=(60,))
    running = wait_until(
        lambda: (t := source.task(task.id)) is not None and t.status == "running",
        timeout=SAFETY,
        what="the sleeping task to run",
    )
    assert running
    celery_app.control.revoke(task.id, terminate=True)
    revoked = source.wait_ended(task.id)
    assert (revoked.status, revoked.failure_reason) == ("cancelled", "terminated")


@pytest.mark.slow
@REDIS_WORKER
def test_worker_rows_follow_worker_events(source: Source, celery_app: Any) -> None:
    def online() -> list[WorkerRow]:
        with source.db.reading() as s:
            return list(s.scalars(select(WorkerRow).where(WorkerRow.id.like("tl18-%"))))

    rows = wait_until(online, timeout=SAFETY, what="the Celery worker's row")
    assert rows[0].status in ("online", "busy") and rows[0].pid > 0
    assert rows[0].host == os.uname().nodename


@pytest.mark.slow
@REDIS_WORKER
def test_celery_worker_slots_say_its_pool_size_and_what_runs(source: Source, celery_app: Any) -> None:
    """Celery's events carry no pool size: the source asks the worker (inspect stats), so its page says
    "1 of 2 busy" (the fixture's -c 2) while a task runs, not "0 of 1"."""

    def slots() -> str | None:
        with source.db.reading() as s:
            worker_id = s.scalar(select(WorkerRow.id).where(WorkerRow.id.like("tl18-%")))
            state = worker_detail.worker(s, worker_id, utcnow()) if worker_id else None
        if state is None:
            return None
        items = worker_view.state_card(state, state.id).children  # Dt, Dd, Dt, Dd, …
        terms = [str(i.children) for i in items]
        return terms[terms.index("Slots") + 1]

    def seen() -> str:
        return f"The card says {slots()!r}; the source's errors: {source.consumer.stats.errors}"

    def says(text: str, what: str) -> None:
        wait_until(lambda: slots() == text, timeout=SAFETY, what=f"{what} ({text!r})", describe=seen)

    says("0 of 2 busy", "the worker's pool size")
    task = celery_app.send_task("tests.sleepy", args=(60,))
    says("1 of 2 busy", "a heartbeat with the task running")
    celery_app.control.revoke(task.id, terminate=True)
    source.wait_ended(task.id)
    says("0 of 2 busy", "a heartbeat with nothing running")


@pytest.mark.slow
@REDIS_WORKER
def test_a_worker_that_does_not_answer_is_asked_again_soon_then_left(
    source: Source, celery_app: Any, redis_url: str
) -> None:
    """A busy worker may miss the 1 s to tell its pool size: it is asked again 3, 6, 12 and 24 s later (not only
    at the next 30 s round), and a worker that is gone stops costing broadcasts after five misses; one that
    answers is asked no more. Real broadcasts over Redis."""
    consumer = CeleryConsumer(
        Settings(database_url=str(source.db.url), celery_broker=redis_url),
        Recorder(source.db, Hub()),
        threading.Event(),
    )
    real = next(
        iter(wait_until(lambda: celery_app.control.inspect(timeout=5).ping(), SAFETY, "a ping reply"))
    )
    gone = "gone@nowhere"
    consumer._to_size = {real, gone}
    consumer._misses = {real: 2}
    consumer.size_pools(celery_app)
    assert consumer._misses == {gone: 1} and consumer._retry_in() == 3.0
    for misses in (2, 3, 4):
        consumer.size_pools(celery_app)  # asked although not heard again
        assert consumer._misses == {gone: misses} and consumer._retry_in() == 3.0 * 2 ** (misses - 1)
    consumer.size_pools(celery_app)
    assert consumer._misses == {} and consumer._retry_in() == float("inf")


@pytest.mark.slow
@REDIS_WORKER
def test_one_consumer_per_broker(source: Source, redis_url: str) -> None:
    """A second process's consumer of the same broker on the same database stands by."""
    url = str(source.db.url)
    second = CeleryConsumer(
        Settings(database_url=url, celery_broker=redis_url), Recorder(source.db, Hub()), threading.Event()
    )
    assert second._take_lease() is False
    with source.db.reading() as s:
        holder = s.scalar(select(JobLease.holder).where(JobLease.name == source.consumer.lease_name))
    assert holder == source.consumer.holder


@pytest.mark.slow
@REDIS_WORKER
def test_consumer_killed_mid_stream_duplicates_nothing(
    redis_url: str, celery_app: Any, tmp_path: Any
) -> None:
    """Redis: Celery publishes events there (PUBLISH), so what is sent while no consumer listens is gone; what
    a SIGKILLed consumer had recorded stays once, and after its restart everything is recorded again, once."""
    kill_and_restart(redis_url, celery_app, tmp_path, lossless=False)


def kill_and_restart(broker: str, celery_app: Any, tmp_path: Any, *, lossless: bool) -> None:
    """`python app.py celery` SIGKILLed while events flow, tasks sent while it is down, then started again:
    no task is recorded twice, none has a transition twice; every task sent after the restart is complete, and
    with `lossless` (a broker that keeps the consumer's queue) every task sent at all."""
    tmp_path.mkdir(exist_ok=True)
    url = sqlite_database(tmp_path)
    env = clean_env(
        TASKLENS_DATABASE_URL=url, TASKLENS_CELERY_QUEUE="killtest", TASKLENS_CELERY_LEASE_SECONDS="2"
    )
    cmd = [sys.executable, APP, "celery", "--broker", broker]
    log = open(tmp_path / "consumer.log", "w")  # noqa: SIM115 - closed at the end
    db = open_database(url)

    def completed(ids: list[str]) -> int:
        with db.reading() as s:
            query = select(func.count()).select_from(Task).where(Task.external_id.in_(ids))
            return int(s.scalar(query.where(Task.status == "completed")) or 0)

    def recorded(ids: list[str]) -> dict[str, int]:
        with db.reading() as s:
            query = select(Task.status, func.count()).where(Task.external_id.in_(ids)).group_by(Task.status)
            return {status: int(n) for status, n in s.execute(query)}

    def start() -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        # Consuming: the Celery worker answered the consumer's wake-up with a heartbeat, seen after `since`.
        since = _latest_seen(db)
        wait_until(lambda: _latest_seen(db) > since, timeout=SAFETY, what="the consumer to consume")
        return proc

    first = start()
    try:
        before = [celery_app.send_task("tests.add", args=(i, i)).id for i in range(40)]
        wait_until(lambda: completed(before) >= 3, timeout=SAFETY, what="some tasks recorded")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        during = [celery_app.send_task("tests.add", args=(i, 0)).id for i in range(20)]
    finally:
        stop_process(first)
    second = start()
    try:
        after = [celery_app.send_task("tests.add", args=(0, i)).id for i in range(20)]
        everything = before + during + after
        expected = everything if lossless else after
        # 80 tasks through a worker, the broker and a restarted consumer: seconds when idle, minutes under load
        # (the 60 s bound this had ran out at load 14). The wait ends when all are in; SAFETY only stops a stall.
        wait_until(
            lambda: completed(expected) == len(expected),
            timeout=SAFETY,
            what="the tasks recorded",
            describe=lambda: (
                f"completed: {completed(before)}/{len(before)} sent before the kill, "
                f"{completed(during)}/{len(during)} while down, {completed(after)}/{len(after)} after; "
                f"recorded at all: {recorded(expected)}"
            ),
        )
        with db.reading() as s:
            per_task = s.execute(
                select(Task.external_id, TaskEvent.from_status, TaskEvent.to_status, func.count())
                .join(TaskEvent, TaskEvent.task_id == Task.id)
                .where(TaskEvent.type == "task.transition")
                .group_by(Task.external_id, TaskEvent.from_status, TaskEvent.to_status)
            ).all()
            tasks = s.scalars(select(Task.external_id)).all()
        assert len(tasks) == len(set(tasks)) and set(tasks) <= set(everything)
        assert {n for *_, n in per_task} == {1}
    finally:
        stop_process(second)
        db.dispose()
        log.close()


def _latest_seen(db: Database) -> Any:
    from datetime import datetime

    with db.reading() as s:
        return s.scalar(select(func.max(WorkerRow.last_seen_at))) or datetime.min


def test_replayed_and_out_of_order_events_change_nothing(db: Database) -> None:
    """Straight through the recorder, on SQLite and PostgreSQL: an end before its start, then the same events
    again, then a late start."""
    settings = Settings(database_url=str(db.url), celery_broker=parallel.redis_url())
    consumer = CeleryConsumer(settings, Recorder(db, Hub()), threading.Event())
    tid, ts = str(uuid.uuid4()), time.time() - 60
    received = {
        "type": "task-received",
        "uuid": tid,
        "timestamp": ts,
        "name": "proj.x",
        "args": "(1,)",
        "kwargs": "{}",
        "retries": 0,
        "hostname": "w1@h",
    }
    started = {"type": "task-started", "uuid": tid, "timestamp": ts + 1.0, "hostname": "w1@h"}
    succeeded = {
        "type": "task-succeeded",
        "uuid": tid,
        "timestamp": ts + 3.0,
        "runtime": 2.0,
        "result": "'done'",
        "hostname": "w1@h",
    }
    consumer.record([succeeded])
    consumer.record([received, succeeded])

    def snapshot() -> tuple[Any, ...]:
        with db.reading() as s:
            task = s.scalars(select(Task).where(Task.external_id == tid)).one()
            events = s.scalar(select(func.count()).select_from(TaskEvent).where(TaskEvent.task_id == task.id))
            ledger = s.scalar(
                select(func.count()).select_from(IngestedEvent).where(IngestedEvent.task_id == task.id)
            )
            return (
                task.status,
                task.title,
                task.attempt,
                task.started_at,
                task.completed_at,
                task.update_count,
                events,
                ledger,
            )

    first = snapshot()
    assert first[:3] == ("completed", "proj.x", 1)
    assert first[4] - first[3] == timedelta(seconds=2.0)  # the start is the end minus Celery's runtime
    consumer.record([received, started, succeeded])  # a replay, and a start that came too late
    consumer.record([succeeded, succeeded])
    after = snapshot()
    assert after[:5] == first[:5] and after[6] == first[6]


@pytest.mark.slow
def test_rabbitmq(tmp_path: Any) -> None:
    """The same source on RabbitMQ (a vhost of its own): its durable queue and acknowledgements after commit
    make a consumer killed mid-stream lose nothing and duplicate nothing; same records as on Redis."""
    with rabbit_broker() as url, celery_worker(url, f"tl18rabbit-{uuid.uuid4().hex[:6]}") as app:
        kill_and_restart(url, app, tmp_path / "killed", lossless=True)
        src = Source(sqlite_database(tmp_path), url)
        try:
            ok = app.send_task("tests.add", args=(20, 22))
            bad = app.send_task("tests.boom", args=("on rabbit",))
            assert (src.wait_ended(ok.id).status, src.wait_ended(ok.id).result) == ("completed", "42")
            failed = src.wait_ended(bad.id)
            assert failed.status == "failed" and "ValueError: on rabbit" in "\n".join(src.activity(failed.id))
        finally:
            src.close()


def test_rabbitmq_events_wait_for_the_consumer_past_celerys_ttl(tmp_path: Any) -> None:
    """Events sent while TaskLens is away wait in its RabbitMQ queue however long that is. Celery's receivers
    give their queues a 5 s message TTL, which dropped the events of tasks run while the source restarted on
    a busy machine; a queue an earlier TaskLens declared that way is re-created without it."""
    from kombu.connection import Connection
    from kombu.entity import Exchange, Queue

    name = "celeryev.tasklens"
    with rabbit_broker() as url, celery_worker(url, f"tl18ttl-{uuid.uuid4().hex[:6]}") as app:
        with Connection(url) as conn:  # the queue as an earlier TaskLens left it, Celery's 5 s TTL on it
            Queue(
                name,
                Exchange("celeryev", type="topic"),
                routing_key="#",
                durable=True,
                auto_delete=False,
                message_ttl=5.0,
                expires=86_400.0,
            ).bind(conn.default_channel).declare()
        db_url = sqlite_database(tmp_path)
        src = Source(db_url, url)  # re-creates the queue rather than failing on its arguments
        first = app.send_task("tests.add", args=(1, 2))
        assert src.wait_ended(first.id).result == "3"
        src.close()

        late = app.send_task("tests.add", args=(2, 3))
        with Connection(url) as conn:
            waiting = Queue(name).bind(conn.default_channel)
            wait_until(lambda: waiting.queue_declare(passive=True).message_count >= 4, SAFETY, "its events")
        time.sleep(6)  # what is under test is a time: longer than Celery's 5 s message TTL
        src = Source(db_url, url)
        try:
            ended = src.wait_ended(late.id)
            assert (ended.status, ended.result) == ("completed", "5")
        finally:
            src.close()


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        ((), {}, "give the Celery broker"),
        (
            ("--broker", "http://127.0.0.1:6379/0"),
            {},
            "TASKLENS_CELERY_BROKER must be a redis:// or amqp:// URL",
        ),
        ((), {"TASKLENS_CELERY_ARGS_MAX_CHARS": "-1"}, "TASKLENS_CELERY_ARGS_MAX_CHARS must not be negative"),
    ],
)
def test_cli_refuses_what_it_cannot_use(args: tuple[str, ...], env: dict[str, str], message: str) -> None:
    from tests.helpers import run_cli

    result = run_cli("celery", *args, env=clean_env(**env), timeout=60)
    assert result.returncode == 2 and message in result.stderr, result.stderr


def test_apply_ops_many_writes_what_apply_ops_writes(db: Database) -> None:
    """The set-based variant the Celery source uses leaves the same rows and events as one apply_ops a task."""
    from db.domain.ops import ActivityLine, ClientTime, Op, TaskSpec, Transition
    from db.domain.states import IllegalTransition, TaskKind, TaskStatus
    from db.write.writes import Deferred, TaskNotFound, apply_ops, apply_ops_many, insert_tasks

    at = datetime(2026, 12, 1, 12, 0, 0)
    ops: list[Op] = [
        ClientTime(at),
        Transition(TaskStatus.RUNNING, worker_id="celery@a"),
        ActivityLine("Traceback …"),
        ClientTime(at + timedelta(seconds=2)),
        Transition(TaskStatus.FAILED, reason="error", error="ValueError('x')"),
    ]
    recorder = Recorder(db, Hub())
    with recorder.transaction() as s:
        one, many, other = insert_tasks(s, [TaskSpec("t", TaskKind.CELERY)] * 3, actor="test")
        apply_ops(s, one, ops, actor="test")
        pending = Deferred()
        apply_ops_many(s, [(many, ops), (other, ops[:2])], actor="test", now=at, deferred=pending)
        pending.flush(s, at)
    columns = (
        "status",
        "worker_id",
        "started_at",
        "completed_at",
        "error_message",
        "failure_reason",
        "update_count",
        "activity_count",
    )
    with db.reading() as s:
        rows = {t.id: t for t in s.scalars(select(Task).where(Task.id.in_([one, many, other])))}
        events = dict(
            s.execute(
                select(TaskEvent.task_id, func.count())
                .where(TaskEvent.task_id.in_([one, many]))
                .group_by(TaskEvent.task_id)
            ).all()
        )
    assert [getattr(rows[one], c) for c in columns] == [getattr(rows[many], c) for c in columns]
    assert events[one] == events[many] and rows[other].status == "running"
    with pytest.raises(IllegalTransition), recorder.transaction() as s:
        apply_ops_many(s, [(other, ops[1:2])], actor="test", now=at, deferred=Deferred())
    with pytest.raises(TaskNotFound), recorder.transaction() as s:
        apply_ops_many(s, [(10**9, ops)], actor="test", now=at, deferred=Deferred())


@pytest.mark.slow
@REDIS_WORKER
def test_flower_controls_through_the_api(source: Source, celery_app: Any, redis_url: str) -> None:
    """Revoke/terminate, a rate limit, pool grow and shrink, queue lengths: sent on the real broker, confirmed
    by the real worker, audited; without a broker configured, 409."""
    from dashboard.bridge import ChangeFeed
    from dashboard.services import Services
    from db.core.models import AuditLog
    from tests.api_support import api_client, call

    def client_for(broker: str | None) -> Any:
        settings = Settings(database_url=str(source.db.url), celery_broker=broker)
        return api_client(
            Services(settings, source.db, source.recorder, ChangeFeed(source.db, source.recorder.hub))
        )

    client = client_for(redis_url)
    queues = call(client, "GET", "/celery/queues")["items"]
    assert any(q["name"] == "celery" and isinstance(q["messages"], int) for q in queues)

    limited = call(client, "PUT", "/celery/rate-limits/tests.add", {"rate": "600/m"})
    assert any(w.startswith("tl18-") for w in limited["workers"])
    hostname = limited["workers"][0]
    assert call(client, "POST", f"/celery/workers/{hostname}/pool", {"change": 1})["workers"] == [hostname]
    assert call(client, "POST", f"/celery/workers/{hostname}/pool", {"change": -1})["workers"] == [hostname]
    call(client, "PUT", "/celery/rate-limits/tests.add", {"rate": "0"})
    call(client, "PUT", "/celery/rate-limits/tests.add", {"rate": "fast"}, status=422)

    task = celery_app.send_task("tests.sleepy", args=(60,))
    wait_until(
        lambda: (t := source.task(task.id)) is not None and t.status == "running",
        timeout=SAFETY,
        what="it to run",
    )
    call(client, "POST", f"/celery/tasks/{task.id}/revoke", {"terminate": True, "signal": "SIGKILL"})
    assert source.wait_ended(task.id).status == "cancelled"

    with source.db.reading() as s:
        actions = set(s.scalars(select(AuditLog.action)))
    assert {"api.revoke_celery_task", "api.set_celery_rate_limit", "api.resize_celery_pool"} <= actions
    call(client_for(None), "POST", f"/celery/tasks/{task.id}/revoke", {}, status=409)


@pytest.mark.slow
@REDIS_WORKER
def test_worker_controls_through_the_api(source: Source, celery_app: Any, redis_url: str) -> None:
    """Time limits, pool restart, add / cancel consumer, shutdown and worker info through the API: sent on the
    real broker, confirmed (or refused) by real workers, audited as `celery.<action>` like the dashboard's cards;
    a viewer reads the info but may not act; no broker configured: 409; a broker that cannot be reached: 503."""
    from dashboard.bridge import ChangeFeed
    from dashboard.services import Services
    from db.access.tokens import create_token
    from db.core.models import AuditLog
    from tests.api_support import api_client, call

    def client_for(broker: str | None, auth: str = "off") -> Any:
        settings = Settings(database_url=str(source.db.url), celery_broker=broker, auth=auth)
        return api_client(
            Services(settings, source.db, source.recorder, ChangeFeed(source.db, source.recorder.hub))
        )

    def info(host: str) -> dict[str, Any]:
        return dict(call(client, "GET", f"/celery/workers/{host}"))

    def limits(host: str) -> str:
        return str(next(t for t in info(host)["tasks"] if t.split(" ")[0] == "tests.add"))

    client = client_for(redis_url)
    limited = call(client, "PUT", "/celery/time-limits/tests.add", {"soft": 30, "hard": 60})
    hostname = limited["workers"][0]
    assert hostname.startswith("tl18-") and limited["sent"] is True
    assert "time_limit=60.0 soft_time_limit=30.0" in limits(hostname)
    call(client, "PUT", "/celery/time-limits/tests.add", {"soft": None, "hard": None})
    assert "time_limit" not in limits(hostname)  # Celery lists only the limits a task type has
    refused = call(client, "PUT", "/celery/time-limits/tests.add", {"soft": 60, "hard": 30}, status=422)
    assert "must not exceed" in refused["error"]["message"]
    call(client, "PUT", "/celery/time-limits/tests.add", {"soft": -1}, status=422)

    about = info(hostname)
    assert about["hostname"] == hostname and about["processes"] >= 1 and "celery" in about["queues"]
    assert call(client, "POST", f"/celery/workers/{hostname}/consumers", {"queue": "tl-extra"})[
        "workers"
    ] == [hostname]
    wait_until(lambda: "tl-extra" in info(hostname)["queues"], timeout=SAFETY, what="the queue consumed")
    assert call(client, "DELETE", f"/celery/workers/{hostname}/consumers/tl-extra")["workers"] == [hostname]
    wait_until(lambda: "tl-extra" not in info(hostname)["queues"], timeout=SAFETY, what="the queue dropped")
    call(client, "POST", f"/celery/workers/{hostname}/consumers", {"queue": "two words"}, status=422)

    # This worker runs without worker_pool_restarts: it answers with an error, which is the API's 409.
    no_restart = call(client, "POST", f"/celery/workers/{hostname}/pool/restart", status=409)
    assert no_restart["error"]["code"] == "worker_refused"
    gone = call(client, "GET", "/celery/workers/celery@nowhere", status=404)
    assert gone["error"]["code"] == "worker_not_answering"

    # A second worker of its own, with pool restarts on, to restart and then shut down.
    with celery_worker(redis_url, f"tl18stop-{uuid.uuid4().hex[:6]}", pool_restarts=True):
        other = wait_until(
            lambda: next(
                (
                    w
                    for w in call(client, "PUT", "/celery/rate-limits/tests.add", {"rate": "0"})["workers"]
                    if w.startswith("tl18stop-")
                ),
                None,
            ),
            timeout=SAFETY,
            what="the second worker to answer",
        )
        assert call(client, "POST", f"/celery/workers/{other}/pool/restart")["workers"] == [other]
        assert call(client, "POST", f"/celery/workers/{other}/shutdown") == {"sent": True, "workers": []}

        def offline() -> bool:
            with source.db.reading() as s:
                return s.scalar(select(WorkerRow.status).where(WorkerRow.id == other)) == "offline"

        wait_until(offline, timeout=SAFETY, what=f"{other} to go offline after its shutdown")

    with source.db.reading() as s:
        rows = {
            (a, t)
            for a, t in s.execute(select(AuditLog.action, AuditLog.target).where(AuditLog.actor == "api"))
        }
    assert {
        ("celery.time_limit", "celery-task-type:tests.add"),
        ("celery.add_consumer", f"celery-worker:{hostname}"),
        ("celery.cancel_consumer", f"celery-worker:{hostname}"),
        ("celery.pool_restart", f"celery-worker:{other}"),
        ("celery.shutdown", f"celery-worker:{other}"),
    } <= rows
    assert ("celery.pool_restart", f"celery-worker:{hostname}") not in rows  # refused: nothing was done

    with source.db.writing() as s:
        _, viewer = create_token(s, "celery-viewer", "viewer", utcnow())
    secured = client_for(redis_url, auth="on")
    as_viewer = {"Authorization": f"Bearer {viewer}"}
    assert call(secured, "GET", f"/celery/workers/{hostname}", headers=as_viewer)["hostname"] == hostname
    denied = call(secured, "POST", f"/celery/workers/{hostname}/pool/restart", status=403, headers=as_viewer)
    assert denied["error"]["details"]["needed"] == "operator"
    call(secured, "POST", f"/celery/workers/{hostname}/shutdown", status=403, headers=as_viewer)

    without = client_for(None)
    for method, path, body in (
        ("PUT", "/celery/time-limits/tests.add", {"hard": 10}),
        ("POST", f"/celery/workers/{hostname}/pool/restart", None),
        ("POST", f"/celery/workers/{hostname}/consumers", {"queue": "q"}),
        ("DELETE", f"/celery/workers/{hostname}/consumers/q", None),
        ("POST", f"/celery/workers/{hostname}/shutdown", None),
        ("GET", f"/celery/workers/{hostname}", None),
    ):
        assert call(without, method, path, body, status=409)["error"]["code"] == "no_celery_broker"
    # Nothing listens on port 1: kombu's OperationalError is the API's 503, not a 500.
    unreachable = client_for("redis://127.0.0.1:1/0")
    for method, path, body in (
        ("POST", f"/celery/workers/{hostname}/pool/restart", None),
        ("PUT", "/celery/rate-limits/tests.add", {"rate": "1/s"}),
    ):
        assert call(unreachable, method, path, body, status=503)["error"]["code"] == "broker_unavailable"


def test_queue_table_colours_depths() -> None:
    from dashboard.celery_queues import queue_table

    at = datetime(2026, 12, 3, 10, 0, 0)
    rows = [
        {"broker": "redis://h/0", "name": n, "messages": m, "measured_at": at}
        for n, m in (("celery", 5), ("bulk", 5_000), ("gone", None))
    ]
    text = str(queue_table(rows))
    assert "'success'" in text and "'danger'" in text and "unknown" in text and "5,000" in text


def test_silent_celery_workers_go_offline(db: Database) -> None:
    """A Celery worker that stops heart-beating without worker-offline (killed) is shown offline by the consumer
    itself, once, with a worker.offline event; one still beating stays."""
    from db.core.timeutil import utcnow
    from db.write.celery_workers import SILENT_AFTER, CeleryWorkerEvent, apply_worker_events, mark_silent

    recorder = Recorder(db, Hub())
    now = utcnow()
    with recorder.transaction() as s:
        apply_worker_events(
            s, [CeleryWorkerEvent("heartbeat", "celery@a", now, pid=1)], now=now - SILENT_AFTER * 2
        )
        apply_worker_events(s, [CeleryWorkerEvent("heartbeat", "celery@b", now, pid=2)], now=now)
    for _ in range(2):
        with recorder.transaction() as s:
            marked = mark_silent(s, ["celery@a", "celery@b"], now=now)
        assert marked == ([] if _ else ["celery@a"])
    with db.reading() as s:
        status = dict(s.execute(select(WorkerRow.id, WorkerRow.status)).all())
        offline = s.scalar(
            select(func.count()).select_from(TaskEvent).where(TaskEvent.type == "worker.offline")
        )
    assert status == {"celery@a": "offline", "celery@b": "online"} and offline == 1


def test_celery_cards_show_for_celery_tasks_and_workers_and_check_input(db: Database) -> None:
    """The task page's Celery card is for Celery tasks only (the worker page's for `name@host` workers), and
    bad input is answered before anything goes to the broker (here there is none)."""
    from dashboard import celery_panel
    from dashboard.bridge import ChangeFeed
    from dashboard.services import Services
    from db.domain.ops import TaskSpec
    from db.domain.states import TaskKind

    recorder = Recorder(db, Hub())
    svc = Services(Settings(database_url=str(db.url)), db, recorder, ChangeFeed(db, recorder.hub))
    demo = recorder.submit(TaskSpec(title="t", kind=TaskKind.DEMO), actor="test")
    celery = recorder.submit(
        TaskSpec(title="proj.add", kind=TaskKind.CELERY, external_id="c-1"), actor="celery"
    )
    assert celery_panel.show_task(svc, demo) == (celery_panel.HIDDEN, None, "")
    assert celery_panel.show_task(svc, celery) == ({}, {"celery_id": "c-1", "name": "proj.add"}, "proj.add")
    assert is_celery_worker("celery@web-1") and not is_celery_worker("w-12-ab12")
    info = {"celery_id": "c-1", "name": "proj.add"}
    assert "A rate is" in str(celery_panel.task_act(svc, "rate_limit", info, "fast", None, None))
    assert "must not exceed" in str(celery_panel.task_act(svc, "time_limit", info, None, "60", "30"))
    assert "above 0" in str(celery_panel.task_act(svc, "time_limit", info, None, "-1", None))
    assert "Name the queue" in str(celery_panel.worker_act(svc, "add_consumer", "celery@h", " "))
    assert "No Celery broker" in str(celery_panel.task_act(svc, "revoke", info, None, None, None))
    # TaskLens's own Cancel and Retry stay off on a Celery task (Celery runs it), on for the others.
    from dashboard import ids
    from dashboard.components import detail
    from db.read.tasks.detail import task_record

    def buttons(task_id: int) -> dict[str, bool]:
        with db.reading() as s:
            found = task_record(s, task_id)
        assert found is not None
        row = detail.header(found).children[2].children  # the header's button row
        return {b.id: bool(b.disabled) for b in row}

    assert buttons(celery) == {ids.CANCEL: True, ids.RETRY: True}
    assert buttons(demo) == {ids.CANCEL: False, ids.RETRY: True}


def test_the_timeline_shows_celerys_times(db: Database) -> None:
    """A Celery task's transitions are drawn when Celery made them, not when TaskLens recorded them (here a
    minute later, all in one batch): creation, start and end at Celery's timestamps."""
    from datetime import UTC
    from datetime import datetime as dt

    from db.read.tasks.history import transitions

    settings = Settings(database_url=str(db.url), celery_broker=parallel.redis_url())
    consumer = CeleryConsumer(settings, Recorder(db, Hub()), threading.Event())
    tid, ts = str(uuid.uuid4()), time.time() - 60
    common = {"uuid": tid, "hostname": "w1@h"}
    consumer.record(
        [
            {
                **common,
                "type": "task-received",
                "timestamp": ts,
                "name": "proj.x",
                "args": "()",
                "kwargs": "{}",
            },
            {**common, "type": "task-started", "timestamp": ts + 1.0},
            {**common, "type": "task-succeeded", "timestamp": ts + 3.0, "runtime": 2.0, "result": "1"},
        ]
    )
    with db.reading() as s:
        task_id = s.scalar(select(Task.id).where(Task.external_id == tid))
        assert task_id is not None
        moves = transitions(s, task_id)
    celery = [dt.fromtimestamp(ts + d, UTC).replace(tzinfo=None) for d in (0.0, 1.0, 3.0)]
    assert list(moves["to_status"]) == ["queued", "running", "completed"]
    got = [pd_time.to_pydatetime() for pd_time in moves["at"]]
    assert all(abs(a - b) < timedelta(milliseconds=2) for a, b in zip(got, celery, strict=True)), (
        got,
        celery,
    )
