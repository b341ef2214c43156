"""Tests: the alerts in the browser (real Chromium, the real app and worker on SQLite) — the navbar's bell
counts a stuck task's alert the moment it fires, without a reload; a toast says so (severity high); the Alerts
page lists it, acknowledges it from the table, and shows it in the history once the task is cancelled."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from dashboard.components.alerts import BELL_COUNT
from db.alerts.rules import list_rules
from db.domain.ops import TaskSpec
from db.domain.states import TaskKind
from tests.browser import AppFactory, BrowserPage, assert_not_reloaded, open_page

pytestmark = pytest.mark.slow


def test_bell_toast_and_alerts_page_live(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    app = sqlite_app(stuck_after_seconds=2, alert_eval_seconds=0.5)
    page = tab.page
    open_page(page, app.url + "/")
    expect(page.locator(f"#{BELL_COUNT}")).to_have_text("0")
    task_id = app.recorder.submit(
        TaskSpec(title="bell sleeper", kind=TaskKind.COMMAND, payload={"command": "sleep 60"})
    )
    expect(page.locator(f"#{BELL_COUNT}")).to_have_text("1", timeout=20000)
    toast = page.locator("#alert-toasts .toast")
    expect(toast).to_contain_text(f"Task #{task_id}")
    assert_not_reloaded(page)

    page.locator(".alert-bell").click()
    expect(page.locator("#alert-row-1")).to_contain_text("Stuck task")
    page.fill("#alerts-ack-note", "looking into it")
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.locator("#alerts-empty")).to_be_visible()  # the firing tab is empty once acknowledged
    page.get_by_role("tab", name="Acknowledged").click()
    expect(page.locator("#alert-row-1")).to_contain_text("looking into it")
    page.get_by_role("button", name="Silence 2 h").click()
    expect(page.locator("#alerts-message")).to_contain_text("Silenced Stuck task on task:")
    expect(page.locator("#alerts-rules")).to_contain_text(f"target=task:{task_id}")

    page.locator("#alert-row-1 a", has_text="Stuck task").click()  # its detail: times, deliveries, acks
    expect(page.locator("#alert-detail")).to_contain_text("looking into it")
    expect(page.locator("#alert-detail")).to_contain_text("No notification")
    assert_not_reloaded(page)

    app.recorder.cancel(task_id, actor="test")
    page.get_by_role("tab", name="History").click()
    expect(page.locator("#alert-row-1")).to_be_visible(timeout=20000)
    expect(page.locator(f"#{BELL_COUNT}")).to_have_text("0")

    page.get_by_label(re.compile("^Queue depth over 100")).uncheck(force=True)  # an admin switches a rule off
    expect(page.locator("#alerts-message")).to_contain_text("Rule 'Queue depth over 100' switched off")
    with app.db.reading() as session:
        assert not next(r for r in list_rules(session) if r.kind == "queue_depth").enabled
    tab.watch.assert_clean()
