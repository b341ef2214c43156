"""Tests: a worker's page — db/read/worker_detail on SQLite and PostgreSQL (state, what it runs, history newest
first, throughput from the rollup and the raw edges adding up to the tasks themselves), its pure builders,
and in Chromium: reached from the Agents page, live as tasks end, drained and resumed with the fleet control
card."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from dashboard import figures
from dashboard.components import worker as view
from dashboard.figures_agents import worker_throughput
from dashboard.fleet_control import BUTTON, RESULT
from dashboard.pages import worker as page_module
from dashboard.services import Services
from db.analytics import rollups
from db.analytics.rollcut import split
from db.control import fleet
from db.core.models import Task
from db.core.timeutil import utcnow
from db.domain.ops import TaskSpec, Transition
from db.domain.states import FAILURES, TaskKind, TaskStatus
from db.read import worker_detail
from db.read.scope import parse_scope
from db.write.recorder import Recorder
from db.write.workers import WorkerIdentity
from tests.browser import AppFactory, BrowserPage, assert_not_reloaded, open_page
from worker.history import generate_history


def text_of(component: object) -> str:
    return json.dumps(component.to_plotly_json(), default=lambda c: c.to_plotly_json())  # type: ignore[attr-defined]


def run(recorder: Recorder, worker_id: str, end: TaskStatus | None, title: str = "t") -> int:
    task_id = recorder.submit(TaskSpec(title=title, kind=TaskKind.EXTERNAL), actor="test")
    recorder.record(task_id, Transition(TaskStatus.RUNNING, worker_id=worker_id), actor="test")
    if end is not None:
        recorder.record(task_id, Transition(end, error="boom" if end in (TaskStatus.FAILED,) else None))
    return task_id


def test_state_tasks_history_and_throughput(svc: Services, recorder: Recorder) -> None:
    recorder.register_worker(WorkerIdentity("gpu-1", "gpu", "host-a", 42, 2, ("command",), ("gpu", "long")))
    recorder.register_worker(WorkerIdentity("cpu-1", "cpu", "host-b", 43, 1))
    done = run(recorder, "gpu-1", TaskStatus.COMPLETED, "first")
    failed = run(recorder, "gpu-1", TaskStatus.FAILED, "second")
    cancelled = run(recorder, "gpu-1", TaskStatus.CANCELLED, "third")
    running = run(recorder, "gpu-1", None, "fourth")
    run(recorder, "cpu-1", TaskStatus.COMPLETED, "elsewhere")
    now = utcnow()
    scope = parse_scope("?range=1h", now + timedelta(seconds=1))
    with svc.db.writing() as session:
        fleet.control(session, "gpu-1", "drain")
    with svc.db.reading() as session:
        state = worker_detail.worker(session, "gpu-1", now)
        current = worker_detail.current_tasks(session, "gpu-1")
        history = worker_detail.history(session, "gpu-1", scope)
        series = worker_detail.throughput(session, "gpu-1", scope)
        assert worker_detail.worker(session, "nobody", now) is None
    assert state is not None and state.state == "draining" and state.claim_tags == ("gpu", "long")
    assert state.claim_kinds == ("command",) and state.concurrency == 2 and state.heartbeat_age_s >= 0
    assert list(current["id"]) == [running]
    assert list(history["id"]) == [cancelled, failed, done]  # newest end first; any outcome
    assert list(history["status"]) == ["cancelled", "failed", "completed"]
    # Completed and failed count, cancelled does not (worker_hourly's own counting).
    assert len(series) in (60, 61) and series["done"].sum() == 1 and series["failed"].sum() == 1
    assert series["per_minute"].sum() == 2 and series["complete"].iloc[1:-1].all()
    outcomes = worker_detail.outcomes(series, scope, now)
    assert outcomes.finished == 2 and outcomes.failure_rate == 0.5 and outcomes.per_minute > 0

    shown = text_of(view.state_card(state, "gpu-1"))
    assert "draining" in shown and "gpu" in shown and "long" in shown and "every kind" not in shown
    assert "any task" in text_of(view.state_card(replace(state, claim_tags=None), "gpu-1"))
    assert '" \\u00b7 up "' in shown  # running: its uptime
    stopped = text_of(view.state_card(replace(state, status="offline", stopped_at=now), "gpu-1"))
    assert '" \\u00b7 ran for "' in stopped and " up " not in stopped  # offline: not up, how long it ran
    assert "No worker 'gone' is registered" in text_of(view.state_card(None, "gone"))
    assert f"/tasks/{failed}" in text_of(view.history_table(history)) and "boom" in text_of(
        view.history_table(history)
    )
    assert f"/tasks/{running}" in text_of(view.current_table(current, now))
    assert "50.0%" in text_of(view.kpis(outcomes, 1))
    assert not figures.is_empty(worker_throughput(series))
    assert figures.is_empty(worker_throughput(series.assign(done=0, failed=0)))
    assert view.worker_href("a/b c") == "/workers/a%2Fb%20c"


def test_the_worker_page_has_no_worker_filter() -> None:
    """A worker's page showed the scope bar's "worker" filter: its queries are narrowed to its worker whatever
    that filter says (worker_detail._mine), so it could only mislead. The other filters stay, and the
    analytics pages keep all of theirs."""
    from dashboard import ids
    from dashboard.pages import agents

    def filters(layout: object) -> list[str]:
        found = json.loads(json.dumps(layout.to_plotly_json(), default=lambda c: c.to_plotly_json()))  # type: ignore[attr-defined]

        def walk(node: object) -> list[str]:
            if isinstance(node, list):
                return [d for n in node for d in walk(n)]
            if not isinstance(node, dict):
                return []
            ident = node.get("props", {}).get("id")
            here = [ident["dim"]] if isinstance(ident, dict) and ident.get("type") == ids.SCOPE_DIM else []
            return here + walk(node.get("props", {}).get("children"))

        return walk(found)

    assert filters(page_module.layout("gpu-1", worker="gpu-1")) == ["kind", "tag", "role", "model"]
    assert filters(agents.layout()) == ["kind", "tag", "role", "model", "worker"]


def test_throughput_reads_the_rollup_for_whole_hours(svc: Services) -> None:
    """Over 14 days the whole hours come from worker_hourly: the totals are the tasks' own."""
    now = utcnow()
    generate_history(svc.db, 300, days=14, seed=5, now=now)
    with svc.db.writing() as session:
        rollups.refresh(session, now)
    with svc.db.reading() as session:
        worker_id, expected = session.execute(
            select(Task.worker_id, func.count())
            .where(Task.status.in_([TaskStatus.COMPLETED.value, *FAILURES]), Task.started_at.is_not(None))
            .group_by(Task.worker_id)
            .order_by(func.count().desc())
        ).first()  # type: ignore[misc]
        scope = parse_scope("?range=30d", now + timedelta(minutes=1))
        series = worker_detail.throughput(session, str(worker_id), scope)
        # The history's two ways (the range's last hour by end time, else by the worker's own index) agree.
        newest = session.scalars(
            select(Task.id)
            .where(Task.worker_id == worker_id, Task.completed_at >= scope.start)
            .order_by(Task.completed_at.desc(), Task.id.desc())
            .limit(80)
        ).all()
        for limit in (1, 80):
            shown = worker_detail.history(session, str(worker_id), scope, limit)
            assert list(shown["id"]) == newest[:limit]
        assert split(session, replace(scope, worker=(str(worker_id),)), dims=("worker",)).rolled is not None
    assert int(series["done"].sum() + series["failed"].sum()) == expected
    assert len(series) in (30, 31)


def test_refresh_of_an_unknown_worker(svc: Services) -> None:
    shown = page_module.refresh(svc, "gone-1", "?range=24h", None)
    assert "No worker" in text_of(shown[1]) and figures.is_empty(shown[3])


@pytest.mark.slow
def test_the_worker_page_in_a_browser(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    app = sqlite_app(worker=True)
    assert app.worker is not None
    page = tab.page
    open_page(page, app.url + "/agents")
    page.locator(".worker-link").first.click()
    page.wait_for_url("**/workers/**")
    expect(page.locator(f"#{page_module.STATE}")).to_contain_text("online")
    expect(page.locator(f"#{page_module.HISTORY}")).to_contain_text("No task of this worker ended")

    # Live: a task it runs appears in its history without a reload.
    task_id = app.recorder.submit(
        TaskSpec(title="echo", kind=TaskKind.COMMAND, payload={"command": "echo hi"}), actor="test"
    )
    history = page.locator(f"#{page_module.HISTORY}")
    expect(history.get_by_role("link", name=f"#{task_id}")).to_be_visible()
    expect(history).to_contain_text("completed")
    expect(page.locator("#kpi-worker-finished")).to_contain_text("1")

    # The fleet control card acts on this worker alone.
    page.click(f"#{BUTTON['drain']}")
    expect(page.locator(f"#{RESULT}")).to_contain_text("drain:")
    expect(page.locator(f"#{page_module.STATE}")).to_contain_text("draining")
    page.click(f"#{BUTTON['resume']}")
    expect(page.locator(f"#{page_module.STATE}")).not_to_contain_text("draining")
    assert_not_reloaded(page)

    # And from the task's page, its worker's name leads back here.
    page.goto(f"{app.url}/tasks/{task_id}")
    page.locator(".worker-link").click()
    page.wait_for_url("**/workers/**")
    expect(page.locator(f"#{page_module.STATE}")).to_contain_text("online")
    tab.watch.assert_clean()


@pytest.mark.parametrize(
    ("per_minute", "expected"),
    [
        (12.5, ("750", "18,000 a day, over the range")),
        (0.05, ("3", "72 a day, over the range")),
        (0.000496, ("0.0298", "0.714 a day, over the range")),
        (0.0, ("0", "0 a day, over the range")),
    ],
)
def test_the_finish_rate_is_per_hour_whatever_its_size(per_minute: float, expected: tuple[str, str]) -> None:
    """The card's label followed the figure to the unit where it reached 1 ("Per hour 1.73 / 41.4 a day" for
    one worker, "Per day 0 / 0 an hour" for another): one label now, per hour, a day's figure beside it; a
    quiet worker's rate keeps three significant digits (0.0298 an hour, not 0.00)."""
    assert view.finish_rate(per_minute) == expected
    for done in (125, 0):  # 12.5 a minute, and none
        card = text_of(view.kpis(worker_detail.Outcomes(done, 0, 10.0), 0).children[1])
        assert '"Per hour"' in card and "Per day" not in card and "Per minute" not in card
