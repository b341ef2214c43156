"""Data layer: reads of calls (invocations) as a tree — a task's calls nested under their parents with
durations — and call latency percentiles by model, role or tool over a scope."""

from __future__ import annotations

import json
from typing import Any, Literal, cast

from sqlalchemy import ColumnElement, Table, func, select
from sqlalchemy.orm import Session

from db.analytics.performance import percentiles
from db.core.models import Invocation, Task
from db.core.sqlfuncs import seconds_between
from db.domain.liveness import call_last_activity
from db.domain.states import CallKind
from db.read.scope import Scope
from db.read.scope_sql import call_conditions, task_conditions
from db.write.messages import unpack

I = cast(Table, Invocation.__table__)  # noqa: E741
T = cast(Table, Task.__table__)
LatencyBy = Literal["model", "role", "tool"]
PCTS = (50, 95, 99)
# Every column but the packed messages: a tree of a thousand calls reads no message text. A finished call's last
# activity is its end, not stored twice (db/domain/liveness.call_last_activity).
TREE_COLUMNS = [
    call_last_activity().label(c.name) if c.name == "last_activity_at" else c
    for c in I.c
    if c.name not in ("messages", "task_id")
]


def task_calls(session: Session, task_id: int) -> list[dict[str, Any]]:
    """The task's calls in start order, each with `duration_s` (None while running)."""
    query = (
        select(*TREE_COLUMNS, seconds_between(I.c.started_at, I.c.completed_at).label("duration_s"))
        .where(I.c.task_id == task_id)
        .order_by(I.c.started_at, I.c.id)
    )
    return [dict(row) for row in session.execute(query).mappings()]


def nest(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Calls (in start order) as a forest: each gets `children`, in start order. A call whose parent is not
    (yet) reported stands at the top, keeping its parent_id, so nothing is hidden while a trace arrives."""
    by_id = {c["id"]: {**c, "children": []} for c in calls}
    roots: list[dict[str, Any]] = []
    for call in by_id.values():
        parent = by_id.get(call["parent_id"]) if call["parent_id"] else None
        (parent["children"] if parent is not None and parent is not call else roots).append(call)
    return roots


def latency(session: Session, scope: Scope, by: LatencyBy) -> list[dict[str, Any]]:
    """p50/p95/p99 of finished calls' durations that started in the scope, per model, role or tool (tool:
    calls of kind tool by name), busiest first. Exact: one sort per group in the database."""
    key = {"model": I.c.model, "role": I.c.role, "tool": I.c.name}[by]
    where: list[ColumnElement[bool]] = [
        I.c.started_at >= scope.start,
        I.c.started_at < scope.end,
        I.c.completed_at.is_not(None),
        *call_conditions(scope),
    ]
    if by == "tool":
        where.append(I.c.kind == CallKind.TOOL.value)
    if by == "model":
        where.append(I.c.model != "")  # agent and tool spans have no model: they are not model latency
    tasks = task_conditions(scope)
    if tasks:
        where.append(I.c.task_id.in_(select(T.c.id).where(*tasks)))
    took = seconds_between(I.c.started_at, I.c.completed_at)
    found = percentiles(session, took, where, PCTS, key)
    spread = {
        k: (float(mean), float(top))
        for k, mean, top in session.execute(
            select(key, func.avg(took), func.max(took)).where(*where).group_by(key)
        )
    }
    rows = [
        {
            "key": k or "",
            "calls": n,
            "mean_s": spread[k][0],
            "p50_s": v[50],
            "p95_s": v[95],
            "p99_s": v[99],
            "max_s": spread[k][1],
        }
        for k, (n, v) in found.items()
    ]
    return sorted(rows, key=lambda r: (-r["calls"], r["key"]))


def conversation(session: Session, task_id: int) -> list[dict[str, Any]]:
    """The task's calls in start order with their messages unpacked (for the Markdown export)."""
    query = (
        select(
            I.c.id,
            I.c.parent_id,
            I.c.kind,
            I.c.name,
            I.c.model,
            I.c.role,
            I.c.status,
            I.c.started_at,
            I.c.error,
            I.c.prompt,
            I.c.response,
            I.c.messages,
        )
        .where(I.c.task_id == task_id)
        .order_by(I.c.started_at, I.c.id)
    )
    out = []
    for row in session.execute(query).mappings():
        call = dict(row)
        call["messages"] = unpack(call["messages"])
        out.append(call)
    return out


def matching_calls(session: Session, task_id: int, text: str) -> set[str]:
    """Ids of the task's calls whose name, model, role, error, preview or messages contain `text` (any case):
    the task page's "search within the task". Messages are unpacked here, one task's calls at a time, so
    nothing is indexed for it."""
    needle = text.strip().casefold()
    if not needle:
        return set()
    query = select(
        I.c.id, I.c.name, I.c.model, I.c.role, I.c.error, I.c.prompt, I.c.response, I.c.messages
    ).where(I.c.task_id == task_id)
    found = set()
    for row in session.execute(query):
        plain = " ".join(str(v) for v in row[1:7] if v)
        if needle in plain.casefold() or (row.messages and needle in _message_text(row.messages)):
            found.add(str(row.id))
    return found


def _message_text(blob: bytes) -> str:
    return json.dumps(unpack(blob), ensure_ascii=False).casefold()


def with_ancestors(calls: list[dict[str, Any]], ids: set[str]) -> list[dict[str, Any]]:
    """The calls in `ids` and every call above them, in the given order (a filtered tree keeps its shape)."""
    parent = {c["id"]: c["parent_id"] for c in calls}
    keep: set[str] = set()
    for found in ids:
        step: str | None = found
        while step is not None and step not in keep:
            keep.add(step)
            step = parent.get(step)
    return [c for c in calls if c["id"] in keep]
