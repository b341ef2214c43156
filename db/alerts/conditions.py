"""Data layer: what each rule kind watches, as one cheap query per rule — a list of findings (targets for which
the condition holds now). Each reads an index range or a rollup, never a scan of the task table: running and
queued tasks by the status index, recent outcomes by (status, completed_at), spend through the usage rollup."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Select, Table, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from db.alerts.rules import Rule, RuleKind
from db.alerts.store import Finding
from db.analytics import budgets, costs
from db.core.models import BrokerQueue, Invocation, Task, TaskTag, Worker
from db.core.sqlfuncs import seconds_between
from db.domain.liveness import silent_since, stuck_condition
from db.domain.states import FAILURES, TaskStatus, WorkerStatus
from db.read.scope import Scope

T = cast(Table, Task.__table__)
TG = cast(Table, TaskTag.__table__)
W = cast(Table, Worker.__table__)
I = cast(Table, Invocation.__table__)  # noqa: E741
BQ = cast(Table, BrokerQueue.__table__)
# A broker measurement older than this is not evidence of anything (the Celery source measures every 10 s).
BROKER_FRESH = timedelta(minutes=5)

# A failure rate over fewer finished tasks than this is noise (one failure of two is not "50 % failing").
MIN_FINISHED = 5
# At most this many targets per rule and cycle: a thousand stuck tasks are one incident, not a thousand pages.
MAX_TARGETS = 200
# Spend below this (USD) over a window is never a spike, whatever the ratio.
MIN_SPIKE_USD = 0.01
SPIKE_BASELINE = timedelta(days=7)


def _scoped(query: Select[Any], rule: Rule) -> Select[Any]:
    value = rule.scope_value
    if rule.scope_kind == "kind":
        return query.where(T.c.kind == value)
    if rule.scope_kind == "created_by":
        return query.where(T.c.created_by == value)
    if rule.scope_kind == "worker":
        return query.where(T.c.worker_id == value)
    if rule.scope_kind == "tag":
        return query.where(exists().where(TG.c.task_id == T.c.id, TG.c.tag == value))
    return query


def _scope_label(rule: Rule) -> str:
    return "all tasks" if rule.scope_kind == "all" else f"{rule.scope_kind} {rule.scope_value}"


def _what(rule: Rule) -> str:
    return "all" if rule.scope_kind == "all" else f"{rule.scope_kind} {rule.scope_value}"


def stuck_tasks(session: Session, rule: Rule, now: datetime, stuck_after: float) -> list[Finding]:
    after = timedelta(seconds=rule.threshold if rule.threshold is not None else stuck_after)
    query = select(T.c.id, T.c.title, T.c.kind, T.c.worker_id, silent_since().label("since")).where(
        stuck_condition(now, after)
    )
    # In the claim index's order (status, priority, id): ORDER BY id alone made SQLite walk the whole table by
    # rowid to skip a sort (139 ms a cycle at a million tasks; bench/bench_alerts.py).
    ordered = _scoped(query, rule).order_by(T.c.priority, T.c.id).limit(MAX_TARGETS)
    rows = session.execute(ordered)
    return [
        Finding(
            target=f"task:{r.id}",
            summary=f"Task #{r.id} {r.title!r} has been silent for {(now - r.since).total_seconds():.0f} s",
            value=(now - r.since).total_seconds(),
            labels={
                "task_id": r.id,
                "task_title": r.title,
                "task_kind": r.kind,
                "worker_id": r.worker_id or "",
            },
        )
        for r in rows
    ]


def failed_tasks(session: Session, rule: Rule, now: datetime) -> list[Finding]:
    since = now - timedelta(seconds=rule.window_seconds)
    query = select(T.c.id, T.c.title, T.c.kind, T.c.error_message).where(
        T.c.status.in_(FAILURES), T.c.completed_at >= since
    )
    if rule.pattern:  # a failure pattern: the error text, case-insensitively
        query = query.where(func.lower(T.c.error_message).contains(rule.pattern.lower(), autoescape=True))
    # Newest failures first by (status, completed_at), not by id (a walk of the table by rowid on SQLite).
    rows = session.execute(_scoped(query, rule).order_by(T.c.completed_at.desc()).limit(MAX_TARGETS))
    return [
        Finding(
            target=f"task:{r.id}",
            summary=f"Task #{r.id} {r.title!r} failed: {(r.error_message or 'no message')[:200]}",
            labels={"task_id": r.id, "task_title": r.title, "task_kind": r.kind},
        )
        for r in rows
    ]


def failure_rate(session: Session, rule: Rule, now: datetime) -> list[Finding]:
    since = now - timedelta(seconds=rule.window_seconds)
    finished = (TaskStatus.COMPLETED.value, *FAILURES)
    query = select(T.c.status, func.count()).where(T.c.status.in_(finished), T.c.completed_at >= since)
    counts = {r[0]: int(r[1]) for r in session.execute(_scoped(query, rule).group_by(T.c.status))}
    total = sum(counts.values())
    failed = sum(counts.get(s, 0) for s in FAILURES)
    if total < MIN_FINISHED or rule.threshold is None or failed / total <= rule.threshold:
        return []
    rate = failed / total
    return [
        Finding(
            target=f"scope:{rule.scope_kind}:{rule.scope_value or ''}",
            summary=f"{rate:.0%} of {total} tasks ({_scope_label(rule)}) failed in the last "
            f"{rule.window_seconds / 60:g} min (threshold {rule.threshold:.0%})",
            value=rate,
            labels={"task_kind": rule.scope_value or ""} if rule.scope_kind == "kind" else {},
        )
    ]


def queue_depth(session: Session, rule: Rule, now: datetime) -> list[Finding]:
    limit = int(rule.threshold or 0)
    # Counting stops one past the threshold: a million queued tasks cost what 101 do.
    inner = _scoped(select(T.c.id).where(T.c.status == TaskStatus.QUEUED.value), rule).limit(limit + 1)
    depth = int(session.scalar(select(func.count()).select_from(inner.subquery())) or 0)
    if depth <= limit:
        return []
    return [
        Finding(
            target=f"scope:{rule.scope_kind}:{rule.scope_value or ''}",
            summary=f"More than {limit} tasks queued ({_scope_label(rule)})",
            value=float(depth),
        )
    ]


def broker_queue_depth(session: Session, rule: Rule, now: datetime) -> list[Finding]:
    limit = rule.threshold or 0.0
    rows = session.execute(
        select(BQ.c.broker, BQ.c.name, BQ.c.messages)
        .where(BQ.c.messages > limit, BQ.c.measured_at >= now - BROKER_FRESH)
        .order_by(BQ.c.messages.desc())
        .limit(MAX_TARGETS)
    )
    return [
        Finding(
            target=f"queue:{name}@{broker}"[:200],
            summary=f"{messages:,} messages waiting in Celery queue {name} (more than {limit:g})",
            value=float(messages),
            labels={"queue": name},
        )
        for broker, name, messages in rows
    ]


def budget_use(
    session: Session,
    rule: Rule,
    now: datetime,
    *,
    projected: bool,
    statuses: list[budgets.BudgetStatus] | None = None,
) -> list[Finding]:
    out = []
    threshold = rule.threshold if rule.threshold is not None else 1.0
    for b in budgets.statuses(session, now) if statuses is None else statuses:
        if not b.limit_usd:
            continue
        amount = b.projected if projected else b.spent
        ratio = amount / b.limit_usd
        reached = ratio > threshold if projected else ratio >= threshold
        if not reached:
            continue
        tag = {"tag": b.scope_value} if b.scope_kind == "tag" else {}  # what a pause_tag action holds back
        what = f"projected to spend ${b.projected:,.2f}" if projected else f"has spent ${b.spent:,.2f}"
        out.append(
            Finding(
                target=f"budget:{b.id}:{b.period_start.date().isoformat()}",
                summary=f"Budget {b.name!r} {what} of ${b.limit_usd:,.2f} this {b.period} ({ratio:.0%})",
                value=ratio,
                labels={"budget": b.name, "budget_id": b.id, **tag},
            )
        )
    return out


def workers_offline(session: Session, rule: Rule, now: datetime, lease_seconds: float) -> list[Finding]:
    """Workers that lost their heartbeat (marked offline by the silence sweep, long after they were last seen),
    within the window; a worker that stopped cleanly is not an incident."""
    query = select(W.c.id, W.c.name, W.c.host, W.c.last_seen_at, W.c.stopped_at).where(
        W.c.status == WorkerStatus.OFFLINE.value,
        W.c.stopped_at >= now - timedelta(seconds=rule.window_seconds),
    )
    if rule.scope_kind == "worker":
        query = query.where((W.c.id == rule.scope_value) | (W.c.name == rule.scope_value))
    out = []
    for r in session.execute(query.limit(MAX_TARGETS)):
        if r.stopped_at - r.last_seen_at < timedelta(seconds=lease_seconds):
            continue
        out.append(
            Finding(
                target=f"worker:{r.id}",
                summary=f"Worker {r.id} on {r.host} stopped answering (last seen {r.last_seen_at:%H:%M:%S} UTC)",
                labels={"worker_id": r.id},
            )
        )
    return out


def _spend_scope(rule: Rule, start: datetime, end: datetime) -> Scope:
    dims = {} if rule.scope_kind == "all" else {rule.scope_kind: (rule.scope_value or "",)}
    return Scope(start=start, end=end, range_key="custom", **dims)


def cost_spike(session: Session, rule: Rule, now: datetime) -> list[Finding]:
    window = timedelta(seconds=rule.window_seconds)
    recent = costs.spend(session, _spend_scope(rule, now - window, now))
    if recent < MIN_SPIKE_USD or rule.threshold is None:
        return []
    start = now - window - SPIKE_BASELINE
    before = costs.spend(session, _spend_scope(rule, start, now - window))
    normal = before * window / SPIKE_BASELINE
    if normal <= 0 or recent <= rule.threshold * normal:
        return []
    return [
        Finding(
            target=f"scope:{rule.scope_kind}:{rule.scope_value or ''}",
            summary=f"Spend ({_what(rule)}) of ${recent:,.2f} in the last {rule.window_seconds / 60:g} min is "
            f"{recent / normal:.1f}× the 7-day normal (${normal:,.2f})",
            value=recent / normal,
        )
    ]


def response_time(session: Session, rule: Rule, now: datetime) -> list[Finding]:
    """Mean duration of the calls started in the window that have ended (ix_invocations_started_at)."""
    query = select(func.count(), func.avg(seconds_between(I.c.started_at, I.c.completed_at))).where(
        I.c.started_at >= now - timedelta(seconds=rule.window_seconds), I.c.completed_at.is_not(None)
    )
    if rule.scope_kind in ("model", "role"):
        query = query.where(I.c[rule.scope_kind] == rule.scope_value)
    calls, mean = session.execute(query).one()
    if not calls or calls < MIN_FINISHED or mean is None or rule.threshold is None or mean <= rule.threshold:
        return []
    return [
        Finding(
            target=f"scope:{rule.scope_kind}:{rule.scope_value or ''}",
            summary=f"Calls ({_what(rule)}) took {mean:.1f} s on average over "
            f"the last {rule.window_seconds / 60:g} min ({calls} calls; threshold {rule.threshold:g} s)",
            value=float(mean),
        )
    ]


def workers_unavailable(session: Session, rule: Rule, now: datetime) -> list[Finding]:
    """Of the workers seen within the window, the share now offline."""
    rows = session.execute(
        select(W.c.status, func.count())
        .where(W.c.last_seen_at >= now - timedelta(seconds=rule.window_seconds))
        .group_by(W.c.status)
    ).all()
    offline = sum(int(n) for status, n in rows if status == WorkerStatus.OFFLINE.value)
    total = sum(int(n) for _, n in rows)
    if not total or rule.threshold is None or offline / total <= rule.threshold:
        return []
    return [
        Finding(
            target="scope:all:",
            summary=f"{offline} of {total} workers seen in the last {rule.window_seconds / 60:g} min are offline",
            value=offline / total,
        )
    ]


# Context windows (tokens) of the built-in price table's models, as their providers publish them; calls of other
# models are not judged (add a model here with its price in db/domain/pricing.py).
CONTEXT_TOKENS: dict[str, int] = {
    "claude-sonnet-4-5": 200_000,
    "claude-haiku-4-5": 200_000,
    "claude-opus-4-1": 200_000,
    "gpt-4.1": 1_047_576,
    "gpt-4.1-mini": 1_047_576,
    "gemini-2.5-pro": 1_048_576,
    "gemini-2.5-flash": 1_048_576,
}


def context_window(session: Session, rule: Rule, now: datetime) -> list[Finding]:
    """Calls started in the window whose prompt filled more than `threshold` of their model's context window,
    one alert per task (its fullest call)."""
    if rule.threshold is None:
        return []
    used = I.c.input_tokens + I.c.cache_read_tokens
    models = {m: n for m, n in CONTEXT_TOKENS.items() if rule.scope_kind != "model" or m == rule.scope_value}
    if not models:
        return []
    over = or_(*(and_(I.c.model == m, used > rule.threshold * n) for m, n in models.items()))
    query = select(I.c.task_id, I.c.model, used.label("used")).where(
        I.c.started_at >= now - timedelta(seconds=rule.window_seconds), over
    )
    if rule.scope_kind == "role":
        query = query.where(I.c.role == rule.scope_value)
    fullest: dict[int, tuple[float, str]] = {}
    for task_id, model, tokens in session.execute(query.limit(MAX_TARGETS * 10)):
        share = tokens / CONTEXT_TOKENS[model]
        if share > fullest.get(task_id, (0.0, ""))[0]:
            fullest[task_id] = (share, model)
    return [
        Finding(
            target=f"task:{task_id}",
            summary=f"Task #{task_id} sent {model} a prompt filling {share:.0%} of its context window",
            value=share,
            labels={"task_id": task_id},
        )
        for task_id, (share, model) in sorted(fullest.items())[:MAX_TARGETS]
    ]


Condition = Callable[[Session, Rule, datetime], list[Finding]]


def conditions(stuck_after: float, lease_seconds: float) -> dict[RuleKind, Condition]:
    # The three budget rules of a cycle (same `now`) share one reading of every budget's spend.
    memo: dict[datetime, list[budgets.BudgetStatus]] = {}

    def statuses(session: Session, now: datetime) -> list[budgets.BudgetStatus]:
        if now not in memo:
            memo.clear()
            memo[now] = budgets.statuses(session, now)
        return memo[now]

    return {
        RuleKind.STUCK_TASK: lambda s, r, now: stuck_tasks(s, r, now, stuck_after),
        RuleKind.TASK_FAILED: failed_tasks,
        RuleKind.FAILURE_RATE: failure_rate,
        RuleKind.QUEUE_DEPTH: queue_depth,
        RuleKind.BUDGET_USED: lambda s, r, now: budget_use(
            s, r, now, projected=False, statuses=statuses(s, now)
        ),
        RuleKind.BUDGET_PROJECTED: lambda s, r, now: budget_use(
            s, r, now, projected=True, statuses=statuses(s, now)
        ),
        RuleKind.WORKER_OFFLINE: lambda s, r, now: workers_offline(s, r, now, lease_seconds),
        RuleKind.COST_SPIKE: cost_spike,
        RuleKind.RESPONSE_TIME: response_time,
        RuleKind.WORKERS_UNAVAILABLE: workers_unavailable,
        RuleKind.CONTEXT_WINDOW: context_window,
        RuleKind.BROKER_QUEUE_DEPTH: broker_queue_depth,
    }
