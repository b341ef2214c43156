"""Data layer: the declared view of calls (invocations) — the fields the REST API's one-call answer and the
CSV download and report export of calls show, in one order (db/read/views.py derives each surface)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table

from db.core.models import Invocation
from db.core.sqlfuncs import seconds_between
from db.domain.liveness import call_last_activity
from db.read.views import Field, Fmt, View

I = cast(Table, Invocation.__table__).c  # noqa: E741

CALLS = View(
    "invocations",
    (
        Field("id", I.id, str, "#", Fmt.ID, csv=True),
        Field("task_id", I.task_id, int, "task", Fmt.ID, csv=True),
        Field("iteration", I.iteration, int | None, fmt=Fmt.COUNT, csv=True),
        Field("role", I.role, str, csv=True),
        Field("provider", I.provider, str, csv=True),
        Field("model", I.model, str, csv=True),
        Field("status", I.status, str, csv=True),
        Field("started_at", I.started_at, datetime, "started", Fmt.TIMESTAMP, csv=True),
        Field("completed_at", I.completed_at, datetime | None, "ended", Fmt.TIMESTAMP, csv=True),
        Field("duration_s", seconds_between(I.started_at, I.completed_at), float | None, "duration", Fmt.DURATION,
              api=None, csv=True),
        Field("last_activity_at", call_last_activity(), datetime | None, "last activity", Fmt.TIMESTAMP),
        Field("input_tokens", I.input_tokens, int, fmt=Fmt.TOKENS, csv=True),
        Field("output_tokens", I.output_tokens, int, fmt=Fmt.TOKENS, csv=True),
        Field("cache_read_tokens", I.cache_read_tokens, int, fmt=Fmt.TOKENS, csv=True),
        Field("cost_usd", I.cost_usd, float, "cost", Fmt.MONEY, csv=True),
        Field("prompt", I.prompt, str | None),
        Field("response", I.response, str | None),
        Field("error", I.error, str | None, csv=True),
        Field("kind", I.kind, str, description="llm, tool, agent, retriever or other"),
        Field("parent_id", I.parent_id, str | None,
              description="the call it was made in (it may not be reported yet)"),
        Field("name", I.name, str, description="a tool's or agent's name"),
        Field("placeholder", I.placeholder, bool, fmt=Fmt.FLAG,
              description="a stand-in: its end or usage was reported, its start not yet"),
        # Stored compressed (db/write/messages.py); the read unpacks it.
        Field("messages", I.messages, dict[str, Any], fmt=Fmt.JSON,
              description="input and output messages (role, content, …); a tool's arguments and result"),
    ),
)  # fmt: skip
