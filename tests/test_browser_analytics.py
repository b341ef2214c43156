"""Tests: the analytics pages in a real browser — changing the time range through the scope bar changes the
URL (bookmarkable) and the charts, without reloading the page; a bookmarked URL opens with its filters."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from dashboard import ids
from db.core.timeutil import utcnow
from tests.browser import (
    AppFactory,
    BrowserPage,
    assert_not_reloaded,
    open_page,
    settle,
)
from tests.builders import make_task

pytestmark = pytest.mark.slow


def test_time_range_changes_url_and_charts(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    app = sqlite_app(worker=False)
    now = utcnow()
    make_task(app.db, created=now - timedelta(hours=2), calls=(("planner", "gpt-4.1", 1.25),))
    make_task(app.db, created=now - timedelta(days=10), calls=(("builder", "claude-sonnet-4-5", 4.0),))
    page = tab.page
    open_page(page, app.url + "/costs?range=30d")
    spend = page.locator("#kpi-spend")
    expect(spend).to_contain_text("$5.25")
    bars = page.locator(f"#{ids.COST_BREAKDOWN} .bars path")
    expect(bars).to_have_count(2)

    page.locator(f"#{ids.SCOPE_RANGE}").click()
    page.get_by_text("last 24 h", exact=True).last.click()
    expect(page).to_have_url(app.url + "/costs?range=24h")
    expect(spend).to_contain_text("$1.25")  # the ten-day-old task fell out of the range
    expect(bars).to_have_count(1)
    assert_not_reloaded(page)

    # A bookmarked view opens with its filters applied.
    open_page(page, app.url + "/costs?range=30d&model=claude-sonnet-4-5")
    expect(spend).to_contain_text("$4.00")
    # A bad bookmark says why and falls back to the default range.
    open_page(page, app.url + "/costs?range=2y")
    expect(page.locator(f"#{ids.SCOPE_ERROR}")).to_contain_text("range must be one of")


def test_a_filter_chosen_in_the_bar_stays(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    """A model picked in the scope bar reaches the URL and stays there while the bar fills its choices; a
    bookmarked filter on a value no recent call used is kept too (a dropdown drops values it does not list)."""
    app = sqlite_app(worker=False)
    now = utcnow()
    make_task(app.db, created=now - timedelta(hours=2), calls=(("planner", "gpt-4.1", 1.25),))
    make_task(app.db, created=now - timedelta(hours=3), calls=(("builder", "claude-sonnet-4-5", 4.0),))
    page = tab.page
    spend = page.locator("#kpi-spend")
    for _ in range(3):  # the race showed in most tries: a few rounds make a regression visible
        open_page(page, app.url + "/costs?range=7d")
        expect(spend).to_contain_text("$5.25")
        page.locator('[id*="scope-dim"][id*="model"]').first.click()
        page.get_by_role("option", name="claude-sonnet-4-5").click()
        expect(page).to_have_url(app.url + "/costs?range=7d&model=claude-sonnet-4-5")
        expect(spend).to_contain_text("$4.00")
        settle(page)  # the bar has been redrawn with its choices
        expect(page).to_have_url(app.url + "/costs?range=7d&model=claude-sonnet-4-5")
    open_page(page, app.url + "/costs?range=7d&model=retired-model")
    settle(page)
    expect(page).to_have_url(app.url + "/costs?range=7d&model=retired-model")
    expect(spend).to_contain_text("$0")


def test_every_page_draws_under_the_content_security_policy(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    """The CSP allows no eval: every page, charts included, draws without one violation (the browser reports
    each as a securitypolicyviolation event)."""
    from dashboard.access import CSP
    from dashboard.routes import NAV_LINKS

    assert "unsafe-eval" not in CSP
    app = sqlite_app(worker=False)
    now = utcnow()
    task_id = make_task(app.db, created=now - timedelta(hours=2), calls=(("planner", "gpt-4.1", 1.25),))
    make_task(app.db, created=now - timedelta(days=3), calls=(("builder", "claude-sonnet-4-5", 4.0),))
    page = tab.page
    page.add_init_script(
        "window.__csp = []; document.addEventListener('securitypolicyviolation',"
        " e => window.__csp.push(e.violatedDirective + ' ' + (e.sourceFile || '') + ':' + e.lineNumber));"
    )
    charted = ("/", "/costs", "/agents", "/performance", "/database", "/workers/w-1")
    charts = {}
    for _label, path in [
        *((link.label, link.href) for link in NAV_LINKS),
        ("Task", f"/tasks/{task_id}"),
        ("Worker", "/workers/w-1"),
    ]:
        open_page(page, app.url + path)
        settle(page)  # the page's callbacks have drawn
        # Plotly's charts, and the overview's chart the server draws as SVG (no plotly.js on that page)
        drawn = page.locator(".js-plotly-plot .main-svg, svg.tl-chart:not(.tl-chart-empty)")
        if path in charted:  # Plotly draws after the callback's answer is applied
            expect(drawn.first).to_be_attached()
        charts[path] = drawn.count()
        assert page.evaluate("() => window.__csp") == [], path
    assert all(charts[p] > 0 for p in charted), charts
    tab.watch.assert_clean()
