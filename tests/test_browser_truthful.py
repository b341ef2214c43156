"""Tests (browser): an empty install looks intentional — one empty state on the overview's chart instead of
negative axes, and an unknown task id shows only a not-found card with a way back (issue 12, item 5)."""

from __future__ import annotations

from playwright.sync_api import expect

from dashboard import ids
from tests.browser import AppFactory, BrowserPage, open_page


def test_empty_database_and_missing_task(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    app = sqlite_app(worker=False)
    page = tab.page
    open_page(page, app.url + "/")
    chart = page.locator(f"#{ids.THROUGHPUT}")
    expect(chart).to_contain_text("no tasks in the last 24 hours")
    expect(chart).to_contain_text("python app.py --demo")
    # No axis ticks at all: plotly draws −1…4 and dates around nothing otherwise.
    expect(chart.locator(".xtick")).to_have_count(0)
    expect(chart.locator(".ytick")).to_have_count(0)

    open_page(page, app.url + "/tasks/424242")
    card = page.locator(f"#{ids.DETAIL_NOT_FOUND}")
    expect(card).to_contain_text("Task not found")
    expect(page.locator(f"#{ids.DETAIL_PANELS}")).to_be_hidden()
    expect(page.locator(f"#{ids.DETAIL_TIMELINE}")).to_be_hidden()
    card.get_by_role("link", name="← All tasks").click()
    expect(page).to_have_url(app.url + "/tasks")
    tab.watch.assert_clean()
