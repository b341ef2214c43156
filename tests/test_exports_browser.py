"""Tests: CSV downloads in Chromium — the tasks grid's Download CSV link follows its filters and sort, and the
file the browser saves holds exactly the rows the grid shows; the analytics pages' links carry their scope."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from pathlib import Path

from playwright.sync_api import Page, expect

from dashboard import ids
from db.core.timeutil import utcnow
from db.domain.states import TaskStatus
from tests.browser import AppFactory, BrowserPage, eventually, grid_rows, open_page
from tests.builders import make_task


def _toggle_status(page: Page, status: str) -> None:
    page.click(f"#{ids.F_STATUS}")
    page.locator(".dash-dropdown-content").get_by_text(status, exact=True).click()
    page.keyboard.press("Escape")


def _saved_rows(page: Page) -> tuple[str, list[dict[str, str]]]:
    """Clicks the tasks grid's Download CSV link; the saved file's name and rows."""
    with page.expect_download() as info:
        page.click(f"#{ids.EXPORT_TASKS}")
    download = info.value
    raw = Path(download.path()).read_bytes()
    assert raw.startswith("\ufeff".encode())
    return download.suggested_filename, list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))


def test_download_has_only_the_filtered_rows(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    app = sqlite_app(worker=False)
    page = tab.page
    now = utcnow().replace(microsecond=0)
    failed = [
        make_task(app.db, created=now - timedelta(minutes=m), status=TaskStatus.FAILED, title=title)
        for m, title in ((50, "=broken 😀"), (40, "b failed"), (30, "a failed"))
    ]
    done = [make_task(app.db, created=now - timedelta(minutes=m), title=f"done {m}") for m in (20, 10)]

    def shown() -> list[int]:
        return [int(r["id"]) for r in grid_rows(page, ids.GRID) or []]

    open_page(page, app.url + "/tasks")
    eventually(shown, lambda v: sorted(v) == sorted(failed + done), "all five rows", page)
    link = page.locator(f"#{ids.EXPORT_TASKS}")

    _toggle_status(page, "failed")  # as a user does
    eventually(shown, lambda v: sorted(v) == sorted(failed), "the failed rows", page)
    expect(link).to_have_attribute("href", re.compile(r"^/export/tasks\.csv\?status=failed(&|$)"))
    name, rows = _saved_rows(page)
    assert re.fullmatch(r"tasklens-tasks-\d{4}-\d\d-\d\d\.csv", name)
    assert [int(r["id"]) for r in rows] == sorted(failed, reverse=True)  # the grid's order: newest first
    assert [r["title"] for r in rows] == ["a failed", "b failed", "'=broken 😀"]
    assert {r["status"] for r in rows} == {"failed"}

    # Sorting by title (a click on its header) reaches the link too.
    page.locator(f"#{ids.GRID} .ag-header-cell[col-id='title']").click()
    expect(link).to_have_attribute("href", re.compile(r"sort=title%3Aasc"))
    _, rows = _saved_rows(page)
    assert [r["title"] for r in rows] == ["'=broken 😀", "a failed", "b failed"]
    tab.watch.assert_clean()


def _search(page: Page) -> str:
    return str(page.evaluate("() => window.location.search"))


def test_analytics_links_carry_the_scope(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    # The range is changed through the scope bar; its dimension filters are covered without a browser
    # (tests/test_exports.py), as a model or tag chosen in the bar does not always stay in the URL yet.
    app = sqlite_app(worker=False)
    page = tab.page
    make_task(app.db, created=utcnow() - timedelta(hours=1), calls=(("planner", "gpt-4.1", 0.5),))
    open_page(page, app.url + "/costs?range=30d")
    breakdown = page.locator(f"#{ids.EXPORT_COST_BREAKDOWN}")
    top_calls = page.locator(f"#{ids.EXPORT_COST_TOP_CALLS}")
    expect(breakdown).to_have_attribute("href", "/export/costs-breakdown.csv?range=30d&dim=model")
    page.locator(f"#{ids.SCOPE_RANGE}").click()
    page.get_by_text("last 24 h", exact=True).last.click()
    expect(page).to_have_url(app.url + "/costs?range=24h")
    expect(breakdown).to_have_attribute("href", "/export/costs-breakdown.csv?range=24h&dim=model")
    expect(top_calls).to_have_attribute("href", "/export/costs-top-calls.csv?range=24h")
    page.locator(f"#{ids.COST_BREAKDOWN_DIM}").get_by_text("tag", exact=True).click()
    expect(breakdown).to_have_attribute("href", "/export/costs-breakdown.csv?range=24h&dim=tag")
    with page.expect_download() as info:
        top_calls.click()
    assert info.value.suggested_filename.startswith("tasklens-costs-top-calls-")
    saved = Path(info.value.path()).read_bytes().decode("utf-8-sig")
    assert list(csv.reader(io.StringIO(saved, newline="")))[1][3] == "gpt-4.1"

    open_page(page, app.url + "/agents?range=24h")
    roles, fleet = page.locator(f"#{ids.EXPORT_ROLES}"), page.locator(f"#{ids.EXPORT_FLEET}")
    expect(roles).to_have_attribute("href", "/export/agents-roles.csv?range=24h")
    expect(fleet).to_have_attribute("href", "/export/agents-fleet.csv?range=24h")
    page.locator(f"#{ids.SCOPE_RANGE}").click()
    page.get_by_text("last 7 days", exact=True).last.click()
    expect(page).to_have_url(app.url + "/agents?range=7d")
    expect(roles).to_have_attribute("href", "/export/agents-roles.csv?range=7d")
    expect(fleet).to_have_attribute("href", "/export/agents-fleet.csv?range=7d")
    tab.watch.assert_clean()
