"""Tests: WCAG 2.1 AA in a real browser — axe-core (the npm package, injected by Playwright) on every page of
the dashboard and on /login, in light and dark mode: no serious or critical violation."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from dashboard import celery_panel, ids
from dashboard.components import schedule_form
from dashboard.pages import calls as calls_page
from dashboard.pages import schedules
from dashboard.pages import worker as worker_page
from db.control import task_schedules
from db.control.task_schedules import ScheduleSpec
from db.core.timeutil import utcnow
from db.domain.ops import ActivityLine, TaskSpec, Transition
from db.domain.states import TaskKind, TaskStatus
from db.write.workers import WorkerIdentity
from tests.browser import TIMEOUT_MS, VIEWPORT, AppFactory, chromium_path, wait_live, wait_still
from tests.liveserver import LiveApp

pytestmark = pytest.mark.slow

# .ci/run installs it: `npm install --prefix .ci/npm axe-core@<version>` (not committed).
AXE = Path(
    os.environ.get(
        "TASKLENS_AXE", Path(__file__).resolve().parent.parent / ".ci/npm/node_modules/axe-core/axe.min.js"
    )
)
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
PAGES = ("/", "/tasks", "/tasks/{task}", "/calls", "/submit", "/costs", "/budgets", "/agents", "/workers/{worker}",
         "/performance", "/database", "/reports", "/schedules", "/audit",
         "/tasks/{celery_task}", "/workers/{celery_worker}")  # fmt: skip
WORKER = "a11y-1"
CELERY_WORKER = "celery@a11y"  # a Celery worker's page and a Celery task's: their Celery cards
# Something drawn on each page: axe runs once the page shows it.
READY = {
    "/": f"#{ids.KPIS} .card",
    "/tasks": f"#{ids.GRID} .ag-header-cell",
    "/calls": f"#{calls_page.GRID} .ag-header-cell",
    "/tasks/{task}": f"#{ids.DETAIL_HEADER} .task-title",
    "/submit": f"#{ids.S_TITLE}",
    "/schedules": f"#{schedules.SCHEDULES_TABLE} table",
    "/workers/{worker}": f"#{worker_page.HISTORY} table",
    "/tasks/{celery_task}": f"#{celery_panel.TASK_NAME}",
    "/workers/{celery_worker}": f"#{celery_panel.WORKER_INFO} span",
}


def axe_path() -> Path:
    if AXE.is_file():
        return AXE
    reason = f"axe-core not found at {AXE} (npm install --prefix .ci/npm axe-core)"
    if os.environ.get("CI"):
        pytest.fail(f"the accessibility test must run in CI: {reason}")
    pytest.skip(reason)


def serious(page: Page) -> list[str]:
    """axe's serious and critical WCAG 2.1 A/AA violations on the page as it is, one line per element."""
    page.add_script_tag(path=str(axe_path()))
    result: dict[str, Any] = page.evaluate(
        "(tags) => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        WCAG_AA,
    )
    lines = []
    for v in result["violations"]:
        if v["impact"] not in ("serious", "critical"):
            continue
        for node in v["nodes"][:5]:
            lines.append(f"{v['id']} ({v['impact']}): {node['target']} — {node['failureSummary'][:300]}")
    return lines


def _data(app: LiveApp) -> int:
    """A few tasks in every state, one with activity, run by a worker that claims only some tags, and a
    schedule, so tables, cards and charts have something to show."""
    app.recorder.register_worker(WorkerIdentity(WORKER, "a11y", "host", 1, 2, None, ("a11y",)))
    with app.recorder.transaction() as session:
        spec = ScheduleSpec(
            name="beat",
            title="heartbeat",
            kind=TaskKind.COMMAND,
            payload={"command": "true"},
            cron="0 * * * *",
        )
        task_schedules.create(session, spec, utcnow())
    task = 0
    for i, status in enumerate(
        (TaskStatus.RUNNING, TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.TIMED_OUT, None)
    ):
        task = app.recorder.submit(
            TaskSpec(title=f"task {i}", kind=TaskKind.EXTERNAL, tags=("a11y",)), actor="test"
        )
        if status is None:
            continue
        app.recorder.record(task, Transition(TaskStatus.RUNNING, worker_id=WORKER), actor="test")
        app.recorder.record(task, ActivityLine(f"step of task {i}"), actor="test")
        if status is not TaskStatus.RUNNING:
            error = "gave up" if status is TaskStatus.FAILED else None
            app.recorder.record(task, Transition(status, error=error), actor="test")
    return task


def _celery_data(app: LiveApp) -> int:
    """A Celery worker and a task it ran (no broker here: the worker card says how to get one)."""
    app.recorder.register_worker(WorkerIdentity(CELERY_WORKER, CELERY_WORKER, "a11y", 1, 2))
    task = app.recorder.submit(
        TaskSpec(title="proj.add", kind=TaskKind.CELERY, external_id="a11y-celery-1"), actor="celery"
    )
    app.recorder.record(task, Transition(TaskStatus.RUNNING, worker_id=CELERY_WORKER), actor="celery")
    return task


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_page_has_no_serious_violations(sqlite_app: AppFactory, browser: Browser, theme: str) -> None:
    app = sqlite_app(worker=False)
    task = _data(app)
    celery_task = _celery_data(app)
    context = browser.new_context(viewport=VIEWPORT, color_scheme=theme)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    # The theme switch's remembered choice (a localStorage dcc.Store), as a returning user has it.
    context.add_init_script(f"localStorage.setItem({ids.THEME!r}, JSON.stringify({theme!r}))")
    page = context.new_page()
    found: dict[str, list[str]] = {}
    try:
        for path in PAGES:
            page.goto(
                app.url
                + path.format(task=task, worker=WORKER, celery_task=celery_task, celery_worker=CELERY_WORKER)
            )
            wait_live(page)
            expect(page.locator("html")).to_have_attribute("data-bs-theme", theme)
            if path in READY:
                expect(page.locator(READY[path]).first).to_be_visible()
            wait_still(page)  # axe checks the page as Dash has drawn it, whatever the machine's load
            lines = serious(page)
            if lines:
                found[path] = lines
            if path == "/schedules":  # and its dialog, open
                page.click(f"#{schedules.NEW}")
                expect(page.locator(f"#{schedule_form.MODAL}")).to_be_visible()
                wait_still(page)  # the dialog as it stays, not mid-fade
                lines = serious(page)
                if lines:
                    found["/schedules (the new schedule dialog)"] = lines
    finally:
        context.close()
    assert not found, "\n".join(f"{path}:\n  " + "\n  ".join(lines) for path, lines in found.items())


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_login_page_has_no_serious_violations(sqlite_app: AppFactory, browser: Browser, theme: str) -> None:
    chromium_path()
    app = sqlite_app(worker=False, auth="on", secret_key="test-only-session-key")
    context = browser.new_context(viewport=VIEWPORT, color_scheme=theme)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        page.goto(app.url + "/tasks")
        expect(page).to_have_url(f"{app.url}/login?next=%2Ftasks")
        lines = serious(page)
    finally:
        context.close()
    assert not lines, "\n".join(lines)
