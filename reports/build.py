"""Reports layer: gathers a report of a period through the db/ query functions (the same ones the analytics
pages use, so a report and the dashboard agree), in one read session, then derives the recommendations."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pandas as pd
from sqlalchemy.orm import Session

from db.alerts import report as alert_report
from db.analytics import agents, budgets, costs, performance, volume
from db.core.timeutil import utcnow
from db.read.scope import Scope
from db.reporting import queries as report_queries
from reports.model import (
    COST_COLUMNS,
    COST_DIMENSIONS,
    KIND_COLUMNS,
    ROLE_COLUMNS,
    WORKER_COLUMNS,
    Alert,
    Filters,
    Kpi,
    Report,
    Unit,
)
from reports.period import Period
from reports.rules import recommend

DEFAULT_STUCK_AFTER = timedelta(seconds=60)
TOP_TASKS = 10
FAILED_TASKS = 50
STUCK_TASKS = 50
WORKERS = 20


def build_report(
    session: Session,
    period: Period,
    filters: Filters | None = None,
    *,
    now: datetime | None = None,
    stuck_after: timedelta = DEFAULT_STUCK_AFTER,
) -> Report:
    """The report of `period` for the tasks matching `filters`. Budgets are evaluated at the period's end, or at
    `now` when the period is still running; stuck tasks are those still running now that had been silent
    for `stuck_after` at that moment."""
    filters = filters or Filters()
    now = now or utcnow()
    scope = filters.scope(period)
    before = filters.scope(period.previous())
    as_of = min(now, period.end - timedelta(microseconds=1))

    perf, perf_before = performance.kpis(session, scope), performance.kpis(session, before)
    spend, spend_before = costs.totals(session, scope), costs.totals(session, before)
    created = report_queries.created_by_kind_status(session, scope)
    created_before = report_queries.created_by_kind_status(session, before)
    series = volume.volume_series(session, scope)

    report = Report(
        period=period,
        previous=period.previous(),
        filters=filters,
        generated_at=now,
        as_of=as_of,
        stuck_after_s=stuck_after.total_seconds(),
        kpis=_kpis(perf, perf_before, spend, spend_before, created, created_before),
        by_kind=_by_kind(session, scope, created),
        by_status=_by_status(created),
        volume=series[["bucket", "created", "finished", "failed", "cost"]].rename_axis(columns=None),
        volume_unit=scope.unit,
        cost_by={dim: _cost_breakdown(session, scope, dim) for dim in COST_DIMENSIONS},
        cost_over_time=costs.over_time(session, scope)[["bucket", "model", "cost"]],
        top_tasks=costs.top_tasks(session, scope, limit=TOP_TASKS),
        roles=_roles(session, scope, before),
        workers=_workers(session, scope, now),
        failure_reasons=report_queries.failure_reasons(session, scope),
        failed_tasks=report_queries.failed_tasks(session, scope, limit=FAILED_TASKS),
        stuck_tasks=report_queries.stuck_tasks(session, scope, as_of, stuck_after, limit=STUCK_TASKS),
        budgets=tuple(budgets.statuses(session, as_of)),
        alerts=tuple(Alert(*a) for a in volume.analyse(series, scope.unit).alerts),
        alerting=alert_report.period_alerts(session, period.start, period.end),
    )
    return replace(report, recommendations=recommend(report))


def _kpis(
    perf: performance.PerfKpis,
    perf_before: performance.PerfKpis,
    spend: costs.CostTotals,
    spend_before: costs.CostTotals,
    created: pd.DataFrame,
    created_before: pd.DataFrame,
) -> tuple[Kpi, ...]:
    return (
        Kpi("tasks_created", "Tasks created", Unit.COUNT, int(created["count"].sum()),
            int(created_before["count"].sum())),
        Kpi("tasks_completed", "Tasks completed", Unit.COUNT, perf.completed, perf_before.completed, True),
        Kpi("tasks_failed", "Tasks failed or timed out", Unit.COUNT, perf.failed, perf_before.failed, False),
        Kpi("success_rate", "Success rate", Unit.RATIO, perf.success_rate, perf_before.success_rate, True),
        Kpi("total_cost", "Total cost", Unit.USD, spend.cost, spend_before.cost),
        Kpi("cost_per_task", "Cost per task", Unit.USD, spend.per_task, spend_before.per_task, False),
        Kpi("tokens", "Tokens (input + output)", Unit.TOKENS, spend.input_tokens + spend.output_tokens,
            spend_before.input_tokens + spend_before.output_tokens),
        Kpi("p95_processing_s", "p95 processing time", Unit.SECONDS, perf.processing.p95,
            perf_before.processing.p95, False),
    )  # fmt: skip


def _by_status(created: pd.DataFrame) -> pd.DataFrame:
    frame = created.groupby("status", as_index=False)["count"].sum()
    return frame.sort_values(["count", "status"], ascending=[False, True]).reset_index(drop=True)


def _by_kind(session: Session, scope: Scope, created: pd.DataFrame) -> pd.DataFrame:
    """Per kind: tasks created in the period; outcomes and processing times of the tasks that ended in it."""
    ended = performance.outcomes_over_time(session, scope)
    outcomes = ended.pivot_table(index="kind", columns="status", values="count", aggfunc="sum", fill_value=0)
    made = created.groupby("kind")["count"].sum()
    quantiles = performance.duration_quantiles(session, scope).set_index("kind")
    kinds = sorted(set(made.index) | set(outcomes.index))
    frame = pd.DataFrame({"kind": kinds})
    frame["created"] = [int(made.get(k, 0)) for k in kinds]
    for status in ("completed", "failed", "timed_out", "cancelled"):
        column = outcomes[status] if status in outcomes.columns else pd.Series(dtype=int)
        frame[status] = [int(column.get(k, 0)) for k in kinds]
    outcomes_n = frame["completed"] + frame["failed"] + frame["timed_out"]
    frame["success_rate"] = (frame["completed"] / outcomes_n.where(outcomes_n > 0)).astype(float)
    frame["p50_s"] = [float(quantiles["median"].get(k, float("nan"))) for k in kinds]
    frame["p95_s"] = [float(quantiles["p95"].get(k, float("nan"))) for k in kinds]
    return frame[KIND_COLUMNS]


def _cost_breakdown(session: Session, scope: Scope, dim: str) -> pd.DataFrame:
    frame = costs.breakdown(session, scope, dim)
    total = float(frame["cost"].sum()) if not frame.empty else 0.0
    frame["cost"] = frame["cost"].astype(float)
    frame["share"] = frame["cost"] / total if total else 0.0
    return frame[COST_COLUMNS].reset_index(drop=True)


def _roles(session: Session, scope: Scope, before: Scope) -> pd.DataFrame:
    now_ = agents.roles(session, scope)
    then = agents.roles(session, before).set_index("role")["failure_rate"]
    now_["previous_failure_rate"] = [float(then.get(r, float("nan"))) for r in now_["role"]]
    return now_[ROLE_COLUMNS]


def _workers(session: Session, scope: Scope, now: datetime) -> pd.DataFrame:
    """Workers that finished tasks in the period, busiest first."""
    fleet = agents.fleet(session, scope, now)
    fleet = fleet[(fleet["done"] + fleet["failed"]) > 0]
    fleet = fleet.sort_values(["done", "failed", "name"], ascending=[False, False, True]).head(WORKERS)
    return fleet[WORKER_COLUMNS].reset_index(drop=True)
