"""Tests: WCAG 2.1 AA in a real browser — axe-core (the npm package, injected by Playwright) on every page of
the dashboard and on /login, in light and dark mode: no serious or critical violation."""

from __future__ import annotations

import os
import re
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
        (
            TaskStatus.RUNNING,
            TaskStatus.COMPLETED,
            TaskStatus.FAILED,
            TaskStatus.TIMED_OUT,
            TaskStatus.CANCELLED,  # its badge's own colour, checked by axe in both themes
            None,
        )
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


# The colours as drawn, as [r, g, b, a]; the contrast of two opaque ones (WCAG's relative luminance).
COLOURS = """(badge) => {
    const rgb = (c) => c.match(/[\\d.]+/g).map(Number);
    const lum = ([r, g, b]) => [r, g, b].map(v => v / 255)
        .map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
        .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
    const contrast = (a, b) => (Math.max(lum(a), lum(b)) + 0.05) / (Math.min(lum(a), lum(b)) + 0.05);
    const card = badge.closest('.card');
    const page = rgb(getComputedStyle(document.body).backgroundColor);
    const back = rgb(getComputedStyle(badge).backgroundColor);
    const edge = card.classList.contains('task-card') ? rgb(getComputedStyle(card).borderLeftColor) : null;
    return {
        page: page, back: back, opaque: back.length === 3 || back[3] === 1,
        text: contrast(rgb(getComputedStyle(badge).color), back), against: contrast(back, page),
        edge: edge && contrast(edge, rgb(getComputedStyle(card).backgroundColor)),
    };
}"""


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_a_cancelled_badge_and_card_show_in_both_themes(
    sqlite_app: AppFactory, browser: Browser, theme: str
) -> None:
    """Cancelled was Bootstrap's "dark" (#212529), the dark theme's background: its badge read as bold text
    (white on #212529 passes axe's contrast check, so axe did not see it) and a cancelled card's coloured
    edge vanished. On the Tasks board and in a worker's history: a background apart from the page's, its text
    at AA contrast, and a card edge that shows."""
    app = sqlite_app(worker=False)
    _data(app)
    context = browser.new_context(viewport=VIEWPORT, color_scheme=theme)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(f"localStorage.setItem({ids.THEME!r}, JSON.stringify({theme!r}))")
    page = context.new_page()
    try:
        for path, where in (("/tasks", "#lane-failed"), (f"/workers/{WORKER}", f"#{worker_page.HISTORY}")):
            page.goto(app.url + path)
            expect(page.locator("html")).to_have_attribute("data-bs-theme", theme)
            badge = page.locator(f"{where} .badge").filter(has_text=re.compile("^cancelled$")).first
            expect(badge).to_be_visible()
            wait_still(page)
            found = badge.evaluate(COLOURS)
            assert found["opaque"] and found["back"][:3] != found["page"][:3], (path, found)
            assert found["text"] >= 4.5 and found["against"] >= 3, (path, found)
            if path == "/tasks":
                assert found["edge"] >= 3, (path, found)  # the cancelled card's coloured left edge
    finally:
        context.close()


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
