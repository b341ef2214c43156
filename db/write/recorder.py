"""Data layer: the recorder — the ONE write path. Each call is one transaction that updates the task row's
projections and appends its events together, then wakes the change feed."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy.orm import Session

from db.core.engine import Database
from db.core.timeutil import utcnow
from db.domain.ops import CancelRequest, Op, TaskSpec, Transition
from db.domain.states import TERMINAL, IllegalTransition, TaskKind, TaskStatus
from db.live.changefeed import TOPIC_EVENTS, TOPIC_QUEUE, Hub
from db.write import claims, workers
from db.write.writes import Deferred, apply_ops, insert_tasks, lock_status


def new_id() -> str:
    return uuid.uuid4().hex


class Recorder:
    def __init__(self, db: Database, hub: Hub | None = None) -> None:
        self.db = db
        self.hub = hub or Hub()

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write transaction; listeners are woken only after it committed."""
        with self.db.writing() as session:
            yield session
            topics = {TOPIC_EVENTS} if session.info.get("events") else set()
            if session.info.get("queued"):
                topics.add(TOPIC_QUEUE)
        if topics:
            self.hub.publish(frozenset(topics))

    def submit(self, spec: TaskSpec, *, actor: str = "cli") -> int:
        return self.submit_many([spec], actor=actor)[0]

    def submit_many(self, specs: Sequence[TaskSpec], *, actor: str = "cli") -> list[int]:
        with self.transaction() as session:
            return insert_tasks(session, specs, actor=actor)

    def record(
        self,
        task_id: int,
        *ops: Op,
        actor: str = "system",
        correlation_id: str | None = None,
        owner: str | None = None,
    ) -> TaskStatus:
        with self.transaction() as session:
            return apply_ops(session, task_id, ops, actor=actor, correlation_id=correlation_id, owner=owner)

    def cancel(self, task_id: int, *, actor: str = "cli") -> TaskStatus:
        """Queued: cancelled at once. Running: flagged; its worker stops it within a second."""
        return self.record(task_id, CancelRequest(), actor=actor)

    def retry(self, task_id: int, *, actor: str = "cli", delay_seconds: float = 0.0) -> TaskStatus:
        with self.transaction() as session:
            status = lock_status(session, task_id)
            if status not in TERMINAL:
                raise IllegalTransition(task_id, status, TaskStatus.QUEUED)
            op = Transition(
                TaskStatus.QUEUED,
                reason="retry",
                next_attempt=True,
                available_at=utcnow() + timedelta(seconds=delay_seconds),
            )
            return apply_ops(session, task_id, [op], actor=actor)

    def claim(
        self,
        worker_id: str,
        kinds: Collection[TaskKind],
        lease_seconds: float,
    ) -> claims.ClaimedTask | None:
        with self.transaction() as session:
            return claims.claim_next(session, worker_id, kinds, lease_seconds)

    def finish_and_claim(
        self,
        finished: Sequence[tuple[int, Sequence[Op]]],
        worker_id: str,
        kinds: Collection[TaskKind],
        lease_seconds: float,
        limit: int,
        only_tags: Collection[str] = (),
    ) -> list[claims.ClaimedTask]:
        """A worker's cycle in ONE transaction: the final ops of its runs that ended (each still its own, else
        LeaseLost) and up to `limit` new claims, with every event of both in one INSERT. A deep queue of tiny
        tasks cost a claim and an end transaction per task; this is one per batch. Any error rolls back all:
        the caller then records the ends one by one."""
        with self.transaction() as session:
            now = utcnow()
            rows = Deferred()
            actor = f"worker:{worker_id}"
            for task_id, ops in finished:
                apply_ops(session, task_id, ops, actor=actor, owner=worker_id, now=now, deferred=rows)
            claimed = claims.claim_within_limits(
                session, worker_id, kinds, lease_seconds, limit, now=now, deferred=rows, only_tags=only_tags
            )
            rows.flush(session, now)
            return claimed

    def renew_leases(self, worker_id: str, task_ids: Sequence[int], lease_seconds: float) -> set[int]:
        with self.transaction() as session:
            return claims.renew_leases(session, worker_id, task_ids, lease_seconds)

    def note_process(self, task_id: int, worker_id: str, host: str, pgid: int) -> bool:
        with self.transaction() as session:
            return claims.note_process(session, task_id, worker_id, host, pgid)

    def sweep_expired_leases(
        self, *, actor: str, before: Callable[[list[claims.ExpiredRun]], object] | None = None
    ) -> dict[int, TaskStatus]:
        """Recover every task whose worker vanished. Safe to run from many workers at once. `before` is given the
        expired runs first (a worker kills what is left of their commands on its host): only runs it saw are
        recovered, so none is re-queued that it did not get to act on."""
        with self.db.reading() as session:
            candidates = claims.expired_leases(session)
        if before is not None and candidates:
            before(candidates)
        ids = [c.id for c in candidates]
        return self._each(ids, lambda s, task_id: claims.recover_task(s, task_id, actor=actor))

    def time_out_external(self, *, actor: str) -> dict[int, TaskStatus]:
        """End every external task past its timeout_seconds. Safe to run from many workers at once."""
        with self.db.reading() as session:
            candidates = claims.overdue_external(session, utcnow())
        return self._each(candidates, lambda s, task_id: claims.time_out_external(s, task_id, actor=actor))

    def _each(
        self, task_ids: list[int], act: Callable[[Session, int], TaskStatus | None]
    ) -> dict[int, TaskStatus]:
        """A sweep's act on each candidate in its own transaction (one that re-checks under the row lock and
        finds nothing to do returns None); what it did, by task."""
        outcome: dict[int, TaskStatus] = {}
        for task_id in task_ids:
            with self.transaction() as session:
                status = act(session, task_id)
            if status is not None:
                outcome[task_id] = status
        return outcome

    def register_worker(self, me: workers.WorkerIdentity) -> None:
        with self.transaction() as session:
            workers.register_worker(session, me)

    def heartbeat(self, worker_id: str, running: list[int]) -> str | None:
        """Returns the worker's control ("drain", "stop" or None)."""
        with self.transaction() as session:
            return workers.heartbeat(session, worker_id, running)

    def worker_stopped(self, worker_id: str) -> None:
        with self.transaction() as session:
            claims.release_owned(session, worker_id)
            workers.mark_offline(session, worker_id)

    def mark_silent_workers(self, silent_for: timedelta) -> list[str]:
        with self.transaction() as session:
            return workers.mark_silent_offline(session, silent_for)
