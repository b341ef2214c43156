"""Tests: every chart whose x axis is time says it is UTC (on the axis and in the hover), since charts stay in
UTC whatever the local-time switch shows, and charts of other axes are left alone; the text times of report
runs, budgets and a running task's lease are marked for the switch (<time datetime=…Z>)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from dash import html

from dashboard import figures
from dashboard.components.budgets import budget_row
from dashboard.components.detail import system_view
from dashboard.components.reports import run_row
from db.analytics.budgets import BudgetStatus
from db.reporting.store import Run
from tests.test_truthful import a_task

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)
NAIVE = NOW.replace(tzinfo=None)  # how the database hands times back: naive UTC


def test_time_axes_say_utc() -> None:
    spent = pd.DataFrame(
        {
            "bucket": [NOW - timedelta(hours=2), NOW - timedelta(hours=1)],
            "model": ["m", "m"],
            "cost": [3.0, 1.0],
        }
    )
    fig = figures.cost_over_time(spent, (NOW - timedelta(hours=24), NOW), "hour")
    assert fig.layout.xaxis.title.text == "UTC"
    assert fig.layout.xaxis.hoverformat.endswith("UTC")


def test_other_axes_are_left_alone() -> None:
    top = pd.DataFrame({"key": ["gpt-4.1", "claude-opus-4-1"], "cost": [1.5, 3.0], "calls": [2, 3]})
    fig = figures.breakdown_bars(top, "model")
    assert fig.layout.xaxis.title.text == "USD" and fig.layout.xaxis.hoverformat is None


def _times(component: Any) -> list[str]:
    """The datetime attributes of the <time> elements the local-time switch redraws."""
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, list | tuple):
            for child in node:
                walk(child)
        elif isinstance(node, html.Time):
            found.append(node.to_plotly_json()["props"]["dateTime"])
        elif node is not None and not isinstance(node, str | int | float):
            walk(getattr(node, "children", None))

    walk(component)
    return found


def test_report_runs_budgets_and_leases_follow_the_local_time_switch() -> None:
    run = Run(
        id=1, schedule_id=1, schedule_name="weekly", trigger="schedule", period_kind="weekly",
        period_start=NAIVE - timedelta(days=7), period_end=NAIVE, kinds=(), tags=(), formats=("pdf",),
        status="completed", progress=1.0, stage=None, error=None, files=(), requested_by="scheduler",
        scheduled_for=NAIVE, created_at=NAIVE, started_at=NAIVE, completed_at=NAIVE + timedelta(seconds=5),
        worker_id="w1", attempt=1, delivery={},
    )  # fmt: skip
    assert _times(run_row(run)) == ["2026-12-03T12:00:00Z", "2026-12-03T12:00:00Z", "2026-12-03T12:00:05Z"]
    budget = BudgetStatus(
        1, "cap", "month", 100.0, "all", None, NAIVE, NAIVE + timedelta(days=28), 10.0, 40.0
    )
    assert _times(budget_row(budget)) == ["2026-12-31T12:00:00Z"]
    lease = NAIVE + timedelta(seconds=15)
    running = a_task(status="running", completed_at=None, lease_expires_at=lease)
    assert "2026-12-03T12:00:15Z" in _times(system_view(running))
