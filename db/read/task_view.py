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
from db.read.views import Api, Field, Fmt, Grid, Panel, View

# The tasks table: its columns are T.c.c (one convention for every task read, db/read/tasks/).
T = cast(Table, Task.__table__)

# The one order is the CSV's (a file's column positions are what a spreadsheet formula holds on to); the API
# lists its fields in this order too. Times are naive UTC; the API and the CSV write them as ISO 8601 with a Z.
# The task page's panels (Field.detail).
USER, SYSTEM, DATABASE = Panel.USER, Panel.SYSTEM, Panel.DATABASE

TASKS = View(
    "tasks",
    (
        Field("id", T.c.id, int, "#", Fmt.ID, csv=True, grid=Grid(width=72), sortable=True, cursor=True,
              card=True, drawn=True),
        Field("external_id", T.c.external_id, str | None),
        Field("title", T.c.title, str, csv=True, grid=Grid(flex=3, min_width=180), sortable=True, card=True,
              drawn=True, detail=USER),
        Field("kind", T.c.kind, str, csv=True, grid=Grid(width=90), sortable=True, card=True, drawn=True),
        Field("status", T.c.status, TaskStatus, csv=True, grid=Grid(width=94), sortable=True, card=True,
              drawn=True, detail=USER),
        Field("priority", T.c.priority, int, fmt=Fmt.COUNT, csv=True, grid=Grid(width=92), sortable=True,
              cursor=True, card=True, drawn=True),
        Field("tags", T.c.tags, list[str], csv=True, grid=Grid(flex=1, min_width=60)),
        Field("created_by", T.c.created_by, str, csv=True, sortable=True),
        Field("attempt", T.c.attempt, int, fmt=Fmt.COUNT, csv=True, grid=Grid(width=99), sortable=True,
              detail=SYSTEM),
        Field("max_attempts", T.c.max_attempts, int, fmt=Fmt.COUNT, csv=True),
        Field("progress", T.c.progress, float, fmt=Fmt.PROGRESS, grid=Grid(width=102), sortable=True,
              card=True, drawn=True, detail=USER),
        Field("progress_message", T.c.progress_message, str | None, detail=USER),
        Field("current_iteration", T.c.current_iteration, int, fmt=Fmt.COUNT, sortable=True, card=True,
              drawn=True),
        Field("max_iterations", T.c.max_iterations, int | None, fmt=Fmt.COUNT, sortable=True, card=True,
              drawn=True),
        Field("worker_id", T.c.worker_id, str | None, "worker", csv=True, grid=Grid(flex=1, min_width=92),
              sortable=True, detail=SYSTEM),
        Field("cancel_requested", T.c.cancel_requested, bool, fmt=Fmt.FLAG, card=True, drawn=True),
        Field("created_at", T.c.created_at, datetime, "created", Fmt.TIMESTAMP, csv=True, grid=Grid(width=170),
              sortable=True, cursor=True, card=True, drawn=True, detail=SYSTEM),
        Field("started_at", T.c.started_at, datetime | None, "started", Fmt.TIMESTAMP, csv=True, sortable=True,
              card=True, drawn=True, detail=SYSTEM),
        Field("completed_at", T.c.completed_at, datetime | None, "ended", Fmt.TIMESTAMP, csv=True,
              grid=Grid(width=170), sortable=True, card=True, drawn=True, detail=SYSTEM),
        Field("processing_s", seconds_between(T.c.started_at, T.c.completed_at), float | None, "processing",
              Fmt.DURATION, api=None, csv=True),
        Field("failure_reason", T.c.failure_reason, str | None, "reason", csv=True),
        Field("error_message", T.c.error_message, str | None, "error", csv=True,
              grid=Grid(flex=1, min_width=60), card=True, drawn=True, detail=USER),
        Field("last_updated_at", T.c.last_updated_at, datetime, "last updated", Fmt.TIMESTAMP, cursor=True,
              detail=DATABASE),
        Field("last_activity_at", T.c.last_activity_at, datetime | None, "last activity", Fmt.TIMESTAMP,
              sortable=True, card=True, drawn=True, detail=DATABASE),
        Field("update_count", T.c.update_count, int, "update count", Fmt.COUNT, detail=DATABASE,
              description="events recorded for the task (each is one row update)"),
        Field("invocation_count", T.c.invocation_count, int, "calls", Fmt.COUNT, csv=True, detail=SYSTEM),
        Field("activity_count", T.c.activity_count, int, "activity lines", Fmt.COUNT, detail=DATABASE),
        Field("input_tokens", T.c.input_tokens, int, fmt=Fmt.TOKENS, csv=True, sortable=True, detail=SYSTEM),
        Field("output_tokens", T.c.output_tokens, int, fmt=Fmt.TOKENS, csv=True, sortable=True),
        Field("cache_read_tokens", T.c.cache_read_tokens, int, fmt=Fmt.TOKENS, csv=True),
        Field("cost_usd", T.c.cost_usd, float, "cost", Fmt.MONEY, csv=True, grid=Grid(width=78), sortable=True,
              cursor=True, card=True, drawn=True, detail=SYSTEM),
        # Only in the one-task answer: a listing of thousands would carry every payload and result.
        Field("payload", T.c.payload, dict[str, Any], fmt=Fmt.JSON, api=Api.DETAIL),
        Field("result", T.c.result, Any, fmt=Fmt.JSON, api=Api.DETAIL, api_default=None, detail=USER),
        Field("timeout_seconds", T.c.timeout_seconds, float | None, fmt=Fmt.DURATION, api=Api.DETAIL),
        Field("available_at", T.c.available_at, datetime, fmt=Fmt.TIMESTAMP, api=Api.DETAIL),
        Field("lease_expires_at", T.c.lease_expires_at, datetime | None, fmt=Fmt.TIMESTAMP, api=Api.DETAIL),
    ),
    # The grid reads left to right by what people scan first: what it is, where it stands, then when and cost.
    # Widths: a short value's column is as wide as its header with a sort arrow, or its widest value (a time,
    # "completed", "$123.45", a six-digit id), no wider; free text flexes (the title takes the most) from a
    # readable least width. All at their least fit a 1400 px window (gridcolumns.FITS, tested): a column added
    # here takes its width from that room, or the grid scrolls sideways at 1440 px.
    grid_order=(
        "id", "title", "status", "kind", "priority", "tags", "progress", "attempt", "worker_id", "created_at",
        "completed_at", "cost_usd", "error_message",
    ),
    # The task's page: what was asked and how it stands; how it ran, by whom, at what cost; what the log holds.
    detail_order=(
        "title", "status", "progress", "progress_message", "error_message", "result",
        "created_at", "started_at", "completed_at", "attempt", "worker_id", "input_tokens", "cost_usd",
        "invocation_count",
        "update_count", "last_updated_at", "last_activity_at", "activity_count",
    ),
)  # fmt: skip
