"""Tests: the dashboard in a real browser (Debian's Chromium via Playwright) against the real web app, its
change feed and a real worker — live updates without reloads, the board and the grid, text that must stay
text (XSS), reconnect and polling fallback, the theme switch and the client-side "possibly stuck" ticker."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, Request, Route, WebSocketRoute, expect
from sqlalchemy import update
from werkzeug.serving import make_server

from dashboard import ids
from db.core.models import AlertRule
from db.domain.ops import ActivityLine, TaskSpec, Transition
from db.domain.states import TaskKind, TaskStatus
from db.live.feed import latest_seq
from tests.browser import (
    AppFactory,
    BrowserPage,
    assert_not_reloaded,
    badge,
    eventually,
    grid_rows,
    lane_card,
    live_state,
    open_page,
    screenshot,
    wait_live,
    wait_seq,
)
from tests.builders import external_task
from tests.liveserver import LiveApp, serve
from worker.worker import Worker

pytestmark = pytest.mark.slow

# A command that waits for the test's go-ahead (a file appearing), so the page is sure to see it running, then
# reports structured progress (JSON lines) and plain output, ~0.3 s per iteration.
STEPS = 8


def _wait_for(go: Path) -> str:
    """Shell: wait until `go` exists, at most ~30 s (a failed test never leaves the command behind)."""
    return f"n=0; while [ ! -e '{go}' ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n + 1)); done; "


def _progress_command(go: Path) -> str:
    return (
        _wait_for(go) + f"for i in $(seq 1 {STEPS}); do "
        f'printf \'{{"event": "progress", "iteration": %d, "max_iterations": {STEPS}, "percent": %d}}\\n\' '
        f"$i $((i * 100 / {STEPS})); "
        'echo "step $i done"; sleep 0.3; done'
    )


XSS_TITLE = "<img src=x onerror=alert(1)>"
XSS_LINE = "<script>window.__pwned=1</script>"
XSS_LINE_IMG = "<img src=x onerror=alert(2)>"


def _seq(app: LiveApp) -> int:
    with app.db.reading() as session:
        return latest_seq(session)


def _messages(page: Page) -> list[str]:
    return page.locator(f"#{ids.ACTIVITY} .activity-message").all_inner_texts()


# ---- 1. submit through the UI and watch the detail page go live --------------------------------------
def test_submit_and_watch_detail_live(live_app: LiveApp, tab: BrowserPage, tmp_path: Path) -> None:
    page = tab.page
    go = tmp_path / "go"
    open_page(page, live_app.url + "/submit")
    page.fill(f"#{ids.S_TITLE}", "browser: count up")
    page.fill(f"#{ids.S_COMMAND}", _progress_command(go))
    page.click(f"#{ids.S_BUTTON}")
    link = page.locator("#submit-created-link")
    expect(link).to_be_visible()
    task_id = int(re.sub(r"\D", "", link.inner_text()))
    link.click()  # a dcc.Link: client-side navigation, so the marker planted on /submit must survive

    expect(page).to_have_url(f"{live_app.url}/tasks/{task_id}")
    header = page.locator(f"#{ids.DETAIL_HEADER}")
    expect(header).to_contain_text(f"#{task_id}")
    expect(header).to_contain_text("browser: count up")
    status = header.locator(".badge").first
    expect(status).to_have_text(re.compile(r"^(queued|running)$"))
    expect(status).to_have_text("running")
    go.touch()  # the command starts reporting only now
    user = page.locator(f"#{ids.DETAIL_USER}")
    expect(user).to_contain_text(re.compile(rf"iteration \d+ of {STEPS}"))
    expect(page.locator(f"#{ids.ACTIVITY}")).to_contain_text("step 1 done")
    screenshot(page, "detail-running")

    expect(status).to_have_text("completed")
    expect(user).to_contain_text(f"iteration {STEPS} of {STEPS}")
    expect(page.locator(f"#{ids.ACTIVITY}")).to_contain_text(f"step {STEPS} done")
    steps = [m for m in _messages(page) if m.startswith("step ")]
    assert steps == [f"step {i} done" for i in range(1, STEPS + 1)], steps  # each once, in order
    screenshot(page, "detail-completed")

    assert_not_reloaded(page)
    state = live_state(page)
    assert state["status"] == "live" and state["received"] > 0 and state["flushes"] > 0
    tab.watch.assert_clean()


# ---- 2. the board: a new task appears in a lane and moves to Completed --------------------------------
def test_board_moves_task_to_completed(sqlite_app: AppFactory, tab: BrowserPage, tmp_path: Path) -> None:
    app = sqlite_app()
    page = tab.page
    go = tmp_path / "go"
    open_page(page, app.url + "/tasks")
    expect(badge(page)).to_have_text("live")
    command = _wait_for(go) + "for i in 1 2 3; do echo tick $i; sleep 0.2; done"
    task_id = app.recorder.submit(
        TaskSpec(title="board mover", kind=TaskKind.COMMAND, payload={"command": command}), actor="test"
    )

    expect(lane_card(page, "queued", task_id).or_(lane_card(page, "running", task_id))).to_be_visible()
    expect(lane_card(page, "running", task_id)).to_be_visible()
    screenshot(page, "board-running")
    go.touch()
    expect(lane_card(page, "completed", task_id)).to_be_visible()
    expect(lane_card(page, "running", task_id)).to_have_count(0)
    expect(lane_card(page, "queued", task_id)).to_have_count(0)
    # The grid below reloads its visible rows in place on the same push.
    eventually(
        lambda: {r["id"]: r["status"] for r in grid_rows(page, ids.GRID) or []}.get(task_id),
        lambda s: s == "completed",
        f"grid row {task_id} to be completed",
        page,
    )
    expect(badge(page)).to_have_text("live")
    # Seen on a loaded CI box: the socket was live, but the badge kept saying "connecting…" (an update to it
    # was lost). Whatever overwrote it, the badge comes back to what the socket says.
    page.evaluate(
        "(id) => window.dash_clientside.set_props(id, {children: 'connecting…', color: 'light'})", ids.STATUS
    )
    expect(badge(page)).to_have_text("live", timeout=5_000)
    assert_not_reloaded(page)
    tab.watch.assert_clean()


# ---- 3. text stays text: titles and agent output never become markup ----------------------------------
def test_titles_and_activity_render_as_text(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    app = sqlite_app()
    page = tab.page
    open_page(page, app.url + "/tasks")
    command = f"echo '{XSS_LINE}'; echo '{XSS_LINE_IMG}'; sleep 0.5"
    task_id = app.recorder.submit(
        TaskSpec(title=XSS_TITLE, kind=TaskKind.COMMAND, payload={"command": command}), actor="test"
    )

    # The board card and the "finished" toast.
    expect(lane_card(page, "completed", task_id)).to_be_visible()
    expect(page.locator("#lane-completed .task-title").first).to_have_text(XSS_TITLE)
    expect(page.locator(f"#{ids.TOASTS}")).to_contain_text(XSS_TITLE)
    # The grid's title cell.
    cell = page.locator(f"#{ids.GRID} .ag-cell[col-id='title']", has_text="<img src=x").first
    expect(cell).to_have_text(XSS_TITLE)
    assert "<img" in page.locator("body").inner_text()
    screenshot(page, "xss-tasks")

    # The detail page: title in the header and the goal, the agent's lines in the activity panel.
    page.goto(f"{app.url}/tasks/{task_id}")
    wait_live(page)
    expect(page.locator(f"#{ids.DETAIL_HEADER} .task-title")).to_have_text(XSS_TITLE)
    expect(page.locator(f"#{ids.DETAIL_USER}")).to_contain_text(XSS_TITLE)
    activity = page.locator(f"#{ids.ACTIVITY}")
    expect(activity).to_contain_text(XSS_LINE)
    expect(activity).to_contain_text(XSS_LINE_IMG)
    text = page.locator("body").inner_text()
    assert "<img src=x onerror=alert(1)>" in text and "<script>window.__pwned=1</script>" in text
    screenshot(page, "xss-detail")

    expect(page.locator("img[src='x']")).to_have_count(0)
    assert page.evaluate("() => typeof window.__pwned") == "undefined"
    tab.watch.assert_clean()


# ---- 4. a dropped socket reconnects and resumes from its last seq --------------------------------------
def test_reconnect_resumes_from_last_seq(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    app = sqlite_app(worker=False)
    page = tab.page
    task_id = external_task(app.recorder, "reconnect target")

    # The socket goes through Playwright's websocket route so that the test decides when the server is
    # unreachable: while `down`, every new connection is closed at once (as a refused connection would be).
    down = threading.Event()
    routes: list[WebSocketRoute] = []

    def route(ws: WebSocketRoute) -> None:
        if down.is_set():
            ws.close(code=1011, reason="test outage")
            return
        ws.connect_to_server()
        routes.append(ws)

    page.route_web_socket(re.compile(r"/ws$"), route)
    open_page(page, f"{app.url}/tasks/{task_id}")
    activity = page.locator(f"#{ids.ACTIVITY}")
    app.recorder.record(task_id, ActivityLine("before the outage"), actor="test")
    expect(activity).to_contain_text("before the outage")
    before = live_state(page)

    down.set()
    routes[-1].close(code=1001, reason="server going away")
    expect(badge(page)).to_have_text(re.compile("reconnecting"))
    app.recorder.record(task_id, ActivityLine("recorded while the socket was down"), actor="test")
    missed = _seq(app)
    page.wait_for_timeout(300)  # at least one reconnect attempt is refused meanwhile
    assert live_state(page)["lastSeq"] < missed
    assert "recorded while the socket was down" not in _messages(page)

    down.clear()
    expect(badge(page)).to_have_text("live", timeout=30_000)
    wait_seq(page, missed)
    expect(activity).to_contain_text("recorded while the socket was down")
    app.recorder.record(task_id, ActivityLine("after the reconnect"), actor="test")
    expect(activity).to_contain_text("after the reconnect")

    messages = _messages(page)
    for line in ("before the outage", "recorded while the socket was down", "after the reconnect"):
        assert messages.count(line) == 1, messages
    after = live_state(page)
    assert after["reconnects"] > before["reconnects"]
    assert after["status"] == "live"
    assert_not_reloaded(page)
    tab.watch.assert_clean()


# ---- 5. the server goes away: the page says it is offline (nothing answers), then live again -----------
def test_polling_fallback_when_server_is_gone(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    app = sqlite_app(worker=False)
    page = tab.page
    task_id = external_task(app.recorder, "polling target")
    open_page(page, app.url + "/")
    expect(page.locator(f"#{ids.KPIS} .card").first).to_be_visible()

    port = app.server.server_port
    app.server.shutdown()
    # Werkzeug's shutdown stops accepting and closes the listening socket, but an already upgraded websocket
    # keeps its thread; a dying process would drop it, so drop it from the browser's side.
    page.evaluate("() => window.tasklensLive.socket && window.tasklensLive.socket.close()")
    expect(badge(page)).to_have_text(re.compile(r"^offline — since "), timeout=20_000)
    screenshot(page, "offline")
    app.recorder.record(task_id, ActivityLine("written while the server was down"), actor="test")
    missed = _seq(app)

    # The server comes back on the same port: the page reconnects by itself and catches up.
    server = make_server("127.0.0.1", port, app.server.app, threaded=True)
    serve(server, "live-server-2")
    app.server = server
    expect(badge(page)).to_have_text("live", timeout=40_000)
    wait_seq(page, missed)
    assert_not_reloaded(page)
    # Callbacks failed while the server was down (console errors); nothing may surface as a dialog.
    tab.watch.assert_clean(errors=False)


# ---- 6. the theme switch is applied and remembered -----------------------------------------------------
def test_theme_toggle_is_remembered(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    app = sqlite_app(worker=False)
    page = tab.page
    html = page.locator("html")
    switch = page.locator(f"#{ids.THEME_SWITCH}")
    open_page(page, app.url + "/")
    expect(html).to_have_attribute("data-bs-theme", "light")
    expect(switch).not_to_be_checked()

    switch.check()
    expect(html).to_have_attribute("data-bs-theme", "dark")
    assert "dark" in (page.evaluate(f"() => localStorage.getItem({ids.THEME!r})") or "")
    expect(page.locator(f"#{ids.KPIS} .card").first).to_be_visible()
    screenshot(page, "overview-dark")

    page.reload()
    wait_live(page)
    expect(html).to_have_attribute("data-bs-theme", "dark")
    expect(switch).to_be_checked()
    page.get_by_role("link", name="Tasks", exact=True).click()
    expect(page).to_have_url(app.url + "/tasks")
    expect(html).to_have_attribute("data-bs-theme", "dark")
    expect(page.locator("#lane-queued")).to_be_visible()
    expect(page.locator(f"#{ids.GRID} .ag-header-cell").first).to_be_visible()
    screenshot(page, "tasks-dark")

    switch.uncheck()
    expect(html).to_have_attribute("data-bs-theme", "light")
    page.reload()
    wait_live(page)
    expect(html).to_have_attribute("data-bs-theme", "light")
    expect(switch).not_to_be_checked()
    tab.watch.assert_clean()


# ---- 7. the grid: filters narrow the rows, a click opens the task --------------------------------------
def _grid_tasks(app: LiveApp) -> dict[str, int]:
    """Four external tasks: alpha queued, beta and gamma completed, delta failed."""
    alpha = external_task(app.recorder, "alpha: refactor the parser", running=False)
    beta = external_task(app.recorder, "beta: write the release notes")
    app.recorder.record(beta, Transition(TaskStatus.COMPLETED), actor="test")
    gamma = external_task(app.recorder, "gamma: alpha tests for the parser")
    app.recorder.record(gamma, Transition(TaskStatus.COMPLETED), actor="test")
    delta = external_task(app.recorder, "delta: triage flaky tests")
    app.recorder.record(delta, Transition(TaskStatus.FAILED, error="gave up"), actor="test")
    return {"alpha": alpha, "beta": beta, "gamma": gamma, "delta": delta}


def _toggle_status(page: Page, status: str) -> None:
    page.click(f"#{ids.F_STATUS}")
    page.locator(".dash-dropdown-content").get_by_text(status, exact=True).click()
    page.keyboard.press("Escape")


def test_grid_filters_narrow_rows(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    app = sqlite_app(worker=False)
    page = tab.page
    t = _grid_tasks(app)

    def shown() -> list[int]:
        return sorted(int(r["id"]) for r in grid_rows(page, ids.GRID) or [])

    open_page(page, app.url + "/tasks")
    eventually(shown, lambda v: v == sorted(t.values()), "all four rows", page)

    _toggle_status(page, "completed")  # through the dropdown, as a user does
    eventually(shown, lambda v: v == sorted([t["beta"], t["gamma"]]), "the completed rows", page)

    # The text filter is debounced (applied on Enter) and combines with the status filter.
    page.fill(f"#{ids.F_TEXT}", "alpha")
    page.press(f"#{ids.F_TEXT}", "Enter")
    eventually(shown, lambda v: v == [t["gamma"]], "the completed alpha row", page)
    titles = page.locator(f"#{ids.GRID} .ag-center-cols-container .ag-cell[col-id='title']")
    expect(titles).to_have_count(1)
    expect(titles).to_have_text("gamma: alpha tests for the parser")
    screenshot(page, "grid-filtered")

    _toggle_status(page, "completed")  # cleared: the text filter alone
    eventually(shown, lambda v: v == sorted([t["alpha"], t["gamma"]]), "both alpha rows", page)

    # A text that matches nothing says so; cleared, the rows come back at once. dash-ag-grid dropped the first
    # answer after one whose row count was 0: the grid stayed empty until the page was reloaded, or (an answer
    # with its count known) until assets/gridwatch.js asked again 5 s later.
    reasked = page.evaluate("() => window.tasklensGridWatch.reasked")
    page.fill(f"#{ids.F_TEXT}", "no such task")
    page.press(f"#{ids.F_TEXT}", "Enter")
    expect(page.locator(f"#{ids.GRID} .ag-overlay")).to_contain_text("No tasks match these filters")
    assert shown() == []
    page.fill(f"#{ids.F_TEXT}", "")
    page.press(f"#{ids.F_TEXT}", "Enter")
    eventually(shown, lambda v: v == sorted(t.values()), "all four rows again", page)
    expect(page.locator(f"#{ids.GRID} .ag-overlay")).to_be_hidden()
    assert page.evaluate("() => window.tasklensGridWatch.reasked") == reasked, "an answer was lost"
    assert_not_reloaded(page)
    tab.watch.assert_clean()


def test_grid_rows_are_distinct_and_open_on_click(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    app = sqlite_app(worker=False)
    page = tab.page
    open_page(page, app.url + "/tasks")
    t = _grid_tasks(app)  # created after the page loaded: they arrive through pushes
    titles = page.locator(f"#{ids.GRID} .ag-center-cols-container .ag-cell[col-id='title']")
    expected = {
        "alpha: refactor the parser",
        "beta: write the release notes",
        "gamma: alpha tests for the parser",
        "delta: triage flaky tests",
    }
    # The four rows can be drawn before their block's data arrives (AG Grid's loading rows have empty cells,
    # seen on a loaded CI box): wait for the titles themselves, not for the row count.
    eventually(lambda: titles.all_inner_texts(), lambda v: len(v) == 4 and set(v) == expected, "titles", page)
    row_ids = page.locator(f"#{ids.GRID} .ag-center-cols-container .ag-row").evaluate_all(
        "rows => rows.map(r => r.getAttribute('row-id'))"
    )
    assert sorted(row_ids) == sorted(str(i) for i in t.values())

    page.locator(f"#{ids.GRID} .ag-row[row-id='{t['alpha']}'] .ag-cell[col-id='title']").first.click()
    expect(page).to_have_url(f"{app.url}/tasks/{t['alpha']}")
    expect(page.locator(f"#{ids.DETAIL_HEADER}")).to_contain_text("alpha: refactor the parser")
    tab.watch.assert_clean()


def _grid_ids(page: Page) -> list[int]:
    return sorted(r["id"] for r in grid_rows(page, ids.GRID) or [])


def _is_rows_call(route: Route) -> bool:
    """A Dash callback request carrying the grid's block request (the server-side rows callback)."""
    return "getRowsRequest" in (route.request.post_data or "")


def test_grid_asks_one_block_at_a_time(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    # dash-ag-grid answers only a grid's latest block request: with two out at once (a push refreshing a block
    # still loading), the older one's answer went to the newer request or nowhere, and its request slot was
    # never freed. Pushes faster than the server answers must queue, one request at a time.
    app = sqlite_app(worker=False)
    first = external_task(app.recorder, "first", running=False)
    page = tab.page
    open_page(page, app.url + "/tasks")
    eventually(lambda: _grid_ids(page), lambda v: v == [first], "the first row", page)
    out: list[Request] = []
    most = 0

    def sent(request: Request) -> None:
        nonlocal most
        if "getRowsRequest" in (request.post_data or ""):
            out.append(request)
            most = max(most, len(out))

    def done(request: Request) -> None:
        if request in out:
            out.remove(request)

    def slow(route: Route) -> None:  # a busy server: each block takes a while
        if _is_rows_call(route):
            time.sleep(0.3)
        route.continue_()

    page.on("request", sent)
    page.on("requestfinished", done)
    page.on("requestfailed", done)
    page.route("**/_dash-update-component*", slow)
    second = external_task(app.recorder, "second", running=False)
    for _ in range(8):  # pushes arriving faster than the blocks load, as during a burst
        page.evaluate("(gridId) => dash_ag_grid.getApi(gridId).refreshInfiniteCache()", ids.GRID)
        page.wait_for_timeout(100)
    eventually(lambda: _grid_ids(page), lambda v: v == [first, second], "both rows", page)
    page.unroute("**/_dash-update-component*")
    assert most == 1, f"{most} block requests were out at once"
    assert_not_reloaded(page)


def test_grid_asks_again_for_a_block_whose_answer_was_lost(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    # A block request whose callback failed (the server was away for a moment) is never answered: without
    # asking again, that request held the grid's request slot and the grid never loaded again.
    app = sqlite_app(worker=False)
    page = tab.page
    open_page(page, app.url + "/tasks")
    eventually(lambda: grid_rows(page, ids.GRID), lambda v: v == [], "the empty grid", page)
    dropped: list[str] = []

    def drop_first(route: Route) -> None:
        if _is_rows_call(route) and not dropped:
            dropped.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    page.route("**/_dash-update-component*", drop_first)
    task_id = external_task(app.recorder, "arrives while a block answer is lost", running=False)
    eventually(lambda: _grid_ids(page), lambda v: v == [task_id], "the new row, asked for again", page)
    assert dropped, "no block request was dropped: the test did not test anything"
    assert page.evaluate("() => window.tasklensGridWatch.reasked") >= 1
    page.unroute("**/_dash-update-component*")
    assert_not_reloaded(page)


# ---- 8. a silent task becomes "possibly stuck" with no new event (the browser's ticker) -----------------
def test_stuck_task_marked_without_new_events(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    app = sqlite_app(worker=False, stuck_after_seconds=2)
    # The stuck-task alert would write an event of its own (tests/test_alerts_browser.py covers it): off here,
    # where the point is that the marker changes without any event.
    with app.db.writing() as session:
        session.execute(update(AlertRule).values(enabled=False))
    payload = {"hang_rate": 1, "fail_rate": 0, "speed": 20}
    task_id = app.recorder.submit(
        TaskSpec(title="hangs in the builder", kind=TaskKind.DEMO, payload=payload), actor="test"
    )
    board = tab.page
    detail = tab.new_page()
    open_page(board, app.url + "/tasks")
    open_page(detail, f"{app.url}/tasks/{task_id}")
    # Only now does a worker start, so both pages saw the task before it went silent.
    app.worker = Worker(app.settings, app.db, app.recorder, app.hub)
    app.worker.start()

    expect(detail.locator(f"#{ids.ACTIVITY}")).to_contain_text("waiting for provider response")
    silent_from = _seq(app)  # the hang's own line is the last event this task writes
    for page in (board, detail):
        wait_seq(page, silent_from)

    card = board.locator("#lane-running .task-card")
    expect(card).to_contain_text("possibly stuck")
    expect(detail.locator(f"#{ids.DETAIL_USER}")).to_contain_text("possibly stuck")
    # The silence keeps counting in the browser.
    marker = detail.locator(f"#{ids.DETAIL_USER} .stuck-badge")
    first = marker.inner_text()
    expect(marker).not_to_have_text(first)
    screenshot(detail, "stuck-detail")
    screenshot(board, "stuck-board")

    # No event drove those changes: nothing was written and neither page received anything new.
    assert _seq(app) == silent_from
    for page in (board, detail):
        assert live_state(page)["lastSeq"] == silent_from
        assert_not_reloaded(page)
    app.recorder.cancel(task_id, actor="test")  # lets the worker stop at once
    tab.watch.assert_clean()


# ---- the audit log page --------------------------------------------------------------------------------
def test_audit_log_page_updates_live_and_shows_text(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    """A change made elsewhere appears without a reload; user-typed values stay text; the filter narrows."""
    from db.access.audit import record
    from db.core.timeutil import utcnow

    app = sqlite_app(worker=False)
    page = tab.page
    open_page(page, app.url + "/audit")
    # No filter set: an empty log says what it will hold, not that filters match nothing.
    expect(page.locator("#audit-table")).to_contain_text("Nothing recorded yet")
    assert page.locator("#audit-action option:checked").inner_text() == "every action"
    task_id = external_task(app.recorder, "audited", running=False)
    with app.db.writing() as session:
        record(session, XSS_TITLE, "task.cancel", f"task:{task_id}", {"why": XSS_LINE}, now=utcnow())
    app.recorder.cancel(task_id, actor="test")  # its event is the push that re-reads the log
    row = page.locator("#audit-table .audit-row").first
    expect(row).to_contain_text(XSS_TITLE)
    expect(row).to_contain_text(f"why: {XSS_LINE}")
    expect(row.locator(f"a[href='/tasks/{task_id}']")).to_have_text(f"task:{task_id}")
    expect(page.locator("img[src='x']")).to_have_count(0)
    assert page.evaluate("() => typeof window.__pwned") == "undefined"
    page.locator("#audit-action").select_option("task.delete")
    expect(page.locator("#audit-table")).to_contain_text("Nothing recorded matches")
    page.locator("#audit-action").select_option("task.")
    expect(page.locator("#audit-table .audit-row")).to_have_count(1)
    assert_not_reloaded(page)
    tab.watch.assert_clean()
