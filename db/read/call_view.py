"""Data layer: the declared view of calls (invocations) — the fields the calls grid, the REST API's list and
one-call answer (models, sorts, cursors), the CSV downloads and the report export of calls show, in one order
(db/read/views.py derives each surface)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table

from db.core.models import Invocation
from db.core.sqlfuncs import seconds_between
from db.domain.liveness import call_last_activity
from db.read.views import Api, Field, Fmt, Grid, View

I = cast(Table, Invocation.__table__).c  # noqa: E741

# The calls grid (/calls) reads left to right: when, for which task, what was called, how it went, at what cost.
# Sorts: the grid and the CSV by any `sortable` field; the API pages by its `cursor` fields, NOT NULL and indexed
# (id the key, started_at ix_invocations_started_at and, under a model, ix_invocations_model_started; cost_usd
# ix_invocations_cost).
CALLS = View(
    "invocations",
    (
        Field("id", I.id, str, "#", Fmt.ID, csv=True, grid=Grid(flex=1, min_width=90), sortable=True,
              cursor=True),
        Field("task_id", I.task_id, int, "task", Fmt.ID, csv=True, grid=Grid(width=72), sortable=True),
        Field("iteration", I.iteration, int | None, fmt=Fmt.COUNT, csv=True),
        Field("role", I.role, str, csv=True, grid=Grid(width=80)),
        Field("provider", I.provider, str, csv=True),
        # "claude-sonnet-4-5" whole at its least width:
        Field("model", I.model, str, csv=True, grid=Grid(flex=1, min_width=150), sortable=True),
        Field("status", I.status, str, csv=True, grid=Grid(width=94)),
        Field("started_at", I.started_at, datetime, "started", Fmt.TIMESTAMP, csv=True, grid=Grid(width=170),
              sortable=True, cursor=True),
        Field("completed_at", I.completed_at, datetime | None, "ended", Fmt.TIMESTAMP, csv=True),
        Field("duration_s", seconds_between(I.started_at, I.completed_at), float | None, "duration", Fmt.DURATION,
              api=None, csv=True, grid=Grid(width=80)),
        Field("last_activity_at", call_last_activity(), datetime | None, "last activity", Fmt.TIMESTAMP),
        Field("input_tokens", I.input_tokens, int, "input tokens", Fmt.TOKENS, csv=True, grid=Grid(width=106)),
        Field("output_tokens", I.output_tokens, int, "output tokens", Fmt.TOKENS, csv=True, grid=Grid(width=118)),
        Field("cache_read_tokens", I.cache_read_tokens, int, "cache read tokens", Fmt.TOKENS, csv=True),
        Field("cost_usd", I.cost_usd, float, "cost", Fmt.MONEY, csv=True, grid=Grid(width=80), sortable=True,
              cursor=True),
        Field("prompt", I.prompt, str | None),
        Field("response", I.response, str | None),
        Field("error", I.error, str | None, csv=True, grid=Grid(flex=2, min_width=60)),
        Field("kind", I.kind, str, grid=Grid(width=84), description="llm, tool, agent, retriever or other"),
        Field("parent_id", I.parent_id, str | None,
              description="the call it was made in (it may not be reported yet)"),
        # An LLM's name: its model (dashboard/pages/calls.named).
        Field("name", I.name, str, grid=Grid(flex=1, min_width=150), description="a tool's or agent's name"),
        Field("placeholder", I.placeholder, bool, fmt=Fmt.FLAG,
              description="a stand-in: its end or usage was reported, its start not yet"),
        # Stored compressed (db/write/messages.py); the read unpacks it. Only in the one-call answer: a listing
        # of thousands would carry every conversation.
        Field("messages", I.messages, dict[str, Any], fmt=Fmt.JSON, api=Api.DETAIL,
              description="input and output messages (role, content, …); a tool's arguments and result"),
    ),
    # Sized as the tasks grid's (task_view.py): short values' columns fit their header or widest value, the
    # rest flex from a least width; all at their least fit a 1400 px window (gridcolumns.FITS, tested). A call's
    # id ("h0000000100000001") is cut first: a click opens its task, the call's own page is its task's.
    grid_order=(
        "started_at", "task_id", "kind", "name", "model", "role", "status", "duration_s", "input_tokens",
        "output_tokens", "cost_usd", "error", "id",
    ),
    default_sort=("started_at", "desc"),
)  # fmt: skip
