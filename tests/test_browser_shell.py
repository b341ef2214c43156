"""Tests: the app shell in a real browser (Debian's Chromium via Playwright) — an honest connection badge
(offline while nothing answers, live again soon after the server is back), keyboard shortcuts, grouped
"task finished" toasts and the local-time switch."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, FloatRect, Page, Request, WebSocketRoute, expect
from werkzeug.serving import make_server

from dashboard import ids
from db.domain.ops import ActivityLine, Transition
from db.domain.states import TaskStatus
from db.read.tasks.detail import task_record
from tests.browser import (
    TIMEOUT_MS,
    VIEWPORT,
    AppFactory,
    BrowserPage,
    assert_not_reloaded,
    badge,
    eventually,
    lane_card,
    live_state,
    open_page,
    screenshot,
    settle,
    wait_live,
)
from tests.builders import external_task
from tests.liveserver import LiveApp, serve

pytestmark = pytest.mark.slow

OFFLINE = re.compile(r"^offline — since \d\d:\d\d:\d\d UTC, data as of \d\d:\d\d:\d\d UTC$")


def _stop_server(app: LiveApp, page: Page) -> int:
    """Stops answering HTTP on the app's port (connections are refused) and drops the page's socket, as a
    dying process would (Werkzeug's shutdown leaves an upgraded socket's thread running)."""
    port = app.server.server_port
    app.server.shutdown()
    app.server.server_close()
    page.evaluate("() => window.tasklensLive.socket && window.tasklensLive.socket.close()")
    return port


def _restart_server(app: LiveApp, port: int) -> None:
    server = make_server("127.0.0.1", port, app.server.app, threaded=True)
    serve(server, "live-server-2")
    app.server = server


# ---- issue 12 item 3: offline is said so, and live comes back within ~2 s of the server answering ---------
def test_offline_badge_while_nothing_answers_and_live_soon_after(
    sqlite_app: AppFactory, tab: BrowserPage
) -> None:
    app = sqlite_app(worker=False)
    page = tab.page
    external_task(app.recorder, "offline target")
    open_page(page, app.url + "/")
    expect(page.locator(f"#{ids.KPIS} .card").first).to_be_visible()
    expect(page.locator(f"[role=status] #{ids.STATUS}")).to_be_visible()  # announced, not colour alone

    port = _stop_server(app, page)
    # Nothing answers: the badge says offline (not "polling"), since when, and how old the data is.
    expect(badge(page)).to_have_text(OFFLINE)
    expect(page.locator("html")).to_have_attribute("data-live", "offline")  # the stale page is dimmed
    assert_navbar_fits(page)  # the long badge at 1400 px
    screenshot(page, "offline")
    # Stay offline long enough for a socket backoff to have grown past a few seconds.
    probes = live_state(page)["reconnects"]
    page.wait_for_function("(n) => window.tasklensLive.reconnects >= n + 4", arg=probes, timeout=30_000)
    expect(badge(page)).to_have_text(OFFLINE)

    _restart_server(app, port)
    answered = time.monotonic()
    wait_live(page, timeout_ms=20_000)
    took = time.monotonic() - answered
    # The brief asks for 2 s; the page probes /healthz every second and reconnects at once. One second more
    # is allowed for a loaded CI machine (the previous code took up to 15 s: its backoff).
    assert took < 3.0, f"live again {took:.1f} s after the server answered"
    expect(badge(page)).to_have_text("live")
    expect(page.locator("html")).to_have_attribute("data-live", "live")
    assert_not_reloaded(page)
    tab.watch.assert_clean(errors=False)


def assert_navbar_fits(page: Page) -> None:
    """At 1400 px (the expanded navbar, Bootstrap's xxl) a badge longer than "live" wraps the controls onto a
    second row instead of pushing the switches past the window's edge, onto the white page (the axe test,
    2026-12-04: the theme switch's label at 1.05:1 contrast while the socket was reconnecting)."""
    found = page.evaluate(
        """() => ({
            right: document.querySelector('label[for="theme-switch"]').getBoundingClientRect().right,
            width: document.documentElement.clientWidth,
            scroll: document.documentElement.scrollWidth,
        })"""
    )
    assert page.viewport_size and page.viewport_size["width"] == 1400
    assert found["scroll"] <= found["width"] and found["right"] <= found["width"], found


def test_socket_refused_while_server_answers_is_polling_not_offline(
    sqlite_app: AppFactory, tab: BrowserPage
) -> None:
    app = sqlite_app(worker=False)
    page = tab.page
    page.route_web_socket(re.compile(r"/ws$"), lambda ws: ws.close(code=1011, reason="no sockets here"))
    page.goto(app.url + "/")
    # The server answers HTTP, only the socket is refused: first reconnecting, then polling, never offline.
    expect(badge(page)).to_have_text("polling", timeout=20_000)
    assert_navbar_fits(page)
    state = eventually(lambda: live_state(page), lambda s: s["reconnects"] >= 2, "reconnect attempts", page)
    assert state["status"] == "polling"
    assert page.evaluate("() => window.tasklensLive.offlineSince") is None
    tab.watch.assert_clean()


# ---- issue 12 item 10: a burst of finishes is one summary toast, bottom right, never over the filters --------
def _boxes_overlap(a: FloatRect, b: FloatRect) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def test_a_burst_of_finishes_is_one_summary_toast(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    app = sqlite_app(worker=False)
    page = tab.page
    outcomes = [TaskStatus.COMPLETED] * 9 + [TaskStatus.FAILED] * 2 + [TaskStatus.TIMED_OUT]
    tasks = [external_task(app.recorder, f"burst {i}") for i in range(len(outcomes))]
    open_page(page, app.url + "/tasks")
    shown = page.locator(f"#{ids.TOASTS} .toast.show")

    # One at first: a single toast naming the task.
    app.recorder.record(tasks[0], Transition(outcomes[0]), actor="test")
    expect(shown).to_have_count(1)
    expect(shown.first).to_contain_text(f"Task #{tasks[0]} completed")
    # Then the rest at once (several pushes): never more than three toasts up, and they end as one summary.
    most = 0
    for task_id, outcome in zip(tasks[1:], outcomes[1:], strict=True):
        app.recorder.record(task_id, Transition(outcome), actor="test")
        most = max(most, shown.count())
    summary = shown.filter(has_text="12 tasks finished")
    expect(summary).to_have_count(1)
    most = max(most, shown.count())
    assert most <= 3, f"{most} toasts were up at once"
    expect(shown).to_have_count(1)
    expect(summary).to_contain_text("9 completed · 2 failed · 1 timed out")

    # Bottom right, over none of the table's filters.
    stack = page.locator(f"#{ids.TOASTS}").bounding_box()
    assert stack is not None
    for control in (ids.F_STATUS, ids.F_KIND, ids.F_WORKER, ids.F_TAG, ids.F_TEXT, ids.F_RANGE):
        box = page.locator(f"#{control}").bounding_box()
        assert box is not None and not _boxes_overlap(stack, box), f"the toasts cover #{control}"
    screenshot(page, "toast-summary")

    # Its link opens the table filtered by those outcomes, inside the app.
    summary.get_by_role("link", name="show them in the table").click()
    expect(page).to_have_url(f"{app.url}/tasks?status=completed&status=failed&status=timed_out")
    assert_not_reloaded(page)
    tab.watch.assert_clean()


# ---- issue 12 item 7: keyboard shortcuts, never while typing; focus is visible ---------------------------
def test_keyboard_shortcuts(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    app = sqlite_app(worker=False)
    page = tab.page
    open_page(page, app.url + "/")

    # g then a letter goes to a page, inside the app (no reload).
    for letter, path in (("t", "/tasks"), ("c", "/costs"), ("u", "/audit"), ("o", "/")):
        page.keyboard.press("g")
        page.keyboard.press(letter)
        expect(page).to_have_url(app.url + path)
    expect(page.locator(f"#{ids.KPIS} .card").first).to_be_visible()  # the overview is drawn
    expect(page.locator(f"#{ids.F_TEXT}")).to_have_count(0)
    assert_not_reloaded(page)

    # / focuses the navbar's go-to-task box here, the table's text filter on the tasks page.
    page.keyboard.press("/")
    expect(page.locator(f"#{ids.JUMP}")).to_be_focused()
    expect(page.locator(f"#{ids.JUMP}")).to_have_value("")  # the slash was not typed into it
    # Typing in a field never fires a shortcut: "g t" and "?" are text here.
    page.keyboard.type("g t?")
    expect(page.locator(f"#{ids.JUMP}")).to_have_value("g t?")
    expect(page).to_have_url(app.url + "/")
    expect(page.locator(f"#{ids.SHORTCUTS}")).to_have_count(0)
    page.locator(f"#{ids.JUMP}").fill("")
    page.locator(f"#{ids.JUMP}").blur()

    page.keyboard.press("g")
    page.keyboard.press("t")
    expect(page).to_have_url(app.url + "/tasks")
    expect(page.locator(f"#{ids.F_TEXT}")).to_be_visible()
    page.keyboard.press("/")
    expect(page.locator(f"#{ids.F_TEXT}")).to_be_focused()
    page.locator(f"#{ids.F_TEXT}").blur()

    # ? lists the shortcuts; Escape closes the list.
    page.keyboard.press("?")
    dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Go to Performance")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    assert_not_reloaded(page)
    tab.watch.assert_clean()


# The page is busy (drawing, a slow laptop) right after `g`: the letter waits its turn behind that work.
BUSY_AFTER_G = """(ms) => document.addEventListener("keyup", (e) => {
    if (e.key !== "g") return;
    setTimeout(() => { const end = performance.now() + ms; while (performance.now() < end); }, 0);
}, {once: true})"""


def test_g_then_a_letter_counts_when_pressed_not_when_handled(
    sqlite_app: AppFactory, tab: BrowserPage
) -> None:
    """`g t` pressed quickly goes to the tasks page even when the page handles the `t` only well after `g`'s
    1.5 s window: the window was measured on the handler's clock, and on a busy machine the letter was lost."""
    app = sqlite_app(worker=False)
    page = tab.page
    open_page(page, app.url + "/")
    page.evaluate(BUSY_AFTER_G, 2500)
    page.keyboard.press("g")
    page.keyboard.press("t")  # created now, handled only once the 2.5 s of work is done
    expect(page).to_have_url(app.url + "/tasks")
    assert_not_reloaded(page)
    tab.watch.assert_clean()


def test_focus_is_visible_and_skip_link_leads_to_main(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    app = sqlite_app(worker=False)
    page = tab.page
    open_page(page, app.url + "/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    # Tab on to a navbar link: a clear outline (not the browser's faint default, not none).
    for _ in range(3):
        page.keyboard.press("Tab")
    outline = page.evaluate(
        "() => { const s = getComputedStyle(document.activeElement);"
        " return [s.outlineStyle, parseFloat(s.outlineWidth)]; }"
    )
    assert outline[0] == "solid" and outline[1] >= 2, outline
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    tab.watch.assert_clean()


# ---- issue 12 item 11: a "local time" switch, remembered per browser; UTC stays the default -----------------
def test_local_time_switch(sqlite_app: AppFactory, browser: Browser) -> None:
    app = sqlite_app(worker=False)
    task_id = external_task(app.recorder, "local time target")
    with app.db.reading() as session:
        task = task_record(session, task_id)
    assert task is not None
    created_utc = task.created_at.strftime("%Y-%m-%d %H:%M:%S")
    created_local = (task.created_at + timedelta(hours=5, minutes=30)).strftime("%Y-%m-%d %H:%M:%S")
    # A zone far from UTC, with a half-hour offset (Asia/Kolkata: UTC+05:30, no daylight saving).
    context = browser.new_context(viewport=VIEWPORT, timezone_id="Asia/Kolkata")  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        open_page(page, f"{app.url}/tasks/{task_id}")
        created = page.locator(f"#{ids.DETAIL_SYSTEM} time").first
        expect(created).to_have_text(f"{created_utc} UTC")  # the default

        page.locator(f"#{ids.LOCAL_TIME_SWITCH}").check()
        expect(created).to_have_text(f"{created_local} local")
        expect(created).to_have_attribute("title", re.compile(r"Asia/(Kolkata|Calcutta) · .* UTC"))
        # A redraw by Dash (a push about the task) keeps it local.
        app.recorder.record(task_id, ActivityLine("a push"), actor="test")
        expect(page.locator(f"#{ids.ACTIVITY}")).to_contain_text("a push")
        expect(created).to_have_text(f"{created_local} local")

        # Remembered per browser, and the grid's time columns follow, header included.
        page.goto(app.url + "/tasks")
        wait_live(page)
        expect(page.locator(f"#{ids.LOCAL_TIME_SWITCH}")).to_be_checked()
        expect(page.locator(f"#{ids.GRID} .ag-header-cell[col-id='created_at']")).to_contain_text(
            "Created (local)"
        )
        cell = page.locator(f"#{ids.GRID} .ag-cell[col-id='created_at']").first
        expect(cell).to_have_text(created_local)

        # Off again: UTC, and the CSV export was UTC all along.
        page.locator(f"#{ids.LOCAL_TIME_SWITCH}").uncheck()
        expect(page.locator(f"#{ids.GRID} .ag-header-cell[col-id='created_at']")).to_contain_text(
            "Created (UTC)"
        )
        expect(cell).to_have_text(created_utc)
        csv = page.request.get(app.url + "/export/tasks.csv").text()
        assert created_utc.replace(" ", "T") in csv or created_utc in csv, csv[:500]
    finally:
        context.close()


# ---- issue 12 item 10: a page load runs each live callback once, and misses nothing -----------------------
def _board_runs(page: Page) -> list[int]:
    """Counts the page's board callbacks (requests whose outputs include the board) as they are sent."""
    runs: list[int] = []

    def seen(request: Request) -> None:
        if "/_dash-update-component" in request.url and f'"{ids.BOARD}.children"' in (
            request.post_data or ""
        ):
            runs.append(1)

    page.on("request", seen)
    return runs


def test_a_quiet_page_load_runs_the_live_callbacks_once(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    """The socket subscribes from the seq the page was served at, so going live costs no catch-up refresh:
    the board is drawn once at load and once more per push (it used to be drawn twice at every load)."""
    app = sqlite_app(worker=False)
    page = tab.page
    external_task(app.recorder, "before the page")
    runs = _board_runs(page)
    open_page(page, app.url + "/tasks")
    expect(page.locator(f"#{ids.BOARD}")).to_contain_text("before the page")

    external_task(app.recorder, "after live", running=False)  # one event: one push, one flush
    expect(page.locator(f"#{ids.BOARD}")).to_contain_text("after live")
    state = live_state(page)
    assert state["received"] == 1 and state["flushes"] == 1, state  # the push's flush, and no other
    assert len(runs) == 2, f"the board was drawn {len(runs)} times (once at load, once for the push)"
    tab.watch.assert_clean()


def test_what_happens_while_the_socket_connects_is_replayed(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    """A task created after the page was served but before its socket subscribed reaches the page through
    the replay from the page's seq (there is no catch-up refresh any more to hide a wrong seq)."""
    app = sqlite_app(worker=False)
    page = tab.page
    created: list[int] = []

    def hold_then_connect(ws: WebSocketRoute) -> None:
        # The page is rendered (live.js connects only then), its reads are done: now the system moves on.
        created.append(external_task(app.recorder, "while connecting", running=False))
        ws.connect_to_server()

    page.route_web_socket(re.compile(r"/ws$"), hold_then_connect)
    runs = _board_runs(page)
    open_page(page, app.url + "/tasks")
    expect(page.locator(f"#{ids.BOARD}")).to_contain_text("while connecting")
    assert created and live_state(page)["received"] == 1
    assert len(runs) == 2, f"the board was drawn {len(runs)} times (once at load, once for the replay)"
    tab.watch.assert_clean()


def _requests(page: Page) -> list[str]:
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    return urls


def _first(urls: list[str], suffix: str) -> int:
    return next(i for i, u in enumerate(urls) if u.endswith(suffix))


def test_heavy_bundles_load_where_pages_need_them(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    """dash-ag-grid's 1.3 MB bundle stays off pages without a grid; reached inside the app, the tasks page
    loads it then and its grid works; opened on the tasks page, the browser fetches it with the page's own
    scripts (dashboard/bundles.py). The overview's cards don't wait for a callback or plotly.js."""
    app = sqlite_app(worker=False)
    page = tab.page
    external_task(app.recorder, "a row for the grid")
    urls = _requests(page)
    posted: list[str] = []
    page.on(
        "request", lambda r: posted.append(r.post_data or "") if "_dash-update-component" in r.url else None
    )
    open_page(page, app.url + "/")
    expect(page.locator(f"#{ids.KPIS} .card").first).to_be_visible()
    assert not [u for u in urls if "/dash_ag_grid/" in u], "the overview loaded dash-ag-grid"
    # The KPI cards come with the layout (and, before it, in the HTML: dashboard/snapshot.py): they never
    # wait for a callback, nor for the chart's plotly.js to load and run.
    settle(page)
    assert not [r for r in posted if f"{ids.KPIS}.children" in r], "the cards were asked for on load"
    # The page opened came with the layout (dashboard/firstpage.py): no routing round trip before its cards.
    assert not [r for r in posted if "_pages_content.children" in r], "the opened page was routed to"

    page.get_by_role("link", name="Tasks", exact=True).click()
    rows = page.locator(f"#{ids.GRID} .ag-center-cols-container .ag-row")
    expect(rows.filter(has_text="a row for the grid")).to_have_count(1)
    assert [r for r in posted if "_pages_content.children" in r], "a page reached inside the app is routed to"
    bundles = [u for u in urls if "/dash_ag_grid/dash_ag_grid." in u]
    assert len(bundles) == 1, bundles
    assert_not_reloaded(page)

    direct = tab.page.context.new_page()
    first = _requests(direct)
    direct.goto(app.url + "/tasks")
    expect(direct.locator(f"#{ids.GRID} .ag-center-cols-container .ag-row")).to_have_count(1)
    bundle = next(i for i, u in enumerate(first) if "/dash_ag_grid/dash_ag_grid." in u)
    assert bundle < _first(first, "/_dash-layout"), "a page that opens on a grid waited for the render"
    chunk = next(i for i, u in enumerate(first) if u.endswith("/dash_ag_grid/async-community.js"))
    renderer = next(i for i, u in enumerate(first) if "dash-renderer." in u)  # joined: dashboard/bundles.py
    assert chunk < renderer, "AG Grid's chunk waited for the grid's first render"
    # The layout and the callback graph are asked for by the page's head, before the renderer's scripts, and
    # the renderer takes those answers instead of asking again.
    for fetched in ("/_dash-layout", "/_dash-dependencies"):
        assert _first(first, fetched) < renderer, f"{fetched} waited for the scripts"
        assert len([u for u in first if u.endswith(fetched)]) == 1, f"{fetched} asked for twice"
    assert not [u for u in first if u.endswith("/plotly.min.js")], "the tasks list has no chart"
    direct.close()
    tab.watch.assert_clean()


def test_the_board_is_drawn_without_a_dash_wrapper_per_card(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    """The board's cards are one Static component (dashboard/components/static.py), with the same DOM as
    before: their #id links still navigate inside the app."""
    app = sqlite_app(worker=False)
    page = tab.page
    task_id = external_task(app.recorder, "card to open")
    open_page(page, app.url + "/tasks")
    link = lane_card(page, "running", task_id)
    expect(link).to_be_visible()
    drawn_by = page.evaluate("(id) => window.dash_component_api.getLayout(id).props.children.type", ids.BOARD)
    assert drawn_by == "Static"
    expect(page.locator(f"#{ids.BOARD} .task-card .progress")).to_have_count(1)  # dbc.Progress drawn too
    link.click()
    expect(page).to_have_url(f"{app.url}/tasks/{task_id}")
    expect(page.locator(f"#{ids.DETAIL_HEADER}")).to_contain_text("card to open")
    assert_not_reloaded(page)
    tab.watch.assert_clean()
