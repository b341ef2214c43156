"""Tests: the tasks page shows its newest rows before AG Grid's JavaScript has loaded (drawn into the layout
by the server, components/firstrows.py), in the view's order and filters, and hands them over to the grid
once the grid shows rows of its own. Real Chromium, the grid's bundle held back by the test."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Route, expect

from dashboard import ids
from db.domain.states import TaskStatus
from tests.browser import AppFactory, BrowserPage, eventually, grid_rows
from tests.builders import make_task
from tests.rollup_data import NOW

pytestmark = pytest.mark.slow

GRID_JS = re.compile(r"/_dash-component-suites/dash_ag_grid/")
FIRST = f"#{ids.GRID}-first"


def test_first_rows_show_before_the_grid_bundle(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    app = sqlite_app(worker=False)
    made = {
        title: make_task(app.db, created=NOW.replace(minute=n), status=status, title=title)
        for n, (title, status) in enumerate(
            [
                ("oldest", TaskStatus.COMPLETED),
                ("failed one", TaskStatus.FAILED),
                ("newest", TaskStatus.COMPLETED),
            ]
        )
    }
    held: list[Route] = []
    page = tab.page
    page.route(GRID_JS, lambda route: held.append(route))  # the grid's bundle waits for the test

    page.goto(app.url + "/tasks", wait_until="commit")  # "load" would wait for the held bundle
    rows = page.locator(f"{FIRST} tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("newest")  # newest first, as the grid sorts
    expect(rows.nth(2)).to_contain_text("oldest")
    expect(page.locator(f"{FIRST} tbody tr a").first).to_have_attribute("href", f"/tasks/{made['newest']}")
    # Shown while the grid's JavaScript has not arrived: no AG Grid on the page yet.
    assert held, "the page did not ask for the grid's bundle"
    assert page.locator(".ag-root").count() == 0
    expect(page.locator(FIRST)).to_be_visible()

    for route in held:
        route.continue_()
    page.unroute(GRID_JS)
    page.route(GRID_JS, lambda route: route.continue_())

    def ids_shown() -> list[int]:
        return [int(r["id"]) for r in grid_rows(page, ids.GRID) or []]

    eventually(ids_shown, lambda v: sorted(v) == sorted(made.values()), "the grid's own rows", page)
    expect(page.locator(FIRST)).to_be_hidden()  # handed over
    tab.watch.assert_clean()


def test_first_rows_follow_the_view_in_the_address(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    app = sqlite_app(worker=False)
    for n, status in enumerate((TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.COMPLETED)):
        make_task(app.db, created=NOW.replace(minute=n), status=status, title=f"t{n} {status.value}")
    held: list[Any] = []
    page = tab.page
    page.route(GRID_JS, lambda route: held.append(route))
    page.goto(app.url + "/tasks?status=completed&sort=id:asc", wait_until="commit")
    rows = page.locator(f"{FIRST} tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("t0 completed")
    expect(rows.nth(1)).to_contain_text("t2 completed")
    for route in held:
        route.continue_()
