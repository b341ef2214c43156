"""Tests: the overview shows its cards and workers from its HTML, before Dash's scripts have run (a snapshot
the server draws, dashboard/snapshot.py), asks the server nothing more on load (the layout holds the data),
hands the snapshot over to the app once the app has drawn the page, and still updates live on a push.
Real Chromium, Dash's renderer held back by the test."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Request, Route, expect

from dashboard import ids
from tests.browser import AppFactory, BrowserPage, eventually, settle, wait_live
from tests.builders import external_task

pytestmark = pytest.mark.slow

RENDERER = re.compile(r"/dash-renderer/build/dash_renderer\.")
SNAPSHOT = ".tasklens-snapshot"
APP = "#react-entry-point"


def _posted(tab: BrowserPage) -> list[str]:
    """The callback requests the page makes, as their bodies."""
    posted: list[str] = []

    def seen(request: Request) -> None:
        if "/_dash-update-component" in request.url:
            posted.append(request.post_data or "")

    tab.page.on("request", seen)
    return posted


def test_the_overview_shows_from_its_html_and_asks_nothing_more_on_load(
    sqlite_app: AppFactory, tab: BrowserPage
) -> None:
    app = sqlite_app(worker=False)
    external_task(app.recorder, "running before the page")
    held: list[Route] = []
    page = tab.page
    page.route(RENDERER, lambda route: held.append(route))  # Dash's renderer waits for the test
    posted = _posted(tab)
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    page.goto(app.url + "/", wait_until="commit")  # "load" would wait for the held script

    snapshot = page.locator(SNAPSHOT)
    expect(snapshot.locator(f"#{ids.KPIS} #kpi-running .kpi-value")).to_have_text("1")
    expect(snapshot.locator(f"#{ids.KPIS} #kpi-active")).to_contain_text("0 queued · 1 running")
    expect(snapshot.locator(f"#{ids.WORKERS}")).to_contain_text("No worker has registered yet")
    expect(snapshot.get_by_role("link", name="Overview", exact=True)).to_have_class(re.compile(r"\bactive\b"))
    expect(snapshot.locator(f"#{ids.KPIS}")).to_be_visible()
    eventually(lambda: len(held), bool, "the page asking for Dash's renderer", page)
    assert page.locator(f"{APP} #{ids.KPIS}").count() == 0, "Dash drew the page without its renderer"

    for route in held:
        route.continue_()
    page.unroute(RENDERER)

    # Handed over: the app's own cards, with the same values, and the snapshot gone (its ids are the app's).
    expect(page.locator(SNAPSHOT)).to_have_count(0)
    expect(page.locator(f"{APP} #{ids.KPIS} #kpi-running .kpi-value")).to_have_text("1")
    expect(page.locator(f"{APP} #{ids.THROUGHPUT} .main-svg").first).to_be_visible()  # the chart, drawn
    wait_live(page)
    settle(page)
    assert posted == [], f"the overview asked for callbacks on load: {posted}"
    # Nothing left to ask for after the render: plotly.js is fetched with the page's scripts, from its <head>
    # (its preload precedes the layout's), and the tab's icon is in the HTML.
    layout = next(i for i, u in enumerate(urls) if u.endswith("/_dash-layout"))
    plotly = [i for i, u in enumerate(urls) if u.endswith("/plotly.min.js")]
    assert plotly and plotly[0] < layout, f"plotly.js waited for the render: {urls}"
    assert not [u for u in urls if "_favicon.ico" in u], "the tab's icon was one more request"

    external_task(app.recorder, "running after the page")  # a push redraws the cards and the chart
    expect(page.locator(f"#{ids.KPIS} #kpi-running .kpi-value")).to_have_text("2")
    assert any(f"{ids.KPIS}.children" in body for body in posted), posted
    assert any(f"{ids.THROUGHPUT}.figure" in body for body in posted), posted
    tab.watch.assert_clean()


def test_a_remembered_dark_theme_draws_the_snapshot_and_the_chart_dark(
    sqlite_app: AppFactory, tab: BrowserPage
) -> None:
    app = sqlite_app(worker=False)
    page = tab.page
    page.context.add_init_script(f"localStorage.setItem({ids.THEME!r}, JSON.stringify('dark'))")
    held: list[Route] = []
    page.route(RENDERER, lambda route: held.append(route))
    posted = _posted(tab)
    page.goto(app.url + "/", wait_until="commit")
    expect(page.locator(SNAPSHOT)).to_be_visible()
    assert page.evaluate("() => document.documentElement.dataset.bsTheme") == "dark"

    eventually(lambda: len(held), bool, "the page asking for Dash's renderer", page)
    for route in held:
        route.continue_()
    page.unroute(RENDERER)
    expect(page.locator(SNAPSHOT)).to_have_count(0)
    expect(page.locator(f"#{ids.THEME_SWITCH}")).to_be_checked()
    # The layout's chart is drawn light (the server cannot know the browser's theme): redrawn dark, once.
    eventually(
        lambda: [b for b in posted if f"{ids.THROUGHPUT}.figure" in b],
        lambda bodies: len(bodies) == 1 and '"dark"' in bodies[0],
        "the chart redrawn in the remembered theme",
        page,
    )
    settle(page)
    assert not [b for b in posted if f"{ids.KPIS}.children" in b], "the cards were asked for again"
    tab.watch.assert_clean()
