"""Data layer: applies spans reported over OTLP in the caller's transaction through the one write path — a
trace is a task (external_id = the trace id), its spans are calls with their own times. Idempotent on span
ids (a span already stored is skipped), and order-free: a span whose trace has no task yet creates it, the
root span (usually the last to arrive) fills in its title and ends it."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from db.core.models import Invocation, Task
from db.domain.ops import CallReported, ClientTime, Describe, Op, TaskSpec, Transition
from db.domain.pricing import DEFAULT_PRICES, Price, cost_of
from db.domain.states import TERMINAL, CallKind, TaskKind, TaskStatus
from db.write.writes import Deferred, apply_ops, insert_tasks

T = cast(Table, Task.__table__)
INV = cast(Table, Invocation.__table__)
TRACE_TAG = "otlp"


@dataclass(frozen=True)
class SpanCall:
    """One finished span as a call: what the OTLP mapping (dashboard/otlp/mapping.py) made of it."""

    trace_id: str  # 32 hex digits
    span_id: str  # 16 hex digits
    parent_span_id: str | None
    service: str  # resource service.name: the agent it ran on
    name: str
    kind: CallKind
    started_at: datetime  # naive UTC, within the skew window
    completed_at: datetime
    ok: bool = True
    error: str | None = None
    title: str = ""  # the task's title when this is the root span (gen_ai.agent.name, else the span name)
    role: str = ""
    provider: str = ""
    model: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cost_usd: float | None = None  # None: from the price table
    prompt: str | None = None
    response: str | None = None
    messages: bytes | None = None
    search_text: str | None = None


@dataclass(frozen=True)
class SpanOutcome:
    accepted: int  # spans stored now
    duplicates: int  # spans stored by an earlier export, skipped
    rejected: int  # spans whose trace id names a task that takes no spans
    message: str = ""
    task_ids: tuple[int, ...] = ()


def call_id(task_id: int, span_id: str) -> str:
    return f"t{task_id}-{span_id}"


def apply_spans(
    session: Session,
    spans: Sequence[SpanCall],
    *,
    actor: str,
    now: datetime,
    correlation_id: str | None = None,
    prices: dict[str, Price] = DEFAULT_PRICES,
) -> SpanOutcome:
    by_trace: dict[str, list[SpanCall]] = defaultdict(list)
    for span in spans:
        by_trace[span.trace_id].append(span)
    rows = {
        r.external_id: r
        for r in session.execute(
            select(T.c.id, T.c.external_id, T.c.kind, T.c.status)
            .where(T.c.external_id.in_(list(by_trace)))
            .with_for_update(key_share=True)
        )
    }
    rejected = 0
    message = ""
    for trace_id in list(by_trace):
        row = rows.get(trace_id)
        if row is not None and row.kind != TaskKind.EXTERNAL.value:
            rejected += len(by_trace.pop(trace_id))
            message = f"trace {trace_id} is the external_id of task {row.id}, a {row.kind} task"
    new = [t for t in by_trace if t not in rows]
    if new:
        ids = insert_tasks(
            session,
            [_spec(trace_id, by_trace[trace_id]) for trace_id in new],
            actor=actor,
            now=now,
            correlation_id=correlation_id,
            created=[min(s.started_at for s in by_trace[t]) for t in new],
        )
        status: dict[int, TaskStatus] = {}
        task_of = {t: i for t, i in zip(new, ids, strict=True)}
        for task_id in ids:
            status[task_id] = TaskStatus.QUEUED
    else:
        task_of, status = {}, {}
    for trace_id, row in rows.items():
        if trace_id in by_trace:
            task_of[trace_id] = row.id
            status[row.id] = TaskStatus(row.status)
    wanted = [call_id(task_of[t], s.span_id) for t, group in by_trace.items() for s in group]
    stored = set(session.scalars(select(INV.c.id).where(INV.c.id.in_(wanted)))) if wanted else set()
    accepted = duplicates = 0
    pending = Deferred()
    for trace_id, group in by_trace.items():
        task_id = task_of[trace_id]
        fresh: dict[str, SpanCall] = {}
        for span in sorted(group, key=lambda s: s.started_at):
            if call_id(task_id, span.span_id) in stored or span.span_id in fresh:
                duplicates += 1
            else:
                fresh[span.span_id] = span
        if not fresh:
            continue
        accepted += len(fresh)
        ops = _trace_ops(task_id, status[task_id], list(fresh.values()), prices)
        apply_ops(
            session, task_id, ops, actor=actor, correlation_id=correlation_id, now=now, deferred=pending
        )
    pending.flush(session, now)
    return SpanOutcome(accepted, duplicates, rejected, message, tuple(sorted(set(task_of.values()))))


def _spec(trace_id: str, spans: list[SpanCall]) -> TaskSpec:
    root = next((s for s in spans if s.parent_span_id is None), None)
    # Until its root span arrives, a trace is named by where it runs and its first span.
    first = min(spans, key=lambda s: s.started_at)
    title = root.title if root is not None else f"{first.service or 'trace'}: {first.name}"
    return TaskSpec(
        title=(title or trace_id)[:500],
        kind=TaskKind.EXTERNAL,
        payload={"trace_id": trace_id, "service": first.service},
        tags=(TRACE_TAG,),
        created_by=first.service[:200],
        external_id=trace_id,
        placeholder=root is None,
    )


def _trace_ops(task_id: int, status: TaskStatus, spans: list[SpanCall], prices: dict[str, Price]) -> list[Op]:
    ops: list[Op] = []
    if status is TaskStatus.QUEUED:
        first = spans[0]
        ops += [ClientTime(first.started_at), Transition(TaskStatus.RUNNING, worker_id=first.service or None)]
        status = TaskStatus.RUNNING
    for span in spans:
        ops.append(_call(task_id, span, prices))
    root = next((s for s in spans if s.parent_span_id is None), None)
    if root is not None and status not in TERMINAL:
        ops.append(Describe(root.title or root.name, root.started_at))
        ops.append(ClientTime(root.completed_at))
        if root.ok:
            ops.append(Transition(TaskStatus.COMPLETED))
        else:
            ops.append(
                Transition(TaskStatus.FAILED, reason="error", error=root.error or "the root span failed")
            )
    return ops


def _call(task_id: int, span: SpanCall, prices: dict[str, Price]) -> CallReported:
    cost = span.cost_usd
    if cost is None:
        cost = cost_of(span.model, span.input_tokens, span.output_tokens, span.cache_read_tokens, prices)
    provider = span.provider or (prices[span.model].provider if span.model in prices else "")
    parent = None if span.parent_span_id is None else call_id(task_id, span.parent_span_id)
    fields: dict[str, Any] = {
        "ok": span.ok,
        "name": span.name,
        "parent_id": parent,
        "role": span.role,
        "provider": provider,
        "model": span.model,
        "input_tokens": span.input_tokens,
        "output_tokens": span.output_tokens,
        "cache_read_tokens": span.cache_read_tokens,
        "cost_usd": cost,
        "prompt": span.prompt,
        "response": span.response,
        "error": span.error,
        "messages": span.messages,
        "search_text": span.search_text,
    }
    return CallReported(
        call_id(task_id, span.span_id), span.kind, span.started_at, span.completed_at, **fields
    )
