"""Tests: the overview shows its cards and workers from its HTML, before Dash's scripts have run (a snapshot
the server draws, dashboard/snapshot.py), asks the server nothing more on load (the layout holds the data and
the chart, drawn as SVG: no plotly.js), makes a handful of requests in all (the page's scripts and
stylesheets joined, dashboard/bundles.py), hands the snapshot over to the app once the app has drawn the
page, and still updates live on a push. Real Chromium, Dash's renderer held back by the test."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, Request, Route, expect

from dashboard import ids
from db.core.timeutil import utcnow
from tests.browser import AppFactory, BrowserPage, eventually, settle, wait_live
from tests.builders import external_task, make_task

pytestmark = pytest.mark.slow

# The renderer is in the first joined bundle of scripts (its address names it: Dash checks for that).
RENDERER = re.compile(r"/_tasklens/scripts-dash-renderer\.")
# What a cold load of the overview asks for: the page, one stylesheet, the joined scripts, dcc's two files and
# dash-html-components (kept apart: dcc finds its chunks by its own address, its shared chunk and html follow
# it), the layout and the callback graph. The websocket is not a request here.
MOST_REQUESTS = 8
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
    kpis = snapshot.locator(
        f"#snapshot-{ids.KPIS}"
    )  # its ids are the app's, prefixed (two copies for a while)
    expect(kpis.locator("#snapshot-kpi-running .kpi-value")).to_have_text("1")
    expect(kpis.locator("#snapshot-kpi-active")).to_contain_text("0 queued · 1 running")
    expect(snapshot.locator(f"#snapshot-{ids.WORKERS}")).to_contain_text("No worker has registered yet")
    expect(snapshot.get_by_role("link", name="Overview", exact=True)).to_have_class(re.compile(r"\bactive\b"))
    expect(kpis).to_be_visible()
    eventually(lambda: len(held), bool, "the page asking for Dash's renderer", page)
    assert page.locator(f"{APP} #{ids.KPIS}").count() == 0, "Dash drew the page without its renderer"
    # No app id in the document yet: the live badge's script must find the app's badge, not the snapshot's.
    assert page.locator(f"#{ids.STATUS}, #{ids.KPIS}").count() == 0

    for route in held:
        route.continue_()
    page.unroute(RENDERER)

    # Handed over: the app's own cards, with the same values, and the snapshot gone.
    expect(page.locator(SNAPSHOT)).to_have_count(0)
    expect(page.locator(f"{APP} #{ids.KPIS} #kpi-running .kpi-value")).to_have_text("1")
    # The chart, in the layout (the desktop's drawing: figures_svg.throughput_pair draws a phone's too)
    chart = page.locator(f"{APP} #{ids.THROUGHPUT} svg.tl-chart-wide")
    expect(chart).to_have_attribute("role", "img")
    expect(chart.locator("rect.tl-bar")).to_have_count(0)  # nothing ended yet: one task is running
    wait_live(page)
    settle(page)
    assert posted == [], f"the overview asked for callbacks on load: {posted}"
    # Nothing else to ask for: no plotly.js (nor dcc.Graph's chunk), no tab icon, Dash's polyfill not for
    # this browser, and the page's many scripts and stylesheets joined into few responses.
    assert not [u for u in urls if "plotly" in u or "async-graph" in u], f"plotly.js was loaded: {urls}"
    assert not [u for u in urls if "_favicon.ico" in u], "the tab's icon was one more request"
    assert not [u for u in urls if "polyfill@" in u], f"a modern browser was sent the polyfill: {urls}"
    assert len(urls) <= MOST_REQUESTS, f"{len(urls)} requests: {urls}"

    make_task(app.db, created=utcnow() - timedelta(minutes=5), ran_for=3)  # an ended task: a bar
    external_task(app.recorder, "running after the page")  # a push redraws the cards and the chart
    expect(page.locator(f"#{ids.KPIS} #kpi-running .kpi-value")).to_have_text("2")
    expect(chart.locator("rect.tl-bar.tl-completed")).to_have_count(1)
    assert any(f"{ids.KPIS}.children" in body for body in posted), posted
    assert any(f"{ids.THROUGHPUT}.children" in body for body in posted), posted
    assert not tab.watch.console, tab.watch.console
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
    # The chart's text and lines take the theme's colour from CSS: dark without a redraw, light on a switch.
    chart_text = f"{APP} #{ids.THROUGHPUT} svg.tl-chart-wide text"
    expect(page.locator(chart_text).first).to_be_visible()
    assert _fill(page, chart_text) == _body_colour(page) != "rgb(33, 37, 41)"  # Bootstrap's light text
    settle(page)
    assert posted == [], f"the overview asked for callbacks on load: {posted}"
    page.locator(f"label[for={ids.THEME_SWITCH}]").click()
    eventually(lambda: _fill(page, chart_text), lambda fill: fill == "rgb(33, 37, 41)", "light text", page)
    assert not [b for b in posted if ids.THROUGHPUT in b], f"the chart was redrawn: {posted}"
    tab.watch.assert_clean()


def _fill(page: Page, selector: str) -> str:
    return str(page.eval_on_selector(selector, "el => getComputedStyle(el).fill"))


def _body_colour(page: Page) -> str:
    return str(page.evaluate("() => getComputedStyle(document.body).color"))
