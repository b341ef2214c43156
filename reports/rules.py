"""Reports layer: rule-based recommendations. Each rule is a small pure function of already-aggregated data with
its threshold as a parameter, returning what it found as sentences; `recommend` runs them all on a report."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from db.analytics.budgets import BudgetStatus
from reports import fmt
from reports.model import Alert, Kpi, Recommendation, Report, Severity

ROLE_FAILURE_RATE = 0.20  # a role failing at least this share of its finished calls…
ROLE_MIN_CALLS = 20  # …over at least this many calls (a handful of calls is noise)
MODEL_SHARE = 0.50  # one model taking at least this share of the spend
SUCCESS_DROP = 0.05  # success rate down by at least 5 points
COST_PER_TASK_RISE = 0.25  # cost per task up by at least 25 %
P95_SLOWDOWN = 0.50  # p95 processing time up by at least 50 %
KIND_FAILURE_RATE = 0.25
KIND_MIN_OUTCOMES = 10
TIMEOUT_SHARE = 0.30  # timeouts at least this share of the failures…
TIMEOUT_MIN = 5  # …and at least this many
ADJECTIVE = {"day": "daily", "week": "weekly", "month": "monthly"}


def _rec(rule: str, severity: Severity, message: str) -> Recommendation:
    return Recommendation(rule, severity, message)


def role_failures(
    roles: pd.DataFrame, threshold: float = ROLE_FAILURE_RATE, min_calls: int = ROLE_MIN_CALLS
) -> list[Recommendation]:
    """Roles whose calls fail often: 'role reviewer fails 31% of its calls, up from 12%'."""
    out = []
    for row in roles.itertuples(index=False):
        rate = row.failure_rate
        if fmt.missing(rate) or row.finished < min_calls or rate < threshold:
            continue
        before = row.previous_failure_rate
        if fmt.missing(before):
            since = "(no calls in the previous period)"
        elif rate > before + 0.005:
            since = f"up from {fmt.percent(before)}"
        elif rate < before - 0.005:
            since = f"down from {fmt.percent(before)}"
        else:
            since = "as in the previous period"
        out.append(
            _rec(
                "role_failures",
                Severity.WARNING,
                f"Role {row.role} fails {fmt.percent(rate)} of its calls ({row.failed:,} of {row.finished:,}), "
                f"{since}: look at its prompts, tools and the errors below.",
            )
        )
    return out


def model_concentration(by_model: pd.DataFrame, threshold: float = MODEL_SHARE) -> list[Recommendation]:
    """One model taking most of the spend: 'model X is 64% of spend'."""
    total = float(by_model["cost"].sum()) if not by_model.empty else 0.0
    if total <= 0 or len(by_model) < 1:
        return []
    out = []
    for row in by_model.itertuples(index=False):
        share = float(row.cost) / total
        if share >= threshold:
            out.append(
                _rec(
                    "model_concentration",
                    Severity.NOTICE,
                    f"Model {row.key or '(none)'} is {fmt.percent(share)} of spend ({fmt.money(row.cost)} of "
                    f"{fmt.money(total)}): check whether a cheaper model can take some of its calls.",
                )
            )
    return out


def budget_alerts(budgets: Iterable[BudgetStatus]) -> list[Recommendation]:
    """Budgets already over their limit, or on track to be at the current burn rate."""
    out = []
    for b in budgets:
        scope = "" if b.scope_kind == "all" else f" ({b.scope_kind.replace('_', ' ')} {b.scope_value})"
        if b.over:
            out.append(
                _rec(
                    "budget_over",
                    Severity.WARNING,
                    f"Budget {b.name}{scope} is over its {b.period}ly limit: {fmt.money(b.spent)} spent of "
                    f"{fmt.money(b.limit_usd)}.",
                )
            )
        elif b.projected_over:
            out.append(
                _rec(
                    "budget_projected_over",
                    Severity.WARNING,
                    f"Budget {b.name}{scope} is projected over: {fmt.money(b.projected)} by the end of the "
                    f"{b.period} at the current rate, against a limit of {fmt.money(b.limit_usd)} "
                    f"({fmt.money(b.spent)} spent so far).",
                )
            )
    return out


def success_drop(success: Kpi, threshold: float = SUCCESS_DROP) -> list[Recommendation]:
    if success.delta is None or -success.delta < threshold:
        return []
    return [
        _rec(
            "success_drop",
            Severity.WARNING,
            f"Success rate fell to {fmt.percent(success.value)} from {fmt.percent(success.previous)} in the "
            "previous period.",
        )
    ]


def cost_per_task_rise(per_task: Kpi, threshold: float = COST_PER_TASK_RISE) -> list[Recommendation]:
    if per_task.change is None or per_task.change < threshold:
        return []
    return [
        _rec(
            "cost_per_task_rise",
            Severity.NOTICE,
            f"Cost per task rose {fmt.percent(per_task.change)} to {fmt.money(per_task.value)} "
            f"(from {fmt.money(per_task.previous)}).",
        )
    ]


def slowdown(p95: Kpi, threshold: float = P95_SLOWDOWN) -> list[Recommendation]:
    if p95.change is None or p95.change < threshold:
        return []
    return [
        _rec(
            "slowdown",
            Severity.NOTICE,
            f"p95 processing time rose {fmt.percent(p95.change)} to {fmt.duration(p95.value)} "
            f"(from {fmt.duration(p95.previous)}).",
        )
    ]


def kind_failures(
    by_kind: pd.DataFrame, threshold: float = KIND_FAILURE_RATE, min_outcomes: int = KIND_MIN_OUTCOMES
) -> list[Recommendation]:
    out = []
    for row in by_kind.itertuples(index=False):
        bad = int(row.failed) + int(row.timed_out)
        outcomes = bad + int(row.completed)
        if outcomes < min_outcomes or bad / outcomes < threshold:
            continue
        out.append(
            _rec(
                "kind_failures",
                Severity.WARNING,
                f"{fmt.percent(bad / outcomes)} of {row.kind} tasks failed or timed out ({bad:,} of {outcomes:,}).",
            )
        )
    return out


def timeouts(
    reasons: pd.DataFrame, share: float = TIMEOUT_SHARE, minimum: int = TIMEOUT_MIN
) -> list[Recommendation]:
    total = int(reasons["count"].sum()) if not reasons.empty else 0
    timed_out = int(reasons.loc[reasons["status"] == "timed_out", "count"].sum()) if total else 0
    if timed_out < minimum or timed_out / total < share:
        return []
    return [
        _rec(
            "timeouts",
            Severity.NOTICE,
            f"Timeouts are {fmt.percent(timed_out / total)} of failures ({timed_out:,} of {total:,}): raise the "
            "timeout of those tasks or split their work.",
        )
    ]


def stuck(stuck_tasks: pd.DataFrame, stuck_after_s: float) -> list[Recommendation]:
    if stuck_tasks.empty:
        return []
    longest = stuck_tasks.iloc[0]
    n = len(stuck_tasks)
    return [
        _rec(
            "stuck",
            Severity.WARNING,
            f"{n} running task{'s' if n != 1 else ''} {'are' if n != 1 else 'is'} possibly stuck (silent for "
            f"more than {fmt.duration(stuck_after_s)}); the longest, #{longest['id']} {longest['title']}, for "
            f"{fmt.duration(float(longest['silent_s']))}.",
        )
    ]


def spikes(alerts: Sequence[Alert]) -> list[Recommendation]:
    out = []
    for a in alerts:
        shown = fmt.money if a.metric == "cost" else fmt.count
        what = "Spend" if a.metric == "cost" else "Failures"
        out.append(
            _rec(
                f"{a.metric}_spike",
                Severity.NOTICE,
                f"{what} spiked at {fmt.timestamp(a.at)}: {shown(a.value)} against a usual at most "
                f"{shown(a.threshold)}.",
            )
        )
    return out


def recommend(report: Report) -> tuple[Recommendation, ...]:
    """Every rule on the report, warnings first (stable within a severity)."""
    found = [
        *budget_alerts(report.budgets),
        *stuck(report.stuck_tasks, report.stuck_after_s),
        *success_drop(report.kpi("success_rate")),
        *kind_failures(report.by_kind),
        *role_failures(report.roles),
        *timeouts(report.failure_reasons),
        *cost_per_task_rise(report.kpi("cost_per_task")),
        *model_concentration(report.cost_by["model"]),
        *slowdown(report.kpi("p95_processing_s")),
        *spikes(report.alerts),
    ]
    return tuple(sorted(found, key=lambda r: r.severity is not Severity.WARNING))
