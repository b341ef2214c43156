"""Tests: the calls page in Chromium — reached from the tasks page (All calls, `g l`) and a task's page
(`?task=N`), it shows every task's calls; a filter goes into the address (and the CSV link), and reloading the
address keeps the filter and its rows."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from dashboard.pages import calls, task_detail, tasks
from tests.browser import AppFactory, BrowserPage, eventually, grid_rows, open_page
from tests.builders import make_task
from tests.rollup_data import NOW

pytestmark = pytest.mark.slow


def test_the_calls_page_filters_into_its_address_and_a_reload_keeps_it(
    sqlite_app: AppFactory, tab: BrowserPage
) -> None:
    app = sqlite_app(worker=False)
    first = make_task(app.db, created=NOW.replace(minute=1), calls=(("planner", "gpt-4.1", 0.5),))
    second = make_task(
        app.db, created=NOW.replace(minute=2), calls=(("coder", "haiku", 0.1), ("tester", "gpt-4.1", 0.2))
    )
    every = {f"{first}-0", f"{second}-0", f"{second}-1"}
    page = tab.page

    def shown() -> set[str]:
        return {str(r["id"]) for r in grid_rows(page, calls.GRID) or []}

    # From the tasks page: its link, then the shortcut from there.
    open_page(page, app.url + "/tasks")
    page.locator(f"#{tasks.ALL_CALLS}").click()
    expect(page).to_have_url(app.url + "/calls")
    eventually(shown, lambda ids: ids == every, "every call in the grid", page)
    # A shortcut changes the address at once and the page once its layout has come: wait for the page, or
    # the fields typed into below are the previous calls page's, about to be replaced (CI, under load).
    page.keyboard.press("g")
    page.keyboard.press("t")
    expect(page).to_have_url(app.url + "/tasks")
    expect(page.locator(f"#{tasks.ALL_CALLS}")).to_be_visible()
    page.keyboard.press("g")
    page.keyboard.press("l")
    expect(page).to_have_url(app.url + "/calls")
    expect(page.locator(f"#{tasks.ALL_CALLS}")).to_have_count(0)
    eventually(shown, lambda ids: ids == every, "every call in the grid again", page)

    model = page.locator(f"#{calls.F_MODEL}")
    model.fill("gpt-4.1")
    model.press("Enter")
    expect(page).to_have_url(app.url + "/calls?model=gpt-4.1")
    expect(page.locator(f"#{calls.EXPORT}")).to_have_attribute("href", "/export/calls.csv?model=gpt-4.1")
    eventually(shown, lambda ids: ids == {f"{first}-0", f"{second}-1"}, "the model's calls", page)

    page.reload()
    expect(page.locator(f"#{calls.F_MODEL}")).to_have_value("gpt-4.1")
    eventually(
        shown, lambda ids: ids == {f"{first}-0", f"{second}-1"}, "the model's calls after a reload", page
    )
    expect(page).to_have_url(app.url + "/calls?model=gpt-4.1")

    # A task's page links to its calls here; a row opens its task.
    open_page(page, f"{app.url}/tasks/{second}")
    page.locator(f"#{task_detail.CALLS_LINK}").click()
    expect(page).to_have_url(f"{app.url}/calls?task={second}")
    eventually(shown, lambda ids: ids == {f"{second}-0", f"{second}-1"}, "the task's calls", page)
    page.locator(f"#{calls.GRID} .ag-row[row-id='{second}/{second}-0'] [col-id='model']").click()
    expect(page).to_have_url(f"{app.url}/tasks/{second}")
    tab.watch.assert_clean()
