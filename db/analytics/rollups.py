"""Data layer: keeps the analytics rollups (db/analytics/rollup_tables.py) in step with the source rows. A refresh
recomputes the recent hours plus every older hour a change since the last refresh touched, and is
idempotent; the first one builds everything."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from db.analytics import rollup_spec, rollup_tables
from db.analytics.rollup_tables import Window
from db.core.models import Invocation, JobLease, Task, TaskEvent
from db.core.sqlfuncs import hour_floor, minute_floor
from db.core.timecol import as_datetime
from db.domain.states import TERMINAL, EventType
from db.lifecycle import horizon

JOB = "rollup:usage_hourly"
# The per-minute fold's record: last_run_at is where the minute tables end (the fold's time), last_key where
# they begin (db/analytics/rollcut.folded_until).
MINUTE_JOB = "rollup:minutes"
# Row timestamps come from each writer's clock and a transaction may commit a little after it read the time:
# changes stamped up to this long before the last refresh are looked at again.
SKEW = timedelta(minutes=5)
# Past this many separate old hours to redo, one window from the oldest up is cheaper than many small ones.
MAX_WINDOWS = 24
PG_LOCK = 7_291_002
COMPACTED = "retention:events-compacted"
BUILD_STEP = timedelta(days=7)
MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)

T = Task.__table__.c
I = Invocation.__table__.c  # noqa: E741
E = TaskEvent.__table__.c


def compacted_before(session: Session) -> datetime | None:
    """db/lifecycle/compaction.MARK's time (kept here: compaction imports this module, not the other way)."""
    key = session.scalar(select(JobLease.last_key).where(JobLease.name == COMPACTED))
    return datetime.fromisoformat(key) if key else None


def floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def floor_day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def serialise(session: Session) -> None:
    """Waits for, then holds until commit, the rollups' PostgreSQL advisory lock: refreshes, folds and what moves
    their marks (pruning, compaction) run one at a time (on SQLite the write transaction already does)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PG_LOCK})


def _stamp(session: Session, lease: JobLease | None, name: str, last_run_at: datetime, last_key: str) -> None:
    """Records a job's last run in its job_leases row, made on the first run."""
    if lease is None:
        session.add(
            JobLease(name=name, holder=None, expires_at=None, last_run_at=last_run_at, last_key=last_key)
        )
    else:
        lease.last_run_at, lease.last_key = last_run_at, last_key


def rebuild(session: Session, since: datetime | None) -> None:
    """Recompute every rollup from `since` (None: all of history) onwards."""
    if since is None:
        _apply(session, [None], [None])
    else:
        _apply(session, [(floor_hour(since), datetime.max)], [(floor_day(since), datetime.max)])


def _apply(session: Session, hours: list[Window], days: list[Window]) -> None:
    # Before the retention horizon the source rows may be pruned: a rebuild there would replace complete
    # counts with those of the survivors, so the rollups before it are final (db/lifecycle/horizon.py,
    # db/lifecycle/retention.py).
    edge = horizon.pruned_before(session)
    hours = [horizon.clip(w, edge) for w in hours if not horizon.frozen(w, edge)]
    days = [horizon.clip(w, edge) for w in days if not horizon.frozen(w, edge)]
    # Compacted events (db/lifecycle/compaction.py) are gone from the log but counted in events_hourly: its hours before
    # the compaction mark are final as well.
    compacted = compacted_before(session)
    for build in rollup_tables.HOURLY:
        for window in hours:
            if build is rollup_tables.events and compacted is not None:
                if horizon.frozen(window, compacted):
                    continue
                window = horizon.clip(window, compacted)
            build(session, window)
    for window in days:
        rollup_tables.daily(session, window)


def rebuild_windows(session: Session, hours: list[Window], days: list[Window]) -> None:
    """Rebuild these hour and day windows (never before the retention horizon)."""
    _apply(session, hours, days)


def _merge(spans: list[tuple[datetime, datetime]]) -> list[tuple[datetime, datetime]]:
    merged: list[tuple[datetime, datetime]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged


def _windows(starts: set[datetime], step: timedelta, gap: tuple[datetime, datetime]) -> list[Window]:
    """Windows covering each of `starts` (one step long) and the `gap`; one window from the oldest up when
    there are too many to do one by one."""
    spans = [(h, h + step) for h in starts if h < gap[1]] + ([gap] if gap[0] < gap[1] else [])
    merged = _merge(spans)
    if len(merged) > MAX_WINDOWS:
        return [(merged[0][0], gap[1])]
    return list(merged)


def _in_chunks(ids: list[int], size: int = 500) -> list[list[int]]:
    return [ids[n : n + size] for n in range(0, len(ids), size)]


def touched_hours(session: Session, since: datetime, before: datetime) -> set[datetime]:
    """Hours before `before` whose rollup rows a change stamped at or after `since` may have made stale: the
    creation, end and call hours of every task updated since then, and the hour a retried task had ended in
    before its retry cleared completed_at (found from its earlier terminal transition in the event log).
    Step by step with id lists, so each lookup is an index seek rather than a plan the planner might turn
    into a scan of a big table."""
    terminal = [s.value for s in TERMINAL]
    found: set[datetime] = set()
    changed: list[int] = []
    for task_id, created, completed in session.execute(
        # A task created in the hour in progress has no hour before `before` (its calls and end come later),
        # so it is left out here: a deep queue just submitted cost this job a read of every queued task,
        # a minute at a time, inside the write transaction that stalls the workers' claims (issue 15).
        select(T.id, T.created_at, T.completed_at).where(T.last_updated_at >= since, T.created_at < before)
    ):
        changed.append(int(task_id))
        found.update(floor_hour(at) for at in (created, completed) if at is not None)
    # No DISTINCT here: SQLite would walk the (task_id, seq) index for it, all of the log, instead of the
    # few recent events ix_task_events_at finds.
    retried = set(
        session.scalars(
            select(E.task_id).where(
                E.at >= since, E.type == EventType.TRANSITION.value, E.from_status.in_(terminal)
            )
        )
    )
    for ids in _in_chunks(changed):
        found.update(
            map(
                as_datetime,
                session.scalars(select(hour_floor(I.started_at)).where(I.task_id.in_(ids)).distinct()),
            )
        )
    for ids in _in_chunks(sorted(int(i) for i in retried if i is not None)):
        ends = select(hour_floor(E.at)).where(
            E.task_id.in_(ids), E.type == EventType.TRANSITION.value, E.to_status.in_(terminal)
        )
        found.update(map(as_datetime, session.scalars(ends.distinct())))
    return {h for h in found if h < before}


def needs_first_build(session: Session) -> bool:
    """No refresh has run yet (migration 0005 drops the lease of the older, usage-only rollup, so an upgraded
    database builds every table once)."""
    lease = session.get(JobLease, JOB)
    return lease is None or lease.last_run_at is None


def first_build_windows(
    session: Session, now: datetime, step: timedelta = BUILD_STEP
) -> list[tuple[datetime, datetime]]:
    """Windows of `step` from the oldest row up to the current hour, for a first build in short transactions."""
    oldest = [session.scalar(select(func.min(T.created_at))), session.scalar(select(func.min(E.at)))]
    known = [o for o in oldest if o is not None]
    if not known:
        return []
    start, end = floor_day(min(known)), floor_hour(now)
    windows = []
    while start < end:
        windows.append((start, min(start + step, end)))
        start += step
    return windows


def refresh_in_steps(transaction: Callable[[], AbstractContextManager[Session]], now: datetime) -> None:
    """What a worker's periodic job runs. A first build over a big history (an upgraded database) would hold
    the write lock for minutes in one transaction, so it goes a week per transaction, oldest first; readers
    use the source rows until the closing refresh records the build. Then the usual refresh."""
    with transaction() as session:
        windows = first_build_windows(session, now) if needs_first_build(session) else []
    for window in windows:
        with transaction() as session:
            _apply(session, [window], [window])
    with transaction() as session:
        refresh(session, now, built=bool(windows))


def _incremental(session: Session, now: datetime, since: datetime) -> None:
    hour, day = floor_hour(now), floor_day(now)
    touched = touched_hours(session, since - SKEW, hour)
    # Always the last whole hour, so usage recorded just after its hour ended is folded in.
    last = min(floor_hour(since), hour - HOUR)
    hours = _windows(touched, HOUR, (last, hour))
    days = _windows({floor_day(h) for h in touched}, DAY, (floor_day(since), day))
    _apply(session, hours, days)


def refresh(session: Session, now: datetime, built: bool = False) -> None:
    """Everything on the first run; after that the whole hours and days
    completed since the last refresh, and the older ones a change since then touched. The hour and day in
    progress are left to the readers, who take them from the source rows (db/analytics/rollcut.py). Safe from several
    workers at once: on PostgreSQL an advisory lock serialises them, on SQLite the write transaction does."""
    serialise(session)
    lease = session.get(JobLease, JOB)
    if lease is None or lease.last_run_at is None:
        if not built:
            _apply(session, [None], [None])
        else:  # refresh_in_steps built it all up to this hour: what changed meanwhile, and the last hour
            _incremental(session, now, since=now)
    else:
        _incremental(session, now, since=lease.last_run_at)
    _stamp(session, lease, JOB, now, now.isoformat())


# --- the hour in progress, per minute ----------------------------------------------------------------------


def _hour_cut(session: Session) -> datetime | None:
    lease = session.get(JobLease, JOB)
    return None if lease is None or lease.last_run_at is None else floor_hour(lease.last_run_at)


def touched_minutes(session: Session, since: datetime, after: datetime) -> set[datetime]:
    """Minutes from `after` on whose per-minute rows a change stamped at or after `since` may have made
    stale: the creation and end minutes of every task updated since then (its status is a dimension), the
    minutes its calls started in (a call's end changes its start minute's measures), and the minute a retried
    task had ended in before its retry cleared completed_at."""
    changed: list[int] = []
    found: set[datetime] = set()
    for task_id, created, completed in session.execute(
        select(T.id, T.created_at, T.completed_at).where(T.last_updated_at >= since)
    ):
        changed.append(int(task_id))
        found.update(floor_minute(at) for at in (created, completed) if at is not None and at >= after)
    for ids in _in_chunks(changed):
        minutes = select(minute_floor(I.started_at)).where(I.task_id.in_(ids), I.started_at >= after)
        found.update(map(as_datetime, session.scalars(minutes.distinct())))
    retried = select(minute_floor(E.at)).where(
        E.at >= after,
        E.type == EventType.TRANSITION.value,
        E.to_status.in_([s.value for s in TERMINAL]),
        E.task_id.in_(
            select(E.task_id).where(
                E.at >= since,
                E.type == EventType.TRANSITION.value,
                E.from_status.in_([s.value for s in TERMINAL]),
            )
        ),
    )
    found.update(map(as_datetime, session.scalars(retried.distinct())))
    return found


def fold_minutes(session: Session, now: datetime) -> None:
    """Folds the rows since the last fold (and the older minutes of the hours in progress that changes since
    then touched) into the per-minute tables, up to the start of `now`'s minute: readers take those minutes
    as buckets and only the rows after them from the source (db/analytics/rollcut.cut). Rows stamped up to SKEW before
    the last fold are looked at again, as the hourly refresh does, for a writer that committed late.
    Serialised with the hourly refresh as that is; nothing until the hourly rollups exist."""
    serialise(session)
    hour_cut = _hour_cut(session)
    if hour_cut is None or now <= hour_cut:
        return
    lease = session.get(JobLease, MINUTE_JOB)
    since: datetime | None = None
    last: datetime | None = None
    if lease is not None and lease.last_run_at is not None and lease.last_key:
        since, last = datetime.fromisoformat(lease.last_key), lease.last_run_at
    if since is not None and last is not None and since <= hour_cut < last:
        start = max(hour_cut, floor_minute(last - SKEW))
        touched = {m for m in touched_minutes(session, last - SKEW, hour_cut) if m < start}
    else:  # the first fold, or the hourly refresh has passed the minutes: start again from its cut
        since = start = max(hour_cut, floor_hour(now) - DAY)
        touched = set()
    # Whole minutes only: a reader's rows after the last one are the raw tail, so a fold committed while it
    # reads (PostgreSQL reads each statement's own snapshot) cannot count a row on both sides.
    until = floor_minute(now)
    for window in _windows(touched, MINUTE, (start, until)):
        for spec in rollup_spec.MINUTE_SPECS:
            spec.fold(session, window, "minute")
    for spec in rollup_spec.MINUTE_SPECS:  # minutes the hourly tables have had for a day
        table = spec.tables["minute"]
        session.execute(delete(table).where(table.c.minute < hour_cut - DAY))
    _stamp(session, lease, MINUTE_JOB, until, since.isoformat())


def refold_minutes(session: Session, since: datetime) -> None:
    """Folds the per-minute rows from `since` to the last fold again (a task deleted: its rows are gone)."""
    lease = session.get(JobLease, MINUTE_JOB)
    if lease is not None and lease.last_run_at is not None and since < lease.last_run_at:
        for spec in rollup_spec.MINUTE_SPECS:
            spec.fold(session, (floor_minute(since), lease.last_run_at), "minute")
