"""Data layer: typed SQLAlchemy 2.x models for tasks, the event log, invocations, activity and workers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from db.core.timecol import UtcDateTime

# SQLite only auto-increments a column declared exactly INTEGER PRIMARY KEY (its rowid); PostgreSQL gets BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    # SQLAlchemy reads this class attribute once, when mapping; it is never mutated.
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON, datetime: UtcDateTime()}  # noqa: RUF012


SCHEDULED = text("schedule_id IS NOT NULL")


class Task(Base):
    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    title: Mapped[str] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(20))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    priority: Mapped[int] = mapped_column(Integer, default=0)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    external_id: Mapped[str | None] = mapped_column(String(200), unique=True)
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    max_attempts: Mapped[int] = mapped_column(Integer, default=1)
    current_iteration: Mapped[int] = mapped_column(Integer, default=0)
    max_iterations: Mapped[int | None] = mapped_column(Integer)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    progress_message: Mapped[str | None] = mapped_column(Text)
    result: Mapped[Any | None] = mapped_column(JSON)
    error_message: Mapped[str | None] = mapped_column(Text)
    failure_reason: Mapped[str | None] = mapped_column(String(40))
    timeout_seconds: Mapped[float | None] = mapped_column(Float)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    worker_id: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None]
    # Where the running attempt's command runs: its host and process group (the group of the command's guard),
    # so that the next worker on that host can kill what a dead worker left behind before the task is re-run.
    run_host: Mapped[str | None] = mapped_column(String(255))
    run_pgid: Mapped[int | None] = mapped_column(Integer)
    # A task a schedule made: which schedule and for which fire time, unique together, so N workers firing the
    # same time make one task (db/control/schedule_fire.py; migration 0012).
    schedule_id: Mapped[int | None] = mapped_column(BigInteger)
    scheduled_for: Mapped[datetime | None]
    available_at: Mapped[datetime]
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    last_updated_at: Mapped[datetime]
    last_activity_at: Mapped[datetime | None]
    update_count: Mapped[int] = mapped_column(Integer, default=0)
    invocation_count: Mapped[int] = mapped_column(Integer, default=0)
    activity_count: Mapped[int] = mapped_column(Integer, default=0)
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_read_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    archived_at: Mapped[datetime | None]
    # Created because an event or span named it before it was described (migration 0011): its title is a
    # stand-in until its `task` event (or OTLP root span) fills it in.
    placeholder: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))

    __table_args__ = (
        # No index on created_at alone: ix_tasks_created_status (created_at, status) serves every query on it
        # (migration 0014 dropped the redundant one).
        Index("ix_tasks_last_updated_at", "last_updated_at"),
        Index("ix_tasks_completed_at", "completed_at"),
        # "The newest N tasks that ended as X" and today's outcomes, fast with or without planner statistics.
        Index("ix_tasks_status_completed", "status", "completed_at"),
        # Analytics: tasks of a range by outcome (covering), and the most expensive tasks.
        Index("ix_tasks_created_status", "created_at", "status"),
        Index("ix_tasks_cost", "cost_usd"),
        Index("ix_tasks_worker_status", "worker_id", "status"),
        # Partial (migration 0015): most tasks come from no schedule and pay for neither.
        Index(
            "uq_tasks_schedule_fire",
            "schedule_id",
            "scheduled_for",
            unique=True,
            sqlite_where=SCHEDULED,
            postgresql_where=SCHEDULED,
        ),
        Index(
            "ix_tasks_schedule_status",
            "schedule_id",
            "status",
            sqlite_where=SCHEDULED,
            postgresql_where=SCHEDULED,
        ),
    )


# The claim query: queued tasks by priority (highest first) then age, read in index order. With ascending
# priority both databases sorted every queued row of a priority on each claim, so claims slowed as the queue
# grew (issue 15; migration 0012).
Index("ix_tasks_claim", Task.status, Task.priority.desc(), Task.id)


class TaskTag(Base):
    """One row per (task, tag) so tag filters use an index at a million tasks."""

    __tablename__ = "task_tags"

    task_id: Mapped[int] = mapped_column(BigId, ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(String(100), primary_key=True)

    __table_args__ = (Index("ix_task_tags_tag", "tag", "task_id"),)


class TaskEvent(Base):
    """The append-only event log; `seq` is the cursor every listener and websocket client resumes from."""

    __tablename__ = "task_events"

    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    task_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("tasks.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str | None] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200), default="system")
    correlation_id: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    at: Mapped[datetime]

    __table_args__ = (
        Index("ix_task_events_task_seq", "task_id", "seq"),
        Index("ix_task_events_at", "at"),
    )


class IngestedEvent(Base):
    """The ledger of client event ids that POST /api/v1/events has recorded, so a retried batch is not
    recorded twice. An id is unique within its task; the row goes when its task is deleted."""

    __tablename__ = "ingested_events"

    task_id: Mapped[int] = mapped_column(BigId, ForeignKey("tasks.id", ondelete="CASCADE"), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    at: Mapped[datetime]


class Invocation(Base):
    """One model or tool call made while working on a task."""

    __tablename__ = "invocations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    task_id: Mapped[int] = mapped_column(BigId, ForeignKey("tasks.id", ondelete="CASCADE"))
    iteration: Mapped[int | None] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(100), default="")
    provider: Mapped[str] = mapped_column(String(100), default="")
    model: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(20), default="running")
    started_at: Mapped[datetime]
    completed_at: Mapped[datetime | None]
    # NULL once the call has finished and said nothing after its end: read it through
    # db/domain/liveness.call_last_activity (migration 0020; it repeated completed_at).
    last_activity_at: Mapped[datetime | None]
    input_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    output_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_read_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_usd: Mapped[float] = mapped_column(Float, default=0.0)
    prompt: Mapped[str | None] = mapped_column(Text)
    response: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    # The call tree (migration 0011): what the call is (db/domain/states.CallKind), the call it was made in (a stored
    # id with no foreign key: a child may be reported before its parent), its name (a tool's, an agent's,
    # a span's) and its messages as db/write/messages.py packs them.
    kind: Mapped[str] = mapped_column(String(20), default="llm", server_default="llm")
    parent_id: Mapped[str | None] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    messages: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Created because its end, usage or a child named it before its start was reported; the start fills it in.
    placeholder: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))

    __table_args__ = (
        # task_id alone (migration 0015): reads by task take all its calls and sort them by (started_at, id).
        Index("ix_invocations_task", "task_id"),
        Index("ix_invocations_started_at", "started_at"),
        Index("ix_invocations_cost", "cost_usd"),
        # One model's calls, newest first (the calls list under ?model=; migration 0021).
        Index("ix_invocations_model_started", "model", "started_at"),
    )


class Activity(Base):
    """A line of what a task is doing: a tool call, a line of output, an error, a progress note."""

    __tablename__ = "activity"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    task_id: Mapped[int] = mapped_column(BigId, ForeignKey("tasks.id", ondelete="CASCADE"))
    invocation_id: Mapped[str | None] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(20))
    stream: Mapped[str | None] = mapped_column(String(10))
    message: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime]

    __table_args__ = (
        Index("ix_activity_task", "task_id", "id"),
        # Tool calls by time, for the tool-use analytics; partial, so other lines cost no index upkeep.
        Index(
            "ix_activity_tool_at",
            "at",
            sqlite_where=text("type = 'tool_exec'"),
            postgresql_where=text("type = 'tool_exec'"),
        ),
    )


class Worker(Base):
    """A worker process (an agent host): registered on start, kept alive by its heartbeat."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="online")
    concurrency: Mapped[int] = mapped_column(Integer, default=1)
    running_count: Mapped[int] = mapped_column(Integer, default=0)
    current_task_id: Mapped[int | None] = mapped_column(BigId)
    started_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    stopped_at: Mapped[datetime | None]
    tasks_completed: Mapped[int] = mapped_column(Integer, default=0)
    tasks_failed: Mapped[int] = mapped_column(Integer, default=0)
    # Fleet control (migration 0012): "drain" (finish what runs, claim nothing — checked by the claim itself,
    # so it holds from the commit that sets it) or "stop" (drain, then exit); NULL claims as usual. What the
    # worker claims at all: only these kinds / only tasks carrying one of these tags (NULL: any).
    control: Mapped[str | None] = mapped_column(String(10))
    claim_kinds: Mapped[list[str] | None] = mapped_column(JSON)
    claim_tags: Mapped[list[str] | None] = mapped_column(JSON)


class BrokerQueue(Base):
    """A Celery broker queue's waiting messages as the Celery source last measured them (migration 0013): the
    broker's masked URL and the queue's name; NULL messages when the broker does not know the queue."""

    __tablename__ = "broker_queues"

    broker: Mapped[str] = mapped_column(String(200), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    messages: Mapped[int | None] = mapped_column(Integer)
    measured_at: Mapped[datetime]


class JobLease(Base):
    """A lease that lets exactly one of N workers run a periodic singleton job (sweeps, reports, rollups)."""

    __tablename__ = "job_leases"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(200))
    expires_at: Mapped[datetime | None]
    last_run_at: Mapped[datetime | None]
    last_key: Mapped[str | None] = mapped_column(String(200))


class WriteStat(Base):
    """Per-process, per-minute commit latency of the write path, for the database-perspective views."""

    __tablename__ = "write_stats"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    minute: Mapped[datetime]
    process: Mapped[str] = mapped_column(String(200))
    commits: Mapped[int] = mapped_column(Integer)
    events: Mapped[int] = mapped_column(Integer)
    total_ms: Mapped[float] = mapped_column(Float)
    p50_ms: Mapped[float] = mapped_column(Float)
    p95_ms: Mapped[float] = mapped_column(Float)
    max_ms: Mapped[float] = mapped_column(Float)

    __table_args__ = (
        UniqueConstraint("minute", "process", name="uq_write_stats_minute_process"),
        Index("ix_write_stats_minute", "minute"),
    )


class Budget(Base):
    """A spending limit per day, week or month — overall, or for one tag or one creator."""

    __tablename__ = "budgets"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    period: Mapped[str] = mapped_column(String(10))  # day | week | month
    limit_usd: Mapped[float] = mapped_column(Float)
    scope_kind: Mapped[str] = mapped_column(String(20), default="all")  # all | tag | created_by
    scope_value: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]


class _UsageColumns:
    """The usage rollups' dimensions and measures (db/analytics/rollup_spec.USAGE), hourly and per minute alike."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    model: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(100))
    provider: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(20))
    calls: Mapped[int] = mapped_column(Integer)
    failed_calls: Mapped[int] = mapped_column(Integer)
    input_tokens: Mapped[int] = mapped_column(BigInteger)
    output_tokens: Mapped[int] = mapped_column(BigInteger)
    cache_read_tokens: Mapped[int] = mapped_column(BigInteger)
    cost_usd: Mapped[float] = mapped_column(Float)
    duration_s: Mapped[float] = mapped_column(Float)


class UsageHourly(_UsageColumns, Base):
    """Calls, tokens and cost per hour and dimension, rolled up from invocations by a worker job, so cost
    analytics over 90 days read thousands of rows instead of millions. Only low-cardinality dimensions are
    kept (about 30 rows an hour): tags, creators and workers would multiply the rows, so filters on them read
    the invocations themselves."""

    __tablename__ = "usage_hourly"

    hour: Mapped[datetime]
    finished_calls: Mapped[int] = mapped_column(Integer, server_default="0")

    __table_args__ = (Index("ix_usage_hourly_hour", "hour"),)


class UsageMinutely(_UsageColumns, Base):
    """usage_hourly's rows per minute, for the hours the hourly refresh has not reached yet: a frequent fold
    (db/analytics/rollups.fold_minutes) keeps them, so an answer reads the hour in progress as at most 60 buckets
    instead of every call in it (issue 16). Rows older than a day before the hourly cut are pruned."""

    __tablename__ = "usage_minutely"

    minute: Mapped[datetime]
    finished_calls: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_usage_minutely_minute", "minute"),)


class UsageDaily(_UsageColumns, Base):
    """usage_hourly's rows summed per day (folded from them): a range of weeks or months reads its whole days
    here, the hours around them from usage_hourly."""

    __tablename__ = "usage_daily"

    day: Mapped[datetime]
    finished_calls: Mapped[int] = mapped_column(Integer)

    __table_args__ = (Index("ix_usage_daily_day", "day"),)


class _TaskColumns:
    """The ended-tasks rollups' dimensions and measures (db/analytics/rollup_spec.ENDED), hourly and daily."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    tasks: Mapped[int] = mapped_column(Integer)
    first_attempt: Mapped[int] = mapped_column(Integer)  # ended on their first attempt
    started: Mapped[int] = mapped_column(Integer)  # ever started (queue wait and run time are known)
    cycle_s: Mapped[float] = mapped_column(Float)  # sums over the started ones
    processing_s: Mapped[float] = mapped_column(Float)
    queue_s: Mapped[float] = mapped_column(Float)
    min_processing_s: Mapped[float | None] = mapped_column(Float)
    max_processing_s: Mapped[float | None] = mapped_column(Float)


class TaskHourly(_TaskColumns, Base):
    """Tasks that ended, per hour of completed_at, kind and final status: counts and time sums behind
    throughput, success, retry and average-duration figures. About a dozen rows an hour."""

    __tablename__ = "task_hourly"

    hour: Mapped[datetime]

    __table_args__ = (Index("ix_task_hourly_hour", "hour"),)


class TaskDaily(_TaskColumns, Base):
    """task_hourly's rows combined per day (folded from them), for the whole days of long ranges."""

    __tablename__ = "task_daily"

    day: Mapped[datetime]

    __table_args__ = (Index("ix_task_daily_day", "day"),)


class _CreatedColumns:
    """The created-tasks rollups' dimensions and measure (db/analytics/rollup_spec.CREATED), hourly and per minute."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    tasks: Mapped[int] = mapped_column(Integer)


class CreatedHourly(_CreatedColumns, Base):
    """Tasks created, per hour of created_at, kind and current status (volume, peak hours, cost per task)."""

    __tablename__ = "created_hourly"

    hour: Mapped[datetime]

    __table_args__ = (Index("ix_created_hourly_hour", "hour"),)


class CreatedMinutely(_CreatedColumns, Base):
    """created_hourly's rows per minute, for the hours the hourly refresh has not reached (as UsageMinutely)."""

    __tablename__ = "created_minutely"

    minute: Mapped[datetime]

    __table_args__ = (Index("ix_created_minutely_minute", "minute"),)


class _FinishedColumns:
    """The ended-tasks rollups' dimensions and measures (db/analytics/rollup_spec.FINISHED), hourly and per minute."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    worker: Mapped[str | None] = mapped_column(String(64))  # the task's worker_id
    tasks: Mapped[int] = mapped_column(Integer)
    started: Mapped[int] = mapped_column(Integer)  # ever started: their run time is known
    run_s: Mapped[float] = mapped_column(Float)  # sum of the started ones' run time


class FinishedHourly(_FinishedColumns, Base):
    """Tasks that ended, per hour of completed_at, kind, final status and worker: the overview's outcome
    counts, average run time and per-worker outcomes read these instead of every task that ended today."""

    __tablename__ = "finished_hourly"

    hour: Mapped[datetime]

    __table_args__ = (Index("ix_finished_hourly_hour", "hour"),)


class FinishedMinutely(_FinishedColumns, Base):
    """finished_hourly's rows per minute, for the hours the hourly refresh has not reached (as UsageMinutely)."""

    __tablename__ = "finished_minutely"

    minute: Mapped[datetime]

    __table_args__ = (Index("ix_finished_minutely_minute", "minute"),)


class _RuntimeColumns:
    """The run-time rollups' dimensions and measure (db/analytics/rollup_spec.RUNTIMES), hourly and per minute."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20))
    bin: Mapped[int | None] = mapped_column(
        Integer
    )  # db/analytics/bins.py's bin of the run time; NULL: never started
    tasks: Mapped[int] = mapped_column(Integer)


class RuntimeHourly(_RuntimeColumns, Base):
    """Tasks that ended, per hour of completed_at, kind, final status and run-time bin: a percentile of
    today's run times adds bin counts instead of sorting today's tasks."""

    __tablename__ = "runtime_hourly"

    hour: Mapped[datetime]

    __table_args__ = (Index("ix_runtime_hourly_hour", "hour"),)


class RuntimeMinutely(_RuntimeColumns, Base):
    """runtime_hourly's rows per minute, for the hours the hourly refresh has not reached (as UsageMinutely)."""

    __tablename__ = "runtime_minutely"

    minute: Mapped[datetime]

    __table_args__ = (Index("ix_runtime_minutely_minute", "minute"),)


class WorkerHourly(Base):
    """Per worker, tasks that ended per hour of completed_at: outcomes and busy time for the fleet view."""

    __tablename__ = "worker_hourly"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    hour: Mapped[datetime]
    worker_id: Mapped[str] = mapped_column(String(64))
    done: Mapped[int] = mapped_column(Integer)
    failed: Mapped[int] = mapped_column(Integer)
    done_s: Mapped[float] = mapped_column(Float)  # run time of the completed ones
    busy_s: Mapped[float] = mapped_column(Float)  # run time of all that had started

    __table_args__ = (Index("ix_worker_hourly_hour", "hour"),)


class EventsHourly(Base):
    """Event-log writes per hour, with the busiest minute of the hour (the Database page's write rate)."""

    __tablename__ = "events_hourly"

    hour: Mapped[datetime] = mapped_column(primary_key=True)
    events: Mapped[int] = mapped_column(BigInteger)
    peak_minute: Mapped[datetime]
    peak_events: Mapped[int] = mapped_column(Integer)


class _ToolColumns:
    """The tool rollups' dimensions and measure (db/analytics/rollup_spec.TOOLS), hourly and daily."""

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(20))
    tool: Mapped[str] = mapped_column(String(200))
    calls: Mapped[int] = mapped_column(Integer)


class ToolHourly(_ToolColumns, Base):
    """`tool_exec` activity lines per hour, task kind and tool (the first word of the line)."""

    __tablename__ = "tool_hourly"

    hour: Mapped[datetime]

    __table_args__ = (Index("ix_tool_hourly_hour", "hour"),)


class ToolDaily(_ToolColumns, Base):
    """tool_hourly's rows summed per day (folded from them), for the whole days of long ranges."""

    __tablename__ = "tool_daily"

    day: Mapped[datetime]

    __table_args__ = (Index("ix_tool_daily_day", "day"),)


class HistogramDaily(Base):
    """Histograms per day in db/analytics/bins.py's log bins (non-empty bins only): by the day tasks ended, completed
    tasks' cycle and processing times and every started task's queue wait (keyed by kind); by the day calls
    started, finished calls' durations (keyed by role); by the day tasks were created, their update counts
    (keyed by kind, binned by db/analytics/insights.py's edges). Percentiles over long ranges add these counts instead
    of sorting millions of rows."""

    __tablename__ = "histogram_daily"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    day: Mapped[datetime]
    metric: Mapped[str] = mapped_column(String(20))  # cycle | queue | processing | call | updates
    key: Mapped[str] = mapped_column(String(100))
    bin: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer)
    total: Mapped[float] = mapped_column(Float)  # the sum of the values in the bin

    __table_args__ = (Index("ix_histogram_daily_day", "day"),)


class HistogramHourly(Base):
    """histogram_daily's counts per hour (histogram_daily is summed from these): a range's first and last
    partial days are read from here, so only minutes at its edges are binned from the source rows."""

    __tablename__ = "histogram_hourly"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    hour: Mapped[datetime]
    metric: Mapped[str] = mapped_column(String(20))
    key: Mapped[str] = mapped_column(String(100))
    bin: Mapped[int] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer)
    total: Mapped[float] = mapped_column(Float)

    __table_args__ = (Index("ix_histogram_hourly_hour", "hour"),)


class ReportSchedule(Base):
    """A recurring report: when it runs (hour and minute in an IANA time zone; a weekday for weekly, a day of
    the month for monthly), what it covers (filters) and holds (formats), and who is told (e-mail, webhook).
    `last_fire_at` is the latest fire time enqueued, `enabled_at` when it was last switched on: the enqueue job
    runs only fire times after both (db/reporting/schedules.py, reports/schedule.py)."""

    __tablename__ = "report_schedules"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    period: Mapped[str] = mapped_column(String(10))  # daily | weekly | monthly
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    hour: Mapped[int] = mapped_column(Integer)
    minute: Mapped[int] = mapped_column(Integer, default=0)
    weekday: Mapped[int | None] = mapped_column(Integer)  # weekly: 0 = Monday … 6 = Sunday
    day_of_month: Mapped[int | None] = mapped_column(Integer)  # monthly: 1 … 28
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    formats: Mapped[list[str]] = mapped_column(JSON, default=list)
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {"kind": [...], "tag": [...]}
    recipients: Mapped[list[str]] = mapped_column(JSON, default=list)
    webhook_url: Mapped[str | None] = mapped_column(String(2000))
    enabled_at: Mapped[datetime | None]
    last_fire_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ReportRun(Base):
    """One report being built or built: from a schedule's fire time or asked for by hand. A scheduled run's
    `idempotency_key` (schedule id + fire time) is unique, so N workers enqueueing the same fire make one row."""

    __tablename__ = "report_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    schedule_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("report_schedules.id", ondelete="SET NULL")
    )
    trigger: Mapped[str] = mapped_column(String(20))  # schedule | manual
    period_kind: Mapped[str] = mapped_column(String(10))
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    filters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    formats: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(20), default="queued")  # queued | running | completed | failed
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    stage: Mapped[str | None] = mapped_column(String(200))
    error: Mapped[str | None] = mapped_column(Text)
    files: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{"format", "name", "size"}]
    requested_by: Mapped[str] = mapped_column(String(200), default="")
    scheduled_for: Mapped[datetime | None]  # the fire time of a scheduled run
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    worker_id: Mapped[str | None] = mapped_column(String(200))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    delivery: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # channel -> {status, error, at}

    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_report_runs_idempotency_key"),
        # The claim query (oldest queued) and the sweep (running ones).
        Index("ix_report_runs_status", "status", "id"),
    )


class ApiToken(Base):
    """A bearer token of the API and dashboard: only the SHA-256 of its secret is kept (db/access/tokens.py), with the
    secret's first characters as `prefix` so people can tell tokens apart. A revoked token stays, for the log."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))  # viewer | operator | admin
    token_hash: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),)


class AuditLog(Base):
    """Who did what: task creates, cancels, retries and deletes, token and schedule changes (db/access/audit.py)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(50))
    target: Mapped[str] = mapped_column(String(200), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    __table_args__ = (Index("ix_audit_log_at", "at"),)


# ---- alerts (issue 13; migration 0010) ------------------------------------------------------------------
class AlertRule(Base):
    """A rule as data: what to watch (kind, scope, threshold, window), how long it must hold before firing
    (`for_seconds`), how loud (severity), whom to tell (channels) and what to do (actions). Built-in rules are
    seeded by the migration; a NULL threshold means the rule kind's default (stuck: TASKLENS_STUCK_AFTER_SECONDS)."""

    __tablename__ = "alert_rules"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(40))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    scope_kind: Mapped[str] = mapped_column(String(20), default="all")
    scope_value: Mapped[str | None] = mapped_column(String(200))
    threshold: Mapped[float | None] = mapped_column(Float)
    # task_failed: only failures whose error message contains this text (case-insensitive): a failure pattern.
    pattern: Mapped[str | None] = mapped_column(String(500))
    window_seconds: Mapped[float] = mapped_column(Float, default=900.0)
    for_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    severity: Mapped[str] = mapped_column(String(20), default="high")
    repeat_seconds: Mapped[float | None] = mapped_column(Float)
    channels: Mapped[list[Any]] = mapped_column(JSON, default=list)
    actions: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    __table_args__ = (UniqueConstraint("name", name="uq_alert_rules_name"),)


class Alert(Base):
    """One alert per rule and target while it is open (`open_key` is set then and unique; NULL once resolved,
    so the history keeps any number of resolved ones). Acknowledgement is a flag over the state."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    rule_id: Mapped[int] = mapped_column(BigId, ForeignKey("alert_rules.id", ondelete="CASCADE"))
    target: Mapped[str] = mapped_column(String(200))
    open_key: Mapped[str | None] = mapped_column(String(250))
    state: Mapped[str] = mapped_column(String(20))  # pending | firing | resolved
    severity: Mapped[str] = mapped_column(String(20))
    summary: Mapped[str] = mapped_column(Text, default="")
    value: Mapped[float | None] = mapped_column(Float)
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    pending_at: Mapped[datetime]
    fired_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    ack_note: Mapped[str | None] = mapped_column(Text)
    last_notified_at: Mapped[datetime | None]
    notify_round: Mapped[int] = mapped_column(Integer, default=0)
    actions_taken: Mapped[list[Any]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime]

    __table_args__ = (
        UniqueConstraint("open_key", name="uq_alerts_open_key"),
        Index("ix_alerts_state", "state", "id"),
        Index("ix_alerts_rule", "rule_id", "id"),
    )


class AlertSilence(Base):
    """Like Alertmanager's: every matcher (label = value) must hold for an alert to be silenced between
    starts_at and ends_at. A silenced alert still changes state; it only sends no notification."""

    __tablename__ = "alert_silences"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    matchers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(200), default="")
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_alert_silences_ends_at", "ends_at"),)


class AlertNotification(Base):
    """The durable outbox: one row per alert, channel, event and round, written in the same transaction as the
    alert's change. Workers claim due rows (SKIP LOCKED / BEGIN IMMEDIATE), deliver, and record the outcome."""

    __tablename__ = "alert_notifications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(BigId, ForeignKey("alerts.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(300))
    channel_type: Mapped[str] = mapped_column(String(20))
    event: Mapped[str] = mapped_column(String(20))  # firing | resolved | digest
    round: Mapped[int] = mapped_column(Integer, default=0)
    target: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending | sending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    claimed_by: Mapped[str | None] = mapped_column(String(200))
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("alert_id", "channel", "event", "round", name="uq_alert_notifications_once"),
        Index("ix_alert_notifications_due", "status", "next_attempt_at"),
    )


class AlertAck(Base):
    """Each acknowledgement of an alert: who, when, and their note (the alert row keeps the latest)."""

    __tablename__ = "alert_acks"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alert_id: Mapped[int] = mapped_column(BigId, ForeignKey("alerts.id", ondelete="CASCADE"))
    actor: Mapped[str] = mapped_column(String(200))
    note: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime]

    __table_args__ = (Index("ix_alert_acks_alert", "alert_id"),)


class TaskSchedule(Base):
    """A recurring task: a template (kind, payload, tags, priority, timeout, attempts) and a trigger (a cron
    expression in an IANA time zone, or a fixed interval), with its policies: `catch_up` "latest" runs the
    latest missed fire time once, "skip" runs none late; `concurrency` "skip" makes no task while the previous
    one is queued or running. `last_fire_at` is the latest fire time handled and `enabled_at` when it was last
    switched on: only later fire times run (db/control/task_schedules.py, db/control/schedule_fire.py)."""

    __tablename__ = "task_schedules"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    title: Mapped[str] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(20))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    timeout_seconds: Mapped[float | None] = mapped_column(Float)
    max_attempts: Mapped[int] = mapped_column(Integer, default=1)
    cron: Mapped[str | None] = mapped_column(String(200))
    interval_seconds: Mapped[float | None] = mapped_column(Float)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    catch_up: Mapped[str] = mapped_column(String(10), default="latest")  # latest | skip
    concurrency: Mapped[str] = mapped_column(String(10), default="allow")  # allow | skip
    max_runs: Mapped[int | None] = mapped_column(Integer)
    end_at: Mapped[datetime | None]
    runs: Mapped[int] = mapped_column(Integer, default=0)  # tasks made so far
    created_by: Mapped[str] = mapped_column(String(200), default="")
    enabled_at: Mapped[datetime | None]
    last_fire_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ConcurrencyLimit(Base):
    """At most `max_running` tasks of a kind (scope "kind") or carrying a tag (scope "tag") run at once across
    the fleet, enforced by the claim (db/control/limits.py)."""

    __tablename__ = "concurrency_limits"

    scope: Mapped[str] = mapped_column(String(10), primary_key=True)  # kind | tag
    value: Mapped[str] = mapped_column(String(200), primary_key=True)
    max_running: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]
