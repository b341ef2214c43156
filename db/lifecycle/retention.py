"""Data layer: retention — prunes finished tasks older than N days with everything under them (events, calls,
activity, tags, ingested event ids, search rows), old task-less events, audit rows and report runs, in short
write transactions, after the analytics rollups are complete for the pruned period and frozen there."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, Delete, Table, delete, func, select, text
from sqlalchemy.orm import Session

from db.access import audit
from db.analytics import rollups
from db.analytics.rollcut import refreshed_until
from db.core.models import (
    Activity,
    AuditLog,
    IngestedEvent,
    Invocation,
    ReportRun,
    Task,
    TaskEvent,
    TaskTag,
)
from db.lifecycle import archive, horizon
from db.read import search
from db.write import messages as packing

log = logging.getLogger(__name__)
Transaction = Callable[[], AbstractContextManager[Session]]
T = cast(Table, Task.__table__)
E = cast(Table, TaskEvent.__table__)
I = cast(Table, Invocation.__table__)  # noqa: E741
A = cast(Table, Activity.__table__)
RR = cast(Table, ReportRun.__table__)
AL = cast(Table, AuditLog.__table__)
# Tasks per write transaction (TASKLENS_RETAIN_BATCH): a demo-history task has ~23 events, ~5 calls and ~4
# activity lines, so a batch deletes ~3,300 rows. 200 took 102 ms on SQLite (240 ms at worst) and 56 ms on
# PostgreSQL on a loaded 2-core box (python app.py prune prints it): 100 keeps a writer's wait near 50 ms.
BATCH = 100
# Child tables of a task, deleted before the task row (ON DELETE CASCADE would too; explicit deletes count).
CHILDREN: tuple[tuple[str, Table], ...] = (
    ("task_events", E),
    ("activity", A),
    ("invocations", I),
    ("task_tags", cast(Table, TaskTag.__table__)),
    ("ingested_events", cast(Table, IngestedEvent.__table__)),
)
FINISHED_RUNS = ("completed", "failed")


class RetentionError(RuntimeError):
    """Pruning would lose analytics (the rollups are not complete up to the cut-off): nothing was pruned."""


@dataclass(frozen=True)
class Policy:
    """Days to keep (0 or None: forever) per kind of row; from Settings."""

    tasks_days: float | None = None
    events_days: float | None = (
        None  # compaction of finished tasks' derived events (db/lifecycle/compaction.py)
    )
    audit_days: float | None = None
    report_runs_days: float | None = None
    archive_dir: Path | None = None
    batch: int = BATCH

    @property
    def active(self) -> bool:
        return bool(self.tasks_days or self.events_days or self.audit_days or self.report_runs_days)


@dataclass
class PruneResult:
    cutoff: datetime | None = None  # tasks with nothing recorded since this were pruned
    rows: dict[str, int] = field(default_factory=dict)
    batches: int = 0
    longest_batch_ms: float = 0.0
    batch_ms: float = 0.0  # all batches' write transactions together
    archived: dict[str, int] = field(default_factory=dict)  # archive file name -> tasks written
    report_runs: list[int] = field(default_factory=list)  # runs deleted: their folders go too

    def add(self, table: str, count: int) -> None:
        if count:
            self.rows[table] = self.rows.get(table, 0) + count

    def details(self) -> dict[str, Any]:
        return {
            "cutoff": self.cutoff.isoformat() if self.cutoff else None,
            "rows": dict(self.rows),
            "batches": self.batches,
            "longest_batch_ms": round(self.longest_batch_ms, 1),
            "mean_batch_ms": round(self.batch_ms / self.batches, 1) if self.batches else None,
            "archived_files": len(self.archived),
        }


def _deleted(session: Session, statement: Delete) -> int:
    outcome = cast(CursorResult[Any], session.execute(statement))
    return int(outcome.rowcount)


def cutoff(now: datetime, days: float) -> datetime:
    """The start of the day `days` ago: whole days are pruned, so the horizon falls on a day's edge and the
    daily histograms are final exactly where the hourly rollups are."""
    return rollups.floor_day(now - timedelta(days=days))


def freeze(transaction: Transaction, now: datetime, at: datetime) -> datetime:
    """Makes the rollups complete (a refresh folds in every change so far) and moves the horizon to `at`, in
    that order; raises RetentionError when the refresh did not reach `at`. Past this, no rebuild touches the
    hours before the horizon, so the deletes that follow cannot change an answer read from the rollups."""
    rollups.refresh_in_steps(transaction, now)
    with transaction() as session:
        # A refresh running now read the old horizon: wait for it, as it could redo an hour being pruned.
        rollups.serialise(session)
        until = refreshed_until(session)
        if until is None or until < at:
            raise RetentionError(f"the analytics rollups reach {until}, not the cut-off {at}: nothing pruned")
        return horizon.raise_to(session, at, now)


def _newest(session: Session) -> tuple[int, int | None, int]:
    """The largest task id, the task of the largest event seq, and that seq: never deleted, so SQLite (which
    reuses max(rowid) + 1) never hands out an id or seq a second time."""
    top_task = session.scalar(select(func.max(T.c.id))) or 0
    top_seq = session.scalar(select(func.max(E.c.seq))) or 0
    owner = session.scalar(select(E.c.task_id).where(E.c.seq == top_seq)) if top_seq else None
    return int(top_task), owner, int(top_seq)


def _candidates(
    session: Session, before: datetime, limit: int, after_id: int
) -> tuple[list[int], int | None]:
    """The next batch of tasks to prune, and the id to continue after (None: nothing more)."""
    top_task, owner, _ = _newest(session)
    ids = archive.finished_before(session, before, after_id, limit)
    return [i for i in ids if i != top_task and i != owner], (ids[-1] if ids else None)


def _still(session: Session, ids: Sequence[int], before: datetime) -> list[int]:
    """Those of `ids` that still qualify under the write lock (a task retried meanwhile does not)."""
    top_task, owner, _ = _newest(session)
    query = select(T.c.id).where(
        T.c.id.in_(ids), T.c.status.in_(archive.FINISHED), T.c.last_updated_at < before
    )
    return [int(i) for i in session.scalars(query) if i != top_task and i != owner]


def forget_search(session: Session, task_ids: Sequence[int]) -> int:
    """SQLite: the FTS5 index is contentless, so its entries are removed with FTS5's 'delete' command and the
    text they were made from (the call's stored messages). PostgreSQL's call_search goes by ON DELETE CASCADE."""
    if session.get_bind().dialect.name == "postgresql":
        return 0
    rows = session.execute(
        text(
            "SELECT r.id, i.messages FROM call_search_rows r LEFT JOIN invocations i ON i.id = r.call_id "
            "WHERE r.task_id IN (" + ",".join(str(int(t)) for t in task_ids) + ")"
        )
    ).all()
    gone = []
    for row_id, blob in rows:
        body = search.index_text(packing.unpack(blob)) if blob else None
        if body:
            gone.append({"i": int(row_id), "b": body})
    if gone:
        session.execute(
            text("INSERT INTO call_search (call_search, rowid, body) VALUES ('delete', :i, :b)"), gone
        )
    if rows:
        session.execute(
            text(
                "DELETE FROM call_search_rows WHERE task_id IN ("
                + ",".join(str(int(t)) for t in task_ids)
                + ")"
            )
        )
    return len(rows)


def delete_tasks(session: Session, task_ids: Sequence[int], result: PruneResult) -> None:
    """Deletes the tasks and every row under them, in the caller's transaction."""
    if not task_ids:
        return
    result.add("call_search", forget_search(session, task_ids))
    for name, table in CHILDREN:
        result.add(name, _deleted(session, delete(table).where(table.c.task_id.in_(task_ids))))
    result.add("tasks", _deleted(session, delete(T).where(T.c.id.in_(task_ids))))


def prune_tasks(
    transaction: Transaction, reading: Transaction, before: datetime, result: PruneResult, policy: Policy
) -> None:
    """Finished tasks with nothing recorded since `before`, a batch per transaction; archived first when an
    archive folder is set (read outside the write lock; the delete re-checks each task still qualifies)."""
    after = 0
    while True:
        with reading() as session:
            ids, last = _candidates(session, before, policy.batch, after)
            items = archive.records(session, ids) if ids and policy.archive_dir else []
        if last is None:
            return
        after = last
        if not ids:
            continue
        if policy.archive_dir:
            for path, n in archive.write(policy.archive_dir, items).items():
                result.archived[path.name] = result.archived.get(path.name, 0) + n
        started = time.perf_counter()
        with transaction() as session:
            delete_tasks(session, _still(session, ids, before), result)
        took = (time.perf_counter() - started) * 1000
        result.batches += 1
        result.batch_ms += took
        result.longest_batch_ms = max(result.longest_batch_ms, took)


def prune_taskless_events(
    transaction: Transaction, before: datetime, result: PruneResult, batch: int
) -> None:
    """Worker, report and alert events (no task) older than `before`; the newest event always stays."""
    while True:
        with transaction() as session:
            _, _, top_seq = _newest(session)
            seqs = list(
                session.scalars(
                    select(E.c.seq)
                    .where(E.c.task_id.is_(None), E.c.at < before, E.c.seq < top_seq)
                    .order_by(E.c.seq)
                    .limit(batch * 20)
                )
            )
            if seqs:
                result.add("task_events", _deleted(session, delete(E).where(E.c.seq.in_(seqs))))
        if len(seqs) < batch * 20:
            return


def prune_audit(transaction: Transaction, before: datetime, result: PruneResult, batch: int) -> None:
    while True:
        with transaction() as session:
            ids = list(
                session.scalars(select(AL.c.id).where(AL.c.at < before).order_by(AL.c.id).limit(batch * 20))
            )
            if ids:
                result.add("audit_log", _deleted(session, delete(AL).where(AL.c.id.in_(ids))))
        if len(ids) < batch * 20:
            return


def prune_report_runs(transaction: Transaction, before: datetime, result: PruneResult) -> None:
    """Finished report runs that ended before `before`; their ids are returned so the caller deletes their files."""
    with transaction() as session:
        ids = list(
            session.scalars(select(RR.c.id).where(RR.c.status.in_(FINISHED_RUNS), RR.c.completed_at < before))
        )
        if ids:
            result.add("report_runs", _deleted(session, delete(RR).where(RR.c.id.in_(ids))))
    result.report_runs = ids


def prune(
    transaction: Transaction, reading: Transaction, now: datetime, policy: Policy, actor: str = "retention"
) -> PruneResult:
    """Everything the policy says is past keeping; an audit row records what went. Idempotent: a second run
    finds nothing more to do."""
    result = PruneResult()
    if policy.tasks_days:
        at = cutoff(now, policy.tasks_days)
        result.cutoff = freeze(transaction, now, at)
        prune_tasks(transaction, reading, at, result, policy)
        prune_taskless_events(transaction, at, result, policy.batch)
    if policy.events_days:
        from db.lifecycle.compaction import compact  # it builds on this module

        compact(transaction, reading, now, policy.events_days, result, policy.batch)
    if policy.audit_days:
        prune_audit(transaction, now - timedelta(days=policy.audit_days), result, policy.batch)
    if policy.report_runs_days:
        prune_report_runs(transaction, now - timedelta(days=policy.report_runs_days), result)
    if result.rows:
        with transaction() as session:
            audit.record(session, actor, "data.prune", "", result.details(), now=now)
        log.info(
            "pruned %s (%d batches, longest %.0f ms)", result.rows, result.batches, result.longest_batch_ms
        )
    return result
