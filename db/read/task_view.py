"""Data layer: the declared view of tasks — every field the task grid, the REST API (its models, sorts and
cursors), the CSV download and the report's tasks.csv show, in one order. Adding a column to tasks is one
Field here (plus its migration); see docs/architecture.md "Adding a column"."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table

from db.core.models import Task
from db.core.sqlfuncs import seconds_between
from db.domain.states import TaskStatus
from db.read.views import Api, Field, Fmt, Grid, View

T = cast(Table, Task.__table__).c

# The one order is the CSV's (a file's column positions are what a spreadsheet formula holds on to); the API
# lists its fields in this order too. Times are naive UTC; the API and the CSV write them as ISO 8601 with a Z.
TASKS = View(
    "tasks",
    (
        Field("id", T.id, int, "#", Fmt.ID, csv=True, grid=Grid(width=90), sortable=True, cursor=True),
        Field("external_id", T.external_id, str | None),
        Field("title", T.title, str, csv=True, grid=Grid(flex=2, min_width=200), sortable=True),
        Field("kind", T.kind, str, csv=True, grid=Grid(width=110), sortable=True),
        Field("status", T.status, TaskStatus, csv=True, grid=Grid(width=120), sortable=True),
        Field("priority", T.priority, int, fmt=Fmt.COUNT, csv=True, grid=Grid(width=100), sortable=True,
              cursor=True),
        Field("tags", T.tags, list[str], csv=True, grid=Grid(width=140)),
        Field("created_by", T.created_by, str, csv=True, sortable=True),
        Field("attempt", T.attempt, int, fmt=Fmt.COUNT, csv=True, grid=Grid(width=100), sortable=True),
        Field("max_attempts", T.max_attempts, int, fmt=Fmt.COUNT, csv=True),
        Field("progress", T.progress, float, fmt=Fmt.PROGRESS, grid=Grid(width=110), sortable=True),
        Field("progress_message", T.progress_message, str | None),
        Field("current_iteration", T.current_iteration, int, fmt=Fmt.COUNT, sortable=True),
        Field("max_iterations", T.max_iterations, int | None, fmt=Fmt.COUNT, sortable=True),
        Field("worker_id", T.worker_id, str | None, "worker", csv=True, grid=Grid(width=170), sortable=True),
        Field("cancel_requested", T.cancel_requested, bool, fmt=Fmt.FLAG),
        Field("created_at", T.created_at, datetime, "created", Fmt.TIMESTAMP, csv=True, grid=Grid(width=190),
              sortable=True, cursor=True),
        Field("started_at", T.started_at, datetime | None, "started", Fmt.TIMESTAMP, csv=True, sortable=True),
        Field("completed_at", T.completed_at, datetime | None, "ended", Fmt.TIMESTAMP, csv=True,
              grid=Grid(width=190), sortable=True),
        Field("processing_s", seconds_between(T.started_at, T.completed_at), float | None, "processing",
              Fmt.DURATION, api=None, csv=True),
        Field("failure_reason", T.failure_reason, str | None, "reason", csv=True),
        Field("error_message", T.error_message, str | None, "error", csv=True,
              grid=Grid(flex=1, min_width=160)),
        Field("last_updated_at", T.last_updated_at, datetime, "last updated", Fmt.TIMESTAMP, cursor=True),
        Field("last_activity_at", T.last_activity_at, datetime | None, "last activity", Fmt.TIMESTAMP,
              sortable=True),
        Field("update_count", T.update_count, int, fmt=Fmt.COUNT,
              description="events recorded for the task (each is one row update)"),
        Field("invocation_count", T.invocation_count, int, "calls", Fmt.COUNT, csv=True),
        Field("activity_count", T.activity_count, int, fmt=Fmt.COUNT),
        Field("input_tokens", T.input_tokens, int, fmt=Fmt.TOKENS, csv=True, sortable=True),
        Field("output_tokens", T.output_tokens, int, fmt=Fmt.TOKENS, csv=True, sortable=True),
        Field("cache_read_tokens", T.cache_read_tokens, int, fmt=Fmt.TOKENS, csv=True),
        Field("cost_usd", T.cost_usd, float, "cost", Fmt.MONEY, csv=True, grid=Grid(width=110), sortable=True,
              cursor=True),
        # Only in the one-task answer: a listing of thousands would carry every payload and result.
        Field("payload", T.payload, dict[str, Any], fmt=Fmt.JSON, api=Api.DETAIL),
        Field("result", T.result, Any, fmt=Fmt.JSON, api=Api.DETAIL, api_default=None),
        Field("timeout_seconds", T.timeout_seconds, float | None, fmt=Fmt.DURATION, api=Api.DETAIL),
        Field("available_at", T.available_at, datetime, fmt=Fmt.TIMESTAMP, api=Api.DETAIL),
        Field("lease_expires_at", T.lease_expires_at, datetime | None, fmt=Fmt.TIMESTAMP, api=Api.DETAIL),
    ),
    # The grid reads left to right by what people scan first: what it is, where it stands, then when and cost.
    grid_order=(
        "id", "title", "status", "kind", "priority", "tags", "progress", "attempt", "worker_id", "created_at",
        "completed_at", "cost_usd", "error_message",
    ),
)  # fmt: skip
