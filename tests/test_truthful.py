"""Tests: numbers that agree everywhere and empty states that look intentional (issue 12, items 1 and 5) — the
board's lane counts, worker rows, the task page's progress / attempt / queue wait / end label / invocation
attempts, the grid's progress formatter, pool overflow, plurals, report wording, and every chart's empty state."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import pytest
from sqlalchemy import text, update

from dashboard import figures, figures_agents, figures_database, ids
from dashboard import figures_performance as figs_perf
from dashboard.components import board, detail, fmt, status
from dashboard.components.budgets import budget_card
from dashboard.components.overview import workers_summary
from dashboard.pages import performance as perf_page
from dashboard.pages import task_detail, tasks
from dashboard.services import Services
from db.analytics import agents, insights
from db.analytics.budgets import BudgetStatus
from db.analytics.performance import PerfKpis, Timing
from db.analytics.volume import Forecast
from db.core.engine import Database
from db.core.models import Task, Worker
from db.core.timeutil import utcnow
from db.domain.ops import InvocationFinished, InvocationStarted, Transition
from db.domain.states import TaskStatus
from db.read import overview
from db.read.tasks import history
from db.write.workers import WorkerIdentity, register_worker
from db.write.writes import apply_ops
from reports import fmt as report_fmt
from reports.model import Kpi, Unit
from tests.api_support import api_client, call
from tests.builders import make_task
from tests.test_components import card_row, texts

NOW = datetime(2026, 5, 1, 12, 0, 0)
WINDOW = (NOW - timedelta(hours=24), NOW)


# ---- the board ---------------------------------------------------------------------------------------------


def lane_strings(name: str, frame: pd.DataFrame, counts: dict[str, int]) -> list[str]:
    return texts(board.lane(name, frame, NOW, 60, counts))


def test_finished_lane_badge_is_todays_true_count_not_the_cards_shown() -> None:
    cards = pd.DataFrame([card_row(id=i, status="completed", completed_at=NOW) for i in range(25)])
    strings = lane_strings("completed", cards, {"completed": 17_247})
    assert "17,247 today" in strings and "25" not in strings
    assert "showing the newest 25 of 17,247" in strings


def test_finished_lane_says_when_cards_come_from_earlier_days() -> None:
    cards = pd.DataFrame([card_row(id=i, status="completed", completed_at=NOW) for i in range(4)])
    strings = lane_strings("completed", cards, {"completed": 1})
    assert "1 today" in strings and "and the newest 3 from earlier days" in strings


def test_failed_lane_names_cancelled_and_timed_out_apart() -> None:
    cards = pd.DataFrame(
        [
            card_row(id=1, status="failed", completed_at=NOW),
            card_row(id=2, status="cancelled", completed_at=NOW),
            card_row(id=3, status="timed_out", completed_at=NOW),
        ]
    )
    strings = lane_strings("failed", cards, {"failed": 3, "timed_out": 1, "cancelled": 1})
    assert "Failed, timed out or cancelled" in strings and "5 today" in strings
    assert "3 failed · 1 timed out · 1 cancelled" in strings
    # Each card carries its own status badge.
    assert {"failed", "cancelled", "timed out"} <= set(strings)


def test_active_lane_counts_all_and_says_how_many_shown() -> None:
    cards = pd.DataFrame([card_row(id=i, status="queued") for i in range(25)])
    strings = lane_strings("queued", cards, {"queued": 40})
    assert "40" in strings and "showing 25 of 40" in strings


# ---- workers ----------------------------------------------------------------------------------------------


def test_live_workers_hide_long_offline_and_split_outcomes(db: Database) -> None:
    now = utcnow()
    with db.writing() as s:
        for wid in ("w-a", "w-b", "w-gone"):
            register_worker(s, WorkerIdentity(wid, "builder", "host", 1, 4))
        s.execute(
            update(Worker)
            .where(Worker.id == "w-gone")
            .values(status="offline", last_seen_at=now - timedelta(hours=30))
        )
        s.execute(update(Worker).where(Worker.id == "w-b").values(status="offline"))
    start = now - timedelta(minutes=10)
    for outcome in (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.TIMED_OUT, TaskStatus.CANCELLED):
        make_task(db, created=start, status=outcome, worker="w-a", ran_for=5)
    with db.reading() as s:
        frame = overview.live_workers(s, now, timedelta(hours=24))
        everyone = overview.workers_frame(s)
    assert set(frame["id"]) == {"w-a", "w-b"}  # offline for 30 h: off the live list
    assert "w-gone" in set(everyone["id"])  # ...but still a row
    a = frame.set_index("id").loc["w-a"]
    assert (a.completed_today, a.failed_today, a.cancelled_today) == (1, 2, 1)
    strings = texts(workers_summary(frame, now))
    assert "1 completed · 2 failed · 1 cancelled" in strings
    assert "Finished today (UTC)" in strings
    assert "w-a" in strings and "w-b" in strings  # same name "builder": the ids tell them apart


def test_workers_api_splits_todays_outcomes(svc: Services) -> None:
    now = utcnow()
    with svc.db.writing() as s:
        register_worker(s, WorkerIdentity("w-api", "builder", "host", 1, 4))
    for outcome in (TaskStatus.FAILED, TaskStatus.FAILED, TaskStatus.FAILED, TaskStatus.CANCELLED):
        make_task(svc.db, created=now - timedelta(minutes=5), status=outcome, worker="w-api", ran_for=5)
    [row] = call(api_client(svc), "GET", "/workers")["items"]
    # The counters since registration still lump cancelled with failed, and now say so; today's are apart.
    assert (row["failed_today"], row["cancelled_today"], row["completed_today"]) == (3, 1, 0)
    stats = call(api_client(svc), "GET", "/stats")
    assert stats["failed_today"] == row["failed_today"]


# ---- the task page ----------------------------------------------------------------------------------------


def test_progress_label_says_the_bars_number() -> None:
    running = texts(status.progress_bar(50.0, 2, 2, "running"))
    assert "iteration 2 of 2 · 50%" in running
    done = status.progress_bar(50.0, 2, 2, "completed")
    assert "done in iteration 2 of 2" in texts(done)
    assert done.children[0].value == 100.0
    failed = status.progress_bar(50.0, 2, 2, "failed")
    assert "failed in iteration 2 of 2 at 50%" in texts(failed)
    assert failed.children[0].value == 50.0  # not drawn as done


def a_task(**over: Any) -> Task:
    values: dict[str, Any] = {
        "id": 3,
        "title": "goal",
        "kind": "demo",
        "status": "failed",
        "attempt": 2,
        "max_attempts": 1,
        "progress": 50.0,
        "progress_message": "iteration 2: working",
        "current_iteration": 2,
        "max_iterations": 2,
        "created_at": NOW - timedelta(minutes=30),
        "started_at": NOW - timedelta(minutes=2),
        "completed_at": NOW,
        "last_updated_at": NOW,
        "last_activity_at": NOW,
        "update_count": 5,
        "activity_count": 1,
        "invocation_count": 0,
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_read_tokens": 0,
        "cost_usd": 0.0,
        "cancel_requested": False,
        "worker_id": "w1",
    }
    values.update(over)
    return Task(**values)


def test_attempt_never_reads_above_its_maximum() -> None:
    t = a_task()
    head = " ".join(texts(detail.header(t)))
    assert "attempt 2 of 1" not in head and "attempt 2 (retried by hand; 1 automatic)" in head
    assert detail.attempt(1, 3) == "attempt 1 of 3"


def test_failed_task_end_and_last_step_are_labelled_as_such() -> None:
    t = a_task()
    user = texts(detail.user_view(t, NOW, 60))
    assert "Now" not in user and "Last step" in user
    system = texts(detail.system_view(t))
    assert "Failed at" in system and "Completed" not in system
    assert "Cancelled at" in texts(detail.system_view(a_task(status="cancelled")))
    assert "Completed" in texts(detail.system_view(a_task(status="completed")))


def test_queue_wait_is_measured_from_the_attempts_own_queueing() -> None:
    t = a_task(status="completed")
    moves = pd.DataFrame(
        {
            "at": pd.to_datetime(
                [NOW - timedelta(minutes=30), NOW - timedelta(minutes=25), NOW - timedelta(minutes=3)]
            ),
            "from_status": [None, "running", "failed"],
            "to_status": ["queued", "failed", "queued"],
        }
    )
    facts = texts(detail.system_view(t, moves))
    wait = facts[facts.index("Queue wait") + 1]
    assert wait == "1m 00s"  # queued again 3 min ago, started 2 min ago; not the 28 min since creation


def test_invocation_attempts_from_ids_and_from_runs(db: Database) -> None:
    created = NOW - timedelta(hours=1)
    task_id = make_task(
        db, created=created, status=TaskStatus.FAILED, ran_for=60, calls=(("planner", "m", 0.1),)
    )
    second = created + timedelta(minutes=10)
    with db.writing() as s:
        apply_ops(s, task_id, [Transition(TaskStatus.QUEUED, next_attempt=True)], actor="t", now=second)
        apply_ops(
            s,
            task_id,
            [Transition(TaskStatus.RUNNING, worker_id="w1", lease_until=second + timedelta(hours=1))],
            actor="t",
            now=second + timedelta(seconds=5),
        )
        for n, call in enumerate((f"t{task_id}a2-1", "plain-id")):
            at = second + timedelta(seconds=10 + n)
            started = InvocationStarted(call, role="builder", provider="p", model="m")
            apply_ops(s, task_id, [started, InvocationFinished(call)], actor="t", now=at)
    with db.reading() as s:
        inv = history.invocations(s, task_id)
    assert list(inv["attempt"]) == [1, 2, 2]
    table = detail.invocations_table(inv)
    strings = texts(table)
    assert "Attempt" in strings and strings.count("2") >= 2


def test_missing_task_shows_only_a_not_found_card(svc: Services) -> None:
    out = task_detail.refresh(svc, None, 999_999, "light", None, None)
    header, panels_style = out[0], out[-1]
    assert "Task not found" in texts(header)
    assert panels_style == {"display": "none"}
    link = header.children.children[-1]
    assert link.href == "/tasks"
    task_id = make_task(svc.db, created=utcnow() - timedelta(minutes=5))
    assert task_detail.refresh(svc, None, task_id, "light", None, None)[-1] == {}


# ---- small truths ------------------------------------------------------------------------------------------


def test_grid_progress_formatter_blank_while_a_block_loads() -> None:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("CI"):  # .ci/run installs Node.js (for axe-core): never skipped there
            pytest.fail("node is required in CI for this test")
        pytest.skip("node is not installed")
    [progress] = [c for c in tasks.COLUMNS if c.get("field") == "progress"]
    body = progress["valueFormatter"]["function"]
    # d3.format('.0f') as ag-grid's formatter scope has it: undefined formats as "NaN".
    script = (
        "const d3 = {format: () => (v) => Number(v).toFixed(0)};"
        f"const f = (params) => ({body});"
        "console.log(JSON.stringify([f({value: undefined}), f({value: null}), f({value: 42.4})]));"
    )
    out = subprocess.run([node, "-e", script], capture_output=True, text=True, check=True, timeout=30)
    assert json.loads(out.stdout) == ["", "", "42%"]


def test_pool_overflow_is_never_negative(db: Database) -> None:
    with db.reading() as s:
        s.execute(text("SELECT 1"))
        pools = insights.pool_usage(db)
    assert (pools["overflow"].dropna() >= 0).all()


def test_plurals() -> None:
    assert fmt.plural(1, "budget") == "1 budget" and fmt.plural(2, "budget") == "2 budgets"
    assert fmt.plural(1_200, "task") == "1,200 tasks" and fmt.plural(0, "index", "indexes") == "0 indexes"
    one = BudgetStatus(
        id=1,
        name="all",
        period="day",
        limit_usd=10.0,
        scope_kind="all",
        scope_value=None,
        period_start=NOW,
        period_end=NOW + timedelta(days=1),
        spent=1.0,
        projected=2.0,
    )
    assert "1 budget" in texts(budget_card([one]))


def test_report_change_reads_as_a_sentence() -> None:
    def kpi(value: float | None, previous: float | None) -> Kpi:
        return Kpi("c", "Tasks completed", Unit.COUNT, value, previous, True)

    assert report_fmt.versus(kpi(3, None)) == "no previous period to compare"
    assert report_fmt.versus(kpi(3, 2)) == "+50.0% vs previous"


# ---- empty states ------------------------------------------------------------------------------------------


def assert_empty(fig: go.Figure) -> None:
    assert figures.is_empty(fig), "not the empty state"
    assert not fig.data, "traces drawn over no data"
    assert (
        fig.layout.xaxis.visible is False and fig.layout.yaxis.visible is False
    )  # no −1…4 or year-2000 axes


def test_every_chart_has_one_empty_state() -> None:
    none = pd.DataFrame
    volume_cols = ["bucket", "created", "cost", "failed", "complete"]
    zero_volume = pd.DataFrame(
        {
            "bucket": pd.date_range(NOW - timedelta(hours=5), periods=6, freq="h"),
            "created": [0] * 6,
            "cost": [0.0] * 6,
            "failed": [0] * 6,
            "complete": [True] * 6,
        }
    )
    flat = pd.DataFrame({"value": [0.0] * 6, "threshold": [0.0] * 6, "spike": [False] * 6})
    built = [
        figures.task_timeline(
            none(columns=["role", "started_at", "completed_at", "model", "status"]),
            none(columns=["at", "from_status", "to_status"]),
            NOW,
        ),
        figures.cost_over_time(none(columns=["bucket", "model", "cost"]), WINDOW, "hour"),
        figures.tokens_over_time(none(columns=["bucket", "input", "output", "cache"]), WINDOW),
        figures.breakdown_bars(none(columns=["key", "cost", "calls"]), "model"),
        figures_agents.role_cost_bars(none(columns=agents.ROLE_COLUMNS)),
        figures_agents.role_quality(none(columns=agents.ROLE_COLUMNS)),
        figs_perf.duration_histogram(none(columns=["kind", "bin", "label", "count"])),
        figs_perf.duration_box(none(columns=["kind", "n", "min", "p25", "median", "p75", "p95", "max"])),
        figs_perf.outcomes_by_kind(none(columns=["bucket", "kind", "status", "count"]), WINDOW, "hour"),
        figs_perf.tool_bars(none(columns=["tool", "calls", "share"])),
        figs_perf.peak_heatmap(none(columns=["weekday", "hour", "count"])),
        figs_perf.volume_forecast(zero_volume, Forecast(NOW, 0.0, 0.0, 0.0, 5), "hour"),
        figs_perf.volume_forecast(none(columns=volume_cols), None, "hour"),
        figs_perf.spikes_chart(zero_volume, flat, flat, "hour"),
        figures_database.writes_over_time(
            none(columns=["bucket", "per_second", "events"]),
            none(columns=["bucket", "commits_per_second"]),
            None,
            WINDOW,
            "hour",
        ),
        figures_database.commit_latency(
            none(columns=["bucket", "p50_ms", "p95_ms", "commits", "processes"]), WINDOW
        ),
        figures_database.update_histogram(none(columns=["label", "tasks", "updates"])),
        figures_database.event_growth(none(columns=["day", "events", "cumulative"]), WINDOW),
    ]
    for fig in built:
        assert_empty(fig)
    hint = figures.cost_over_time(none(columns=["bucket", "model", "cost"]), WINDOW, "hour")
    assert "python app.py --demo" in hint.layout.annotations[0].text
    # The overview's chart (server-drawn SVG) has the same empty state: tests/test_figures_svg.py.


def test_forecast_of_nothing_is_not_a_number() -> None:
    timing = Timing(None, None, None)
    k = PerfKpis(24.0, 0, 0, 0, 0, 0, timing, timing, timing)
    strings = texts(perf_page.kpis(k, Forecast(NOW, 0.0, 0.0, 0.0, 5), "hour"))
    assert "0.0" not in strings and "0–0" not in " ".join(strings)
    assert "no tasks created yet to forecast from" in strings


def test_ids_for_the_detail_panels_exist() -> None:
    assert ids.DETAIL_PANELS and ids.DETAIL_NOT_FOUND
