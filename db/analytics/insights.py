"""Data layer: the database's own health — write rate from the event log, commit latency from write_stats and the
live ring buffer, per-task update frequency, event-log growth, connection pools and table sizes. Aggregation
happens in SQL; every query here is bounded by an index range or the catalog, never a count(*) of a big table.

The Database page is about the store as a whole, so only the scope's time range applies here, not its filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, case, func, literal, select, text, union_all
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement

from db.analytics import histograms
from db.analytics.rollcut import Split, split
from db.analytics.rollup_spec import UPDATE_EDGES
from db.core.engine import Database
from db.core.frames import to_frame
from db.core.models import EventsHourly, Task, TaskEvent, WriteStat
from db.core.sqlfuncs import bucket, epoch
from db.core.timecol import UtcDateTime
from db.core.writestats import CommitStats, percentile
from db.domain.states import TaskStatus
from db.read.scope import DIMENSIONS, Scope

E = TaskEvent.__table__.c
T = Task.__table__.c
W = WriteStat.__table__.c
EH = EventsHourly.__table__.c

UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
# Exact row counts only below these sizes: count(*) is a full scan on both databases.
EXACT_ROWS_BELOW = 50_000
EXACT_BYTES_BELOW = 8 * 1024 * 1024
# dbstat reads every page of the file, so per-table sizes are measured only up to this database size.
DBSTAT_MAX_BYTES = 512 * 1024 * 1024
COMPOUND_LIMIT = 400


# ---------------------------------------------------------------- write rate and event-log growth


def _bucket_starts(scope: Scope, unit: str) -> list[datetime]:
    step = timedelta(seconds=UNIT_SECONDS[unit])
    first = scope.start.replace(second=0, microsecond=0)
    if unit in ("hour", "day"):
        first = first.replace(minute=0)
    if unit == "day":
        first = first.replace(hour=0)
    starts = []
    while first < scope.end:
        starts.append(first)
        first += step
    return starts


def _raw_writes(session: Session, scope: Scope, unit: str) -> list[Any]:
    """(bucket, events) per bucket: one plain count(*) per bucket over its slice of ix_task_events_at, not a
    GROUP BY of a bucket expression: formatting each row's timestamp made a 30-day range 20 times slower
    (4.3 s against 0.2 s at 4.7 M events)."""
    step = timedelta(seconds=UNIT_SECONDS[unit])
    slices = [(b, max(b, scope.start), min(b + step, scope.end)) for b in _bucket_starts(scope, unit)]
    rows: list[Any] = []
    # SQLite allows at most 500 terms in one compound SELECT (a 400-day range has 401 days).
    for part in range(0, len(slices), COMPOUND_LIMIT):
        counts = [
            select(literal(b, UtcDateTime()).label("bucket"), func.count().label("events")).where(
                E.at >= lo, E.at < hi
            )
            for b, lo, hi in slices[part : part + COMPOUND_LIMIT]
        ]
        rows += session.execute(union_all(*counts) if len(counts) > 1 else counts[0]).all()
    return rows


def writes_over_time(session: Session, scope: Scope, unit: str | None = None) -> pd.DataFrame:
    """Events written per bucket of the scope's range (empty buckets left out): columns bucket, events, seconds
    (of the bucket inside the range), per_second. Whole hours from events_hourly, the edges from the log."""
    unit = unit or scope.unit
    step = timedelta(seconds=UNIT_SECONDS[unit])
    cut = split(session, scope, dims=DIMENSIONS) if unit != "minute" else Split(None, (scope,))
    rows: list[Any] = []
    if cut.rolled:
        b = bucket(EH.hour, unit)
        rows += session.execute(
            select(b, func.sum(EH.events))
            .where(EH.hour >= cut.rolled[0], EH.hour < cut.rolled[1])
            .group_by(b)
        ).all()
    for part in cut.raw:
        rows += _raw_writes(session, part, unit)
    frame = to_frame(rows, ["bucket", "events"])
    frame["bucket"] = pd.to_datetime(frame["bucket"])
    frame["events"] = frame["events"].astype("int64")
    frame = frame.groupby("bucket", as_index=False)["events"].sum()
    frame = frame[frame["events"] > 0].sort_values("bucket").reset_index(drop=True)
    # The first and the last bucket may lie partly outside the range: a rate over the whole bucket would dip.
    starts = frame["bucket"].clip(lower=pd.Timestamp(scope.start))
    ends = (frame["bucket"] + pd.Timedelta(step)).clip(upper=pd.Timestamp(scope.end))
    frame["seconds"] = (ends - starts).dt.total_seconds().clip(lower=1.0)
    frame["per_second"] = frame["events"] / frame["seconds"]
    return frame


@dataclass(frozen=True)
class PeakMinute:
    minute: datetime
    events: int

    @property
    def per_second(self) -> float:
        return self.events / 60.0


def busiest_minute(session: Session, scope: Scope, writes: pd.DataFrame) -> PeakMinute | None:
    """The busiest minute of the range: over whole hours, the top of events_hourly's per-hour peaks; at the
    edges, a GROUP BY minute over the busiest bucket of `writes` (from writes_over_time) that the rollup does
    not cover. A sharper spike in a quieter edge bucket can hide from it."""
    if writes.empty:
        return None
    found: list[PeakMinute] = []
    cut = split(session, scope, dims=DIMENSIONS)
    if cut.rolled:
        row = session.execute(
            select(EH.peak_minute, EH.peak_events)
            .where(EH.hour >= cut.rolled[0], EH.hour < cut.rolled[1])
            .order_by(EH.peak_events.desc(), EH.peak_minute)
            .limit(1)
        ).first()
        if row is not None:
            found.append(PeakMinute(row[0], int(row[1])))
    outside = writes
    if cut.rolled:
        rolled = (writes["bucket"] >= pd.Timestamp(cut.rolled[0])) & (
            writes["bucket"] < pd.Timestamp(cut.rolled[1])
        )
        outside = writes[~rolled]
    if not outside.empty:
        top = outside.loc[outside["events"].idxmax()]
        lo = max(top["bucket"].to_pydatetime(), scope.start)
        hi = min(lo + timedelta(seconds=float(top["seconds"])), scope.end)
        minute = bucket(E.at, "minute")
        row = session.execute(
            select(minute, func.count().label("n"))
            .where(E.at >= lo, E.at < hi)
            .group_by(minute)
            .order_by(func.count().desc(), minute)
            .limit(1)
        ).first()
        if row is not None:
            found.append(PeakMinute(pd.Timestamp(row[0]).to_pydatetime(), int(row[1])))
    return max(found, key=lambda p: (p.events, -p.minute.timestamp()), default=None)


def writes_now(session: Session, now: datetime, seconds: int = 60) -> float:
    """Events per second over the last `seconds` (a short range of ix_task_events_at)."""
    n = session.scalar(select(func.count()).where(E.at >= now - timedelta(seconds=seconds), E.at <= now))
    return int(n or 0) / seconds


def event_total(session: Session) -> int:
    """Rows ever appended to the event log: max(seq) is one index step where count(*) reads 23 M rows.
    (An upper bound on PostgreSQL, whose sequence skips values of rolled-back transactions.)"""
    return int(session.scalar(select(func.max(E.seq))) or 0)


def events_before(session: Session, at: datetime) -> int:
    """Events appended before `at`, from the seq of the first event at or after it (one index seek)."""
    first = session.scalar(select(E.seq).where(E.at >= at).order_by(E.at, E.seq).limit(1))
    return event_total(session) if first is None else int(first) - 1


def event_growth(session: Session, scope: Scope, daily: pd.DataFrame) -> pd.DataFrame:
    """Events per day (`daily`, from writes_over_time(…, "day")) with the log's running total: columns day,
    events, cumulative."""
    base = events_before(session, scope.start)
    frame = pd.DataFrame({"day": daily["bucket"], "events": daily["events"]}).reset_index(drop=True)
    frame["cumulative"] = base + frame["events"].cumsum()
    return frame


# ---------------------------------------------------------------- commit latency


@dataclass(frozen=True)
class Latency:
    """Commit latency over some window: weighted p50, worst p95 (ms)."""

    commits: int
    events: int
    p50_ms: float | None
    p95_ms: float | None
    max_ms: float | None
    source: str  # "ring" (this process, live) or "write_stats" (all processes, one flushed minute)
    at: datetime | None = None


def _latency_columns() -> list[ColumnElement[Any]]:
    commits = func.sum(W.commits)
    return [
        commits.label("commits"),
        func.sum(W.events).label("events"),
        # A minute's p50 across processes, weighted by how many commits each made; the worst p95 of any.
        (func.sum(W.p50_ms * W.commits) / func.nullif(commits, 0)).label("p50_ms"),
        func.max(W.p95_ms).label("p95_ms"),
        func.max(W.max_ms).label("max_ms"),
        (func.sum(W.total_ms) / func.nullif(commits, 0)).label("mean_ms"),
        func.count(func.distinct(W.process)).label("processes"),
    ]


def commit_latency(session: Session, scope: Scope, unit: str | None = None) -> pd.DataFrame:
    """Flushed commit statistics of all processes per bucket: columns bucket, commits, events, p50_ms, p95_ms,
    max_ms, mean_ms, processes, commits_per_second, events_per_second."""
    unit = unit or scope.unit
    b = bucket(W.minute, unit)
    rows = session.execute(
        select(b.label("bucket"), *_latency_columns())
        .where(W.minute >= scope.start, W.minute < scope.end)
        .group_by(b)
        .order_by(b)
    ).all()
    columns = ["bucket", "commits", "events", "p50_ms", "p95_ms", "max_ms", "mean_ms", "processes"]
    frame = to_frame(rows, columns)
    frame["bucket"] = pd.to_datetime(frame["bucket"])
    for col in ("p50_ms", "p95_ms", "max_ms", "mean_ms"):
        frame[col] = frame[col].astype("float64")
    frame["commits_per_second"] = frame["commits"].astype("float64") / UNIT_SECONDS[unit]
    frame["events_per_second"] = frame["events"].astype("float64") / UNIT_SECONDS[unit]
    return frame


def latest_flushed_minute(session: Session) -> Latency | None:
    """The newest minute in write_stats, over all processes that flushed it."""
    newest = select(func.max(W.minute)).scalar_subquery()
    row = session.execute(
        select(W.minute, *_latency_columns()).where(W.minute == newest).group_by(W.minute)
    ).first()
    if row is None:
        return None
    return Latency(
        int(row.commits), int(row.events), row.p50_ms, row.p95_ms, row.max_ms, "write_stats", row.minute
    )


def live_latency(stats: CommitStats, seconds: float = 60.0) -> Latency | None:
    """This process's commits over the last `seconds`, from its in-memory ring (no query)."""
    samples = stats.recent(seconds)
    if not samples:
        return None
    ms = sorted(s.ms for s in samples)
    return Latency(
        len(ms), sum(s.events for s in samples), percentile(ms, 50), percentile(ms, 95), ms[-1], "ring"
    )


# ---------------------------------------------------------------- update frequency


def _label(lo: int, hi: int | None) -> str:
    if hi is None:
        return f"{lo:,}+"
    return f"{lo:,}" if hi - lo == 1 else f"{lo:,}–{hi - 1:,}"


def update_histogram(session: Session, scope: Scope) -> pd.DataFrame:
    """tasks.update_count of tasks created in the range, binned by UPDATE_EDGES: columns bin, lo, hi
    (exclusive; None for the last), label, tasks, updates; from the lowest to the highest non-empty bin. From
    the histogram rollups, the edges binned in SQL from the tasks (db/analytics/histograms.py)."""
    per_kind = histograms.read(session, scope, ("updates",))["updates"]
    found: dict[int, tuple[int, int]] = {}
    for per_bin in per_kind.values():
        for b, (n, total) in per_bin.items():
            tasks, updates = found.get(b, (0, 0))
            found[b] = (tasks + n, updates + round(total))
    records = []
    for n in range(min(found, default=0), max(found, default=-1) + 1):
        lo = UPDATE_EDGES[n]
        hi = UPDATE_EDGES[n + 1] if n + 1 < len(UPDATE_EDGES) else None
        tasks, updates = found.get(n, (0, 0))
        records.append((n, lo, hi, _label(lo, hi), tasks, updates))
    return pd.DataFrame(records, columns=["bin", "lo", "hi", "label", "tasks", "updates"])


def busiest_running(session: Session, now: datetime, limit: int = 10) -> pd.DataFrame:
    """Running tasks with the most updates per minute since they were created: columns task_id, title,
    update_count, minutes, per_minute. Running tasks are few and found through ix_tasks_claim."""
    # `now` is naive UTC; datetime.timestamp() would read a naive value as local time.
    age = literal(now.replace(tzinfo=UTC).timestamp()) - epoch(T.created_at)
    seconds = case((age < 1.0, 1.0), else_=age)
    rate = (T.update_count * 60.0 / seconds).label("per_minute")
    rows = session.execute(
        select(T.id, T.title, T.update_count, (seconds / 60.0).label("minutes"), rate)
        .where(T.status == TaskStatus.RUNNING.value)
        .order_by(rate.desc(), T.id)
        .limit(limit)
    ).all()
    return to_frame(rows, ["task_id", "title", "update_count", "minutes", "per_minute"])


# ---------------------------------------------------------------- connection pools (no query)


def _pool_row(name: str, engine: Engine) -> dict[str, Any]:
    pool = engine.pool

    def call(method: str) -> int | None:
        fn = getattr(pool, method, None)  # QueuePool has these; NullPool / StaticPool do not
        return int(fn()) if callable(fn) else None

    size = call("size")
    max_overflow = getattr(pool, "_max_overflow", None)
    capacity = None if size is None or max_overflow is None or max_overflow < 0 else size + max_overflow
    # QueuePool.overflow() starts at -size and counts up as connections open, so it is negative until the pool
    # has opened `size` of them; connections beyond the size are never fewer than none.
    overflow = call("overflow")
    return {
        "engine": name,
        "pool": type(pool).__name__,
        "size": size,
        "capacity": capacity,
        "checked_out": call("checkedout"),
        "checked_in": call("checkedin"),
        "overflow": None if overflow is None else max(0, overflow),
        "status": pool.status(),
    }


def pool_usage(db: Database) -> pd.DataFrame:
    """SQLAlchemy's own counters for each pool: columns engine, pool, size, capacity (size + max overflow),
    checked_out, checked_in, overflow, status. Read before opening a session, or it counts itself."""
    if db.read_engine is db.write_engine:
        rows = [_pool_row("read + write", db.write_engine)]
    else:
        rows = [_pool_row("write", db.write_engine), _pool_row("read", db.read_engine)]
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- sizes


@dataclass(frozen=True)
class DatabaseSize:
    bytes: int
    free_bytes: int | None = None  # SQLite: pages on the freelist
    wal_bytes: int | None = None  # SQLite: the -wal file next to the database


def database_size(session: Session) -> DatabaseSize:
    if session.get_bind().dialect.name == "postgresql":
        return DatabaseSize(int(session.scalar(text("SELECT pg_database_size(current_database())")) or 0))
    page_size = int(session.scalar(text("PRAGMA page_size")) or 0)
    pages = int(session.scalar(text("PRAGMA page_count")) or 0)
    free = int(session.scalar(text("PRAGMA freelist_count")) or 0)
    path = session.scalar(text("SELECT file FROM pragma_database_list WHERE name = 'main'"))
    wal = Path(f"{path}-wal") if path else None
    wal_bytes = wal.stat().st_size if wal is not None and wal.exists() else None
    return DatabaseSize(pages * page_size, free * page_size, wal_bytes)


TABLE_COLUMNS = ["table", "rows", "rows_exact", "table_bytes", "index_bytes", "total_bytes"]


def table_sizes(session: Session) -> pd.DataFrame:
    """Per table: columns table, rows, rows_exact (False: an estimate), table_bytes, index_bytes, total_bytes
    (None where not measured), largest first."""
    if session.get_bind().dialect.name == "postgresql":
        frame = _pg_table_sizes(session)
    else:
        frame = _sqlite_table_sizes(session)
    return frame.sort_values(["total_bytes", "rows"], ascending=False, na_position="last").reset_index(
        drop=True
    )


def _quote(session: Session, name: str) -> str:
    return str(session.get_bind().dialect.identifier_preparer.quote(name))


def _exact_count(session: Session, table: str) -> int:
    return int(session.scalar(text(f"SELECT count(*) FROM {_quote(session, table)}")) or 0)


def _pg_table_sizes(session: Session) -> pd.DataFrame:
    # The catalog and the relation files only: no table is read.
    rows = session.execute(
        text(
            "SELECT c.relname, pg_relation_size(c.oid), pg_total_relation_size(c.oid) - pg_indexes_size(c.oid),"
            " pg_indexes_size(c.oid), pg_total_relation_size(c.oid), c.reltuples"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema()"
        )
    ).all()
    records = []
    for name, heap, table_bytes, index_bytes, total, reltuples in rows:
        count: int | None
        if int(heap) <= EXACT_BYTES_BELOW:
            count, exact = _exact_count(session, name), True
        else:  # reltuples is -1 until the table is first vacuumed or analyzed
            count, exact = (int(reltuples) if reltuples >= 0 else None), False
        records.append((name, count, exact, int(table_bytes), int(index_bytes), int(total)))
    return pd.DataFrame(records, columns=TABLE_COLUMNS)


def _sqlite_table_sizes(session: Session) -> pd.DataFrame:
    objects = session.execute(
        text("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE type IN ('table', 'index')")
    ).all()
    tables = [o.name for o in objects if o.type == "table" and not o.name.startswith("sqlite_")]
    owner = {o.name: o.tbl_name for o in objects}
    pages: dict[str, int] = {}
    if _dbstat_usable(session):
        for name, size in session.execute(text("SELECT name, sum(pgsize) FROM dbstat GROUP BY name")):
            pages[str(name)] = int(size)
    stat1: dict[str, int] = {}
    if "sqlite_stat1" in owner:  # written by ANALYZE; the first number of a stat is the table's row count
        stat1 = dict(
            session.execute(
                text("SELECT tbl, max(CAST(stat AS INTEGER)) FROM sqlite_stat1 GROUP BY tbl")
            ).all()
        )
    without_rowid = {o.name for o in objects if o.sql and "WITHOUT ROWID" in o.sql.upper()}
    records = []
    for table in tables:
        # max(rowid) is one step down the b-tree: an upper bound on the rows (deletes leave gaps).
        top = (
            None
            if table in without_rowid
            else session.scalar(text(f"SELECT max(rowid) FROM {_quote(session, table)}"))
        )
        if top is None or int(top) < EXACT_ROWS_BELOW:
            count, exact = _exact_count(session, table), True
        else:
            count, exact = int(stat1.get(table, top)), False
        if pages:
            table_bytes = pages.get(table, 0)
            index_bytes = sum(
                size for name, size in pages.items() if name != table and owner.get(name) == table
            )
            sizes: tuple[int | None, ...] = (table_bytes, index_bytes, table_bytes + index_bytes)
        else:
            sizes = (None, None, None)
        records.append((table, count, exact, *sizes))
    return pd.DataFrame(records, columns=TABLE_COLUMNS)


def _dbstat_usable(session: Session) -> bool:
    compiled = session.scalar(
        text("SELECT count(*) FROM pragma_compile_options WHERE compile_options = 'ENABLE_DBSTAT_VTAB'")
    )
    if not compiled:
        return False
    size = int(session.scalar(text("PRAGMA page_count")) or 0) * int(
        session.scalar(text("PRAGMA page_size")) or 0
    )
    return size <= DBSTAT_MAX_BYTES


# ---------------------------------------------------------------- the live numbers, in one call


@dataclass(frozen=True)
class LiveSnapshot:
    writes_per_second: float
    events_total: int
    flushed: Latency | None
    size: DatabaseSize


def live_snapshot(session: Session, now: datetime) -> LiveSnapshot:
    """Everything the page's KPIs need from the database on each push: each is an index step or a pragma."""
    return LiveSnapshot(
        writes_now(session, now), event_total(session), latest_flushed_minute(session), database_size(session)
    )
