"""Tests: the browser formats as the server does (real Chromium, the real app on SQLite) — assets/formats.js
gets its rules from reports/fmt.py through the page's <meta> tag, so a counting clock, the liveness words and
the tasks grid's cost read exactly like the server's text; and the navbar is the pages' declarations, drawn
from Dash's page registry in their declared order."""

from __future__ import annotations

from datetime import timedelta

from playwright.sync_api import expect

from dashboard import ids
from dashboard.routes import NAV_LINKS
from db.core.timeutil import utcnow
from db.domain.ops import InvocationFinished, InvocationStarted, Usage
from db.domain.states import TaskStatus
from db.write.writes import apply_ops
from reports import fmt
from tests.browser import AppFactory, BrowserPage, open_page
from tests.builders import make_task

SECONDS = (
    0,
    0.25,
    0.9996,
    1,
    5.04,
    59.94,
    59.97,
    60,
    65,
    599.5,
    3599,
    3600,
    3 * 3600 + 120,
    172799,
    172800,
    200000,
)
DOLLARS = (0, 0.0034, 0.00001, 0.00996, 0.0123, 0.5, 5.1234, 1234.5, -3.456)


def test_the_browser_formats_with_the_servers_rules(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    app = sqlite_app(worker=False)
    page = tab.page
    open_page(page, app.url + "/")
    browser = page.evaluate(
        "([s, d]) => [s.map(window.tasklensFormats.duration), d.map(window.tasklensFormats.money),"
        " window.tasklensFormats.words(window.tasklensFormats.rules.stuck, 125)]",
        [list(SECONDS), list(DOLLARS)],
    )
    assert browser == [
        [fmt.duration(s) for s in SECONDS],
        [fmt.money(d) for d in DOLLARS],
        fmt.STUCK.format(fmt.duration(125)),
    ]
    tab.watch.assert_clean()


def test_the_grid_shows_cost_in_the_one_money_style(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    app = sqlite_app(worker=False)
    make_task(app.db, created=utcnow() - timedelta(minutes=5), calls=(("coder", "m", 5.1234),))
    make_task(
        app.db,
        created=utcnow() - timedelta(minutes=4),
        status=TaskStatus.RUNNING,
        calls=(("c", "m", 0.0034),),
    )
    page = tab.page
    open_page(page, app.url + "/tasks")
    costs = page.locator(f"#{ids.GRID} .ag-center-cols-container .ag-cell[col-id='cost_usd']")
    expect(costs).to_have_count(2)
    expect(costs).to_have_text([fmt.money(0.0034), fmt.money(5.1234)])  # newest first: "$0.0034", "$5.12"
    tab.watch.assert_clean()


def test_the_navbar_is_the_registered_pages_in_order(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    app = sqlite_app(worker=False)
    page = tab.page
    open_page(page, app.url + "/")
    shown = page.locator(".navbar .nav-link").evaluate_all(
        "els => els.map(e => [e.textContent, new URL(e.href).pathname])"
    )
    assert shown == [[link.label, link.href] for link in NAV_LINKS]
    tab.watch.assert_clean()


TOKEN_COUNTS = (
    0,
    999,
    999_999,
    1_000_000,
    1_234_567,
    9_995_000,
    99_950_000,
    999_500_000,
    1_234_567_890,
    12**12,
)


def test_kpi_token_counts_stay_on_one_line(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    """A billion-token month on the Costs page: each token card's value is one line, inside its card, at a
    desktop, a laptop and a phone width — compacted as reports/fmt.compact says, in Python and in the browser
    alike; the exact count is the value's title."""
    app = sqlite_app(worker=False)
    task_id = make_task(app.db, created=utcnow() - timedelta(hours=1), status=TaskStatus.RUNNING)
    big = 1_234_567_890
    with app.db.writing() as session:
        started = InvocationStarted("big", role="coder", provider="p", model="m")
        apply_ops(
            session,
            task_id,
            [started, Usage("m", big, big, big, 1.0, "big"), InvocationFinished("big")],
            actor="t",
        )
    page = tab.page
    open_page(page, app.url + "/costs?range=24h")
    assert page.evaluate("(n) => n.map(window.tasklensFormats.compact)", list(TOKEN_COUNTS)) == [
        fmt.compact(n) for n in TOKEN_COUNTS
    ]
    for width in (1920, 1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        for key in ("in", "out", "cache"):
            value = page.locator(f"#kpi-{key} .kpi-value")
            expect(value).to_have_text(fmt.compact(1_234_567_890))
            expect(value).to_have_attribute("title", "1,234,567,890 tokens")
            box = value.evaluate(
                "el => ({h: el.getBoundingClientRect().height, line: parseFloat(getComputedStyle(el).lineHeight),"
                " over: el.scrollWidth - el.clientWidth})"
            )
            assert box["h"] <= box["line"] * 1.2 and box["over"] <= 0, (width, key, box)
    tab.watch.assert_clean()
