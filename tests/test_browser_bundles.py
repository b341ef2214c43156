"""Tests (browser): the pages work with what dashboard/bundles.py changed in them — Dash's polyfill written
only for an old browser (a modern Chromium never fetches it, yet the component libraries' lazy loader still
finds the regeneratorRuntime it took from it), and the scripts and stylesheets joined into few responses:
the overview and the tasks page draw, a lazily loaded component (dcc.Dropdown's chunk, found by dcc's own
address) opens, keyboard shortcuts and the local-time switch answer, and nothing is logged as an error."""

from __future__ import annotations

from playwright.sync_api import expect

from dashboard import ids
from tests.browser import AppFactory, BrowserPage, open_page, settle

APP = "#react-entry-point"


def test_a_modern_browser_gets_no_polyfill_and_every_page_works(
    sqlite_app: AppFactory, tab: BrowserPage
) -> None:
    app = sqlite_app(worker=False)
    page = tab.page
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    open_page(page, app.url + "/")
    expect(page.locator(f"{APP} #{ids.KPIS}")).to_be_visible()
    settle(page)
    assert not [u for u in urls if "polyfill@" in u], urls
    # The one global the libraries' lazy loader takes from Babel's polyfill: dash-bootstrap-components
    # (in the joined bundle) defines it.
    assert page.evaluate("() => typeof regeneratorRuntime") == "object"
    stylesheets = page.evaluate("() => [...document.styleSheets].map(s => s.href).filter(Boolean)")
    assert len(stylesheets) == 1 and "/_tasklens/styles." in stylesheets[0], stylesheets
    # Bootstrap's rules and the app's own are in it.
    assert page.evaluate("() => getComputedStyle(document.querySelector('.navbar')).display") == "flex"
    assert page.eval_on_selector(f"#{ids.THROUGHPUT}", "el => getComputedStyle(el).aspectRatio") == "12 / 5"

    page.keyboard.press("g")  # keys.js (joined): g then t opens the tasks page
    page.keyboard.press("t")
    expect(page).to_have_url(app.url + "/tasks")
    status = page.locator(f"#{ids.F_STATUS}")
    expect(status).to_be_visible()
    status.click()  # dcc.Dropdown's chunk, loaded by dcc from its own address, through the lazy loader
    expect(page.get_by_role("option", name="running")).to_be_visible()
    page.keyboard.press("Escape")
    assert any("async-dropdown" in u for u in urls), urls
    settle(page)
    assert not tab.watch.console, tab.watch.console
    tab.watch.assert_clean()


def test_an_old_browser_gets_the_polyfill(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    app = sqlite_app(worker=False)
    page = tab.page
    page.context.add_init_script("delete window.Promise")  # as a browser before ES2015 lacks it
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    open_page(page, app.url + "/")
    expect(page.locator(f"{APP} #{ids.KPIS}")).to_be_visible()  # the renderer ran: the polyfill's Promise
    assert [u for u in urls if "/deps/polyfill@" in u], urls
    assert page.evaluate("() => typeof Promise") == "function"
    tab.watch.assert_clean()
