"""Reports layer: what a report holds — plain dataclasses and small DataFrames, no database handles — so every
renderer is a pure function of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import pandas as pd

from db.alerts.report import AlertPeriod
from db.analytics.budgets import BudgetStatus
from db.domain.states import TaskKind
from db.read.scope import Scope
from reports.period import Period


class FilterError(ValueError):
    """A filter value that matches nothing by construction (an unknown kind); the message is for the user."""


@dataclass(frozen=True)
class Filters:
    """Which tasks a report covers (empty: all). Budgets keep their own scope and ignore these."""

    kind: tuple[str, ...] = ()
    tag: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        kinds = {k.value for k in TaskKind}
        for value in self.kind:
            if value not in kinds:
                raise FilterError(f"kind must be one of {', '.join(sorted(kinds))}, got {value!r}")

    def scope(self, period: Period) -> Scope:
        return Scope(start=period.start, end=period.end, range_key="custom", kind=self.kind, tag=self.tag)

    @property
    def description(self) -> str:
        parts = [f"kind {', '.join(self.kind)}"] if self.kind else []
        parts += [f"tag {', '.join(self.tag)}"] if self.tag else []
        return "; ".join(parts) or "all tasks"


class Unit(StrEnum):
    COUNT = "count"
    RATIO = "ratio"
    USD = "usd"
    TOKENS = "tokens"
    SECONDS = "seconds"


@dataclass(frozen=True)
class Kpi:
    key: str
    label: str
    unit: Unit
    value: float | None
    previous: float | None
    higher_is_better: bool | None = None  # None: neither direction is good or bad in itself

    @property
    def delta(self) -> float | None:
        """Absolute change (for a ratio: in points of the ratio, 0.05 = 5 points)."""
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous

    @property
    def change(self) -> float | None:
        """Relative change against the previous period; None when there is nothing to compare with."""
        if self.delta is None or not self.previous:
            return None
        return self.delta / abs(self.previous)

    @property
    def trend(self) -> str:
        """good / bad / neutral, for colouring the change."""
        if not self.delta or self.higher_is_better is None:
            return "neutral"
        return "good" if (self.delta > 0) == self.higher_is_better else "bad"


class Severity(StrEnum):
    WARNING = "warning"
    NOTICE = "notice"


@dataclass(frozen=True)
class Recommendation:
    rule: str
    severity: Severity
    message: str


@dataclass(frozen=True)
class Alert:
    """A bucket whose failures or spend stood out from the buckets before it."""

    metric: str  # "cost" or "failures"
    at: datetime
    value: float
    threshold: float


# Columns of the report's frames (the JSON schema lists the same).
KIND_COLUMNS = [
    "kind",
    "created",
    "completed",
    "failed",
    "timed_out",
    "cancelled",
    "success_rate",
    "p50_s",
    "p95_s",
]
COST_COLUMNS = ["key", "cost", "share", "calls", "input", "output", "cache"]
ROLE_COLUMNS = [
    "role",
    "calls",
    "finished",
    "failed",
    "failure_rate",
    "previous_failure_rate",
    "cost",
    "avg_s",
    "p95_s",
]
WORKER_COLUMNS = ["id", "name", "status", "done", "failed", "success_rate", "avg_task_s", "utilization"]
COST_DIMENSIONS = ("model", "role", "kind", "tag")


@dataclass(frozen=True, eq=False)
class Report:
    period: Period
    previous: Period
    filters: Filters
    generated_at: datetime
    as_of: datetime  # when budgets and stuck tasks were evaluated: the period's end, or now if sooner
    stuck_after_s: float
    kpis: tuple[Kpi, ...]
    by_kind: pd.DataFrame  # KIND_COLUMNS: created in the period, outcomes of tasks that ended in it
    by_status: pd.DataFrame  # status, count: tasks created in the period by their current status
    volume: pd.DataFrame  # bucket, created, finished, failed, cost per volume_unit
    volume_unit: str
    cost_by: dict[str, pd.DataFrame]  # COST_DIMENSIONS -> COST_COLUMNS, most expensive first
    cost_over_time: pd.DataFrame  # bucket, model, cost
    top_tasks: pd.DataFrame  # task_id, title, status, kind, cost, calls
    roles: pd.DataFrame  # ROLE_COLUMNS
    workers: pd.DataFrame  # WORKER_COLUMNS
    failure_reasons: pd.DataFrame  # status, reason, count
    failed_tasks: pd.DataFrame  # id, title, kind, status, failure_reason, error, attempt, completed_at, cost
    stuck_tasks: pd.DataFrame  # id, title, kind, worker_id, started_at, last_activity_at, silent_s
    budgets: tuple[BudgetStatus, ...]
    alerts: tuple[Alert, ...]
    recommendations: tuple[Recommendation, ...] = field(default=())
    # Alerts that fired in the period (db/alerts/report.py); every alert, whatever the report's filters.
    alerting: AlertPeriod = field(default_factory=AlertPeriod)

    def kpi(self, key: str) -> Kpi:
        for k in self.kpis:
            if k.key == key:
                return k
        raise KeyError(key)

    @property
    def title(self) -> str:
        return f"TaskLens {self.period.kind.value} report — {self.period.label}"
