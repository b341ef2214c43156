"""Tests: page layout in Chromium — no page scrolls sideways at 1440 px (a desktop) or at 390 px (a phone), the
scope bar's date fields show their whole date, and no table splits a word."""

from __future__ import annotations

import re
from functools import partial
from urllib.parse import quote

import pytest
from playwright.sync_api import expect
from sqlalchemy import func, select

from dashboard import ids
from dashboard.pages.agents import FLEET
from dashboard.pages.data import PATH as DATA_PATH
from dashboard.pages.worker import HISTORY as WORKER_HISTORY
from db.control import task_schedules
from db.control.task_schedules import ScheduleSpec
from db.core.models import Invocation, Task
from db.core.timeutil import utcnow
from db.domain.ops import Transition
from db.domain.states import TaskKind, TaskStatus
from tests.browser import AppFactory, BrowserPage, eventually, grid_rows, open_page, wait_dash_idle
from tests.builders import external_task
from worker.history import generate_history

PAGES = (
    *("/", "/tasks", "/tasks/1", "/submit", "/costs", "/budgets"),
    *("/agents", "/workers/{worker}", "/performance", "/database", "/data", "/reports", "/schedules"),
    "/audit",
)
WIDTH = "document.getElementById('{field}').getBoundingClientRect().width"
OVERFLOW = """() => {
    const width = document.documentElement.clientWidth;
    const wide = [];
    for (const el of document.querySelectorAll('body *')) {
        const r = el.getBoundingClientRect();
        if (r.width > 0 && r.right > width + 1 && !el.closest('svg')) {
            wide.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className} right=${Math.round(r.right)}`);
        }
    }
    return {scroll: document.documentElement.scrollWidth, width: width, wide: wide.slice(0, 5)};
}"""
# The overview chart's drawings that show, and the smallest of their texts as drawn on screen: the font size in
# the drawing's units times the drawing's scale (its box's width over its viewBox's).
CHART_TEXT = """(box) => {
    const shown = [...document.querySelectorAll(`#${box} svg.tl-chart`)].filter(s => s.getClientRects().length);
    const sizes = shown.flatMap(s => [...s.querySelectorAll('text')].map(
        t => parseFloat(getComputedStyle(t).fontSize) * s.getScreenCTM().a));
    return {shown: shown.map(s => s.getAttribute('class')), smallest: Math.min(...sizes)};
}"""
# Every word in the tables under the element `box` (an id) that the browser laid out on more than one line: a
# word's text range then has rectangles at two heights ("agent-" over "01.internal", "Triag" over "e").
SPLIT_WORDS = """(box) => {
    const split = [];
    const tables = document.getElementById(box).querySelectorAll('table');
    for (const table of tables) {
        const walker = document.createTreeWalker(table, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            for (const word of node.data.matchAll(/\\S+/g)) {
                const range = document.createRange();
                range.setStart(node, word.index);
                range.setEnd(node, word.index + word[0].length);
                const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
                if (tops.size > 1) split.push(word[0]);
            }
        }
    }
    const cut = [...tables].filter(t => t.parentElement.scrollWidth > t.parentElement.clientWidth + 1).length;
    return {tables: tables.length, split: split.slice(0, 5), scroll: document.documentElement.scrollWidth, cut};
}"""
# A grid's columns as drawn: whether the last one ends inside the grid's viewport, the grid scrolls sideways, a
# header's text is cut (or would be beside a sort arrow: measured on the sorted column), and a column is narrower
# than its least width. AG Grid draws only the columns in sight, so a header missing is a column off-screen.
GRID_FIT = """(grid) => {
    const api = dash_ag_grid.getApi(grid);
    const box = document.getElementById(grid);
    const body = box.querySelector('.ag-body-viewport').getBoundingClientRect();
    const centre = box.querySelector('.ag-center-cols-viewport');
    const columns = api.getAllDisplayedColumns();
    const last = box.querySelector(`.ag-header-cell[col-id="${columns[columns.length - 1].getColId()}"]`);
    const heads = [...box.querySelectorAll('.ag-header-cell')];
    const sorted = heads.find(h => h.querySelector('.ag-sort-indicator-icon:not(.ag-hidden)'));
    const arrow = sorted ? sorted.querySelector('.ag-sort-indicator-container').getBoundingClientRect().width : 0;
    const cut = [];
    for (const head of heads) {
        const text = head.querySelector('.ag-header-cell-text');
        const label = head.querySelector('.ag-header-cell-label');
        const column = api.getColumn(head.getAttribute('col-id'));
        const spare = column.isSortable() && head !== sorted ? arrow : 0;
        if (text.scrollWidth > text.clientWidth || text.scrollWidth + spare > label.clientWidth + 1) {
            cut.push(text.textContent);
        }
    }
    const narrow = columns.filter(c => c.getActualWidth() < (c.getColDef().minWidth || c.getColDef().width))
        .map(c => c.getColId());
    return {columns: columns.length, heads: heads.length, arrow, cut, narrow,
        lastRight: last ? Math.round(last.getBoundingClientRect().right) : null, right: Math.round(body.right),
        sideways: centre.scrollWidth > centre.clientWidth + 1,
        page: document.documentElement.scrollWidth > document.documentElement.clientWidth};
}"""


def test_every_grid_column_shows_at_1440_and_the_grid_scrolls_on_a_phone(
    sqlite_app: AppFactory, tab: BrowserPage
) -> None:
    """At 1440 px the tasks grid's columns came to ~1,790 px in a ~1,415 px grid: the header read "Ended (UT",
    Cost and Error were off-screen and the grid's scrollbar sat at its foot, out of sight; the calls grid's Error
    and # too. Now every column ends inside the grid and every header reads whole, even beside a sort arrow. On
    a phone the grid scrolls sideways inside its box, the page does not, and no column is squashed below its
    least width. Demo history: its titles, worker ids, call ids and model names are the long ones."""
    app = sqlite_app(worker=False)
    generate_history(app.db, 40, days=2, seed=5)
    page = tab.page
    for width in (1440, 390):
        page.set_viewport_size({"width": width, "height": 900})
        for path, grid in (("/tasks", ids.GRID), ("/calls", "calls-grid")):
            open_page(page, app.url + path)
            eventually(lambda: grid_rows(page, grid), bool, f"{path}'s rows", page)  # noqa: B023
            wait_dash_idle(page)
            if width == 1440:
                eventually(
                    partial(page.evaluate, GRID_FIT, grid),
                    lambda f: (
                        f["heads"] == f["columns"]
                        and f["lastRight"] is not None
                        and f["lastRight"] <= f["right"]
                        and not f["sideways"]
                        and not f["cut"]
                        and f["arrow"] > 0
                    ),
                    f"every column of {path}'s grid inside it at 1440 px, every header whole",
                    page,
                )
            else:
                eventually(
                    partial(page.evaluate, GRID_FIT, grid),
                    lambda f: f["sideways"] and not f["page"] and not f["narrow"],
                    f"{path}'s grid to scroll sideways in its box at 390 px, no column squashed",
                    page,
                )
    tab.watch.assert_clean()


def test_an_empty_grid_shows_its_message_without_a_blank_row(
    sqlite_app: AppFactory, tab: BrowserPage
) -> None:
    """An answer without rows counts one row (infinitegrid.EMPTY_COUNT, for dash-ag-grid 35.3's sake), and that
    blank row stood as a bordered empty line under the header, above "No tasks yet". It stays in the grid but is
    not seen while the overlay is; the first task shows as a row."""
    app = sqlite_app(worker=False)
    page = tab.page
    page.set_viewport_size({"width": 1440, "height": 900})
    for path, grid, noun in (("/calls", "calls-grid", "calls"), ("/tasks", ids.GRID, "tasks")):
        open_page(page, app.url + path)
        expect(page.locator(f"#{grid} .ag-overlay")).to_contain_text(f"No {noun} yet")
        blank = page.locator(f"#{grid} .ag-center-cols-container .ag-row")
        expect(blank).to_have_count(1)  # still there: the grid's row count is one
        expect(blank).to_be_hidden()
    external_task(app.recorder, "the first task")  # pushed to the open tasks page
    row = page.locator(f"#{ids.GRID} .ag-center-cols-container .ag-row")
    expect(row.locator(".ag-cell[col-id='title']")).to_have_text("the first task")
    expect(row).to_be_visible()
    expect(page.locator(f"#{ids.GRID} .ag-overlay")).to_be_hidden()
    tab.watch.assert_clean()


MASK = "l => getComputedStyle(l).maskImage || getComputedStyle(l).webkitMaskImage"


def test_a_board_lane_fades_where_more_cards_lie(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    """A lane scrolls its cards inside 34rem, and its last card in sight was cut mid-line ("took 19.8 s · $0.10"
    half shown) with nothing saying the lane scrolls. Its foot now fades while more cards lie below, its head
    once some lie above (assets/lanes.js, tasklens.css); a lane that holds all its cards does not fade."""
    app = sqlite_app(worker=False)
    generate_history(app.db, 40, days=2, seed=5)  # a full completed lane: 25 cards
    page = tab.page
    page.set_viewport_size({"width": 1440, "height": 900})
    open_page(page, app.url + "/tasks")
    lane = page.locator("#lane-completed .lane-body")
    expect(lane.locator(".task-card").nth(7)).to_be_attached()  # eight cards or more: more than 34rem
    expect(lane).to_have_class(re.compile(r"\blane-more-below\b"))
    expect(lane).not_to_have_class(re.compile(r"\blane-more-above\b"))
    # Read again until it holds: a push may redraw the lane between the class check and the style read, and a
    # just-replaced element's computed style reads empty (failed once in a full run).
    eventually(lambda: lane.evaluate(MASK), lambda m: "gradient" in m, "the lane's foot fading", page)
    lane.evaluate("l => { l.scrollTop = l.scrollHeight; }")  # to its last card
    expect(lane).not_to_have_class(re.compile(r"\blane-more-below\b"))
    expect(lane).to_have_class(re.compile(r"\blane-more-above\b"))
    eventually(lambda: lane.evaluate(MASK), lambda m: "to top" in m or "0deg" in m, "the head fading", page)
    # A push redraws the board (a task ended): the fade still follows where the lane is scrolled to.
    lane.evaluate("l => { l.scrollTop = 0; }")
    done = external_task(app.recorder, "a task that just ended")
    app.recorder.record(done, Transition(TaskStatus.COMPLETED), actor="test")
    expect(lane).to_contain_text("a task that just ended")
    expect(lane).to_have_class(re.compile(r"\blane-more-below\b"))
    expect(lane).not_to_have_class(re.compile(r"\blane-more-above\b"))
    queued = page.locator("#lane-queued .lane-body")
    expect(queued).to_contain_text("nothing here")
    assert "lane-more" not in (queued.get_attribute("class") or "")
    eventually(lambda: queued.evaluate(MASK), lambda m: m == "none", "an empty lane without a fade", page)
    tab.watch.assert_clean()


# Every value in the KPI cards under the element `box` (an id) laid out on more than one line: a number with its
# unit, a duration, a date-time, a range ("p95 4m / 50s", "12- / 04 00:00" broke at 1440 px).
SPLIT_VALUES = """(box) => {
    const value = /(p\\d+ )?≈?\\d[\\d,.:–-]*(( ?(ms|s|m|h|d|%|KB|MB|GB|UTC)\\b)|( \\d[\\d,.:–-]*[smhd]?\\b))*/g;
    const split = [];
    const cards = document.getElementById(box).querySelectorAll('.card');
    for (const line of document.getElementById(box).querySelectorAll('.card-body > div')) {
        const walker = document.createTreeWalker(line, NodeFilter.SHOW_TEXT);
        const nodes = [];
        for (let node = walker.nextNode(); node; node = walker.nextNode()) nodes.push(node);
        // The line's text as one string, each character's node and offset: a value may span two nodes.
        const at = [];
        let all = '';
        for (const node of nodes) {
            for (let i = 0; i < node.data.length; i++) at.push([node, i]);
            all += node.data;
        }
        for (const found of all.matchAll(value)) {
            if (!found[0]) continue;
            const range = document.createRange();
            const [a, i] = at[found.index];
            const [b, j] = at[found.index + found[0].length - 1];
            range.setStart(a, i);
            range.setEnd(b, j + 1);
            const tops = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
            if (tops.size > 1) split.push(found[0]);
        }
    }
    return {cards: cards.length, split: split};
}"""

# Every html table in a box (.table-responsive) on the page: a cell whose content is cut inside it (wider than
# the cell), a line of a value cell (not a phrase or free text) laid out on two lines ("17,317, / 2,869,"),
# and a box that scrolls sideways without saying so (a11y.js's mark and the shadow on its edge).
WHOLE_CELLS = """() => {
    const boxes = [...document.querySelectorAll('.table-responsive')].filter(b => b.getClientRects().length);
    const cut = [], broken = [], silent = [];
    let cells = 0;
    for (const box of boxes) {
        for (const td of box.querySelectorAll(':scope > table > tbody > tr > td')) {
            cells++;
            if (td.scrollWidth > td.clientWidth + 1) cut.push(td.innerText.slice(0, 40));
            if (td.matches('.tl-wrap, .tl-text, .text-break') || td.closest('.tl-stack')) continue;
            const walker = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
            for (let node = walker.nextNode(); node; node = walker.nextNode()) {
                if (node.parentElement.closest('.tl-wrap, .tl-text, .text-break')) continue;
                const range = document.createRange();
                range.selectNodeContents(node);
                const tops = new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top)));
                if (tops.size > 1) broken.push(node.data.slice(0, 40));
            }
        }
        const scrolls = box.scrollWidth > box.clientWidth + 1;
        const cue = box.hasAttribute('data-a11y-scroll') && getComputedStyle(box).backgroundImage.includes('radial');
        if (scrolls && !cue) silent.push(box.parentElement.id || box.closest('[id]').id);
    }
    return {boxes: boxes.length, cells: cells, cut: cut.slice(0, 5), broken: broken.slice(0, 5), silent: silent};
}"""


@pytest.mark.slow
def test_no_page_scrolls_sideways(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    app = sqlite_app(worker=False)
    generate_history(app.db, 300, days=14, seed=3)
    with app.db.reading() as session:
        worker = session.scalars(select(Task.worker_id).where(Task.worker_id.is_not(None)).limit(1)).one()
    with app.recorder.transaction() as session:  # a row with its buttons, and the long cron text
        spec = ScheduleSpec(
            name="a nightly report with a long name",
            title="build the nightly report for every team",
            kind=TaskKind.COMMAND,
            payload={"command": "true"},
            cron="30 6 * * 1-5",
            timezone="America/Argentina/Buenos_Aires",
        )
        task_schedules.create(session, spec, utcnow())
    page = tab.page
    for width in (1440, 390):
        page.set_viewport_size({"width": width, "height": 900})
        for path in PAGES:
            open_page(page, app.url + path.format(worker=quote(str(worker), safe="")))
            wait_dash_idle(page)  # measured once drawn, not mid-draw
            # ... and until it fits: a chart drawn before its column was laid out starts at plotly's default 700 px
            # and is resized to its column by dcc.Graph's resize observer, which a busy machine runs late.
            eventually(
                partial(page.evaluate, OVERFLOW),
                lambda found: found["scroll"] <= found["width"],
                f"{path} at {width} px not to scroll sideways",
                page,
            )
    tab.watch.assert_clean()


@pytest.mark.slow
def test_date_fields_show_the_whole_date(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    app = sqlite_app(worker=False)
    page = tab.page
    page.set_viewport_size({"width": 1440, "height": 900})
    open_page(page, app.url + "/costs?range=custom&from=2026-11-01&to=2026-11-30")
    for field in ("scope-from", "scope-to"):
        # The page's own scope bar, drawn:
        expect(page.locator(f"#{field}")).to_have_value(re.compile(r"^2026-11-"))
        # The browser's date field lays its parts out inside; a field narrower than them cuts the year off.
        # Measured until laid out (the scope bar is redrawn once its choices arrive).
        eventually(partial(page.evaluate, WIDTH.format(field=field)), lambda w: w >= 150, field, page)


@pytest.mark.slow
def test_the_navbar_folds_into_a_menu_on_a_phone(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    """At 390 px the ten links hide behind a menu button (they used to stack over half the screen); the
    connection badge stays in sight; a link followed closes the menu. At 1440 px they are all in one row."""
    app = sqlite_app(worker=False)
    page = tab.page
    page.set_viewport_size({"width": 390, "height": 900})
    open_page(page, app.url + "/")
    costs = page.get_by_role("link", name="Costs", exact=True)
    expect(costs).to_be_hidden()
    expect(page.locator(f"#{ids.STATUS}")).to_be_visible()
    page.locator(f"#{ids.NAV_TOGGLE}").click()
    expect(costs).to_be_visible()
    costs.click()
    page.wait_for_url("**/costs")
    expect(costs).to_be_hidden()
    page.set_viewport_size({"width": 1440, "height": 900})
    expect(costs).to_be_visible()
    expect(page.locator(f"#{ids.NAV_TOGGLE}")).to_be_hidden()
    tops = page.locator(".navbar .nav-link").evaluate_all(
        "els => els.map(e => e.getBoundingClientRect().top)"
    )
    assert len(set(tops)) == 1, tops  # one row
    tab.watch.assert_clean()


def test_a_table_wider_than_its_box_is_a_region_the_keyboard_can_scroll(
    sqlite_app: AppFactory, tab: BrowserPage
) -> None:
    """assets/a11y.js: a .table-responsive that scrolls sideways can be focused to scroll (tabindex, a named
    region: axe's scrollable-region-focusable), and stops being a tab stop once it fits; checked when the box
    or its table changes size, the window's resize included."""
    app = sqlite_app(worker=False)
    generate_history(app.db, 40, days=2, seed=5)  # tasks from a few workers: the fleet table has rows
    page = tab.page
    page.set_viewport_size({"width": 390, "height": 900})
    open_page(page, app.url + "/agents")
    box = page.locator(f"#{FLEET} .table-responsive")
    expect(box).to_have_attribute("tabindex", "0")
    expect(box).to_have_attribute("role", "region")
    expect(box).to_have_attribute("aria-label", "table, scrolls sideways")
    assert box.evaluate("b => b.scrollWidth > b.clientWidth")
    page.set_viewport_size({"width": 1440, "height": 900})
    expect(box).not_to_have_attribute("tabindex", "0")
    expect(box).not_to_have_attribute("role", "region")
    assert box.evaluate("b => b.scrollWidth <= b.clientWidth + 1")
    page.set_viewport_size({"width": 390, "height": 900})
    expect(box).to_have_attribute("tabindex", "0")
    tab.watch.assert_clean()


def test_no_table_splits_a_word(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    """Ids, hosts, model names, numbers and times stay whole, and a title wraps between its words: Bootstrap's
    .text-break let a cell shrink to a letter per line ("Triag/e open/bug" in a worker's history, hosts on
    the Agents page at 390 px) and a squeezed column broke "agent-02.internal" at its hyphen (the overview's
    workers, the task page's invocations at 1440 px). A table too wide scrolls in its box, the page never; at
    1440 px none has to."""
    app = sqlite_app(worker=False)
    generate_history(app.db, 40, days=2, seed=5)
    with app.db.reading() as session:
        widest = (func.length(Invocation.model).desc(), Invocation.input_tokens.desc())  # the widest rows
        task = session.scalars(select(Invocation.task_id).order_by(*widest).limit(1)).one()
        worker = session.scalars(select(Task.worker_id).where(Task.worker_id.is_not(None)).limit(1)).one()
    page = tab.page
    tables = (
        (390, "/agents", FLEET),
        (390, f"/workers/{quote(str(worker), safe='')}", WORKER_HISTORY),
        (1440, f"/tasks/{task}", ids.DETAIL_INVOCATIONS),
    )
    for width, path, box in tables:
        page.set_viewport_size({"width": width, "height": 900})
        open_page(page, app.url + path)
        wait_dash_idle(page)
        found = eventually(
            partial(page.evaluate, SPLIT_WORDS, box),
            lambda found: found["tables"] > 0 and not found["split"],
            f"no word split in #{box} at {width} px",
            page,
        )
        assert found["scroll"] <= width, found
        if width == 1440:  # room for the whole table: at half of 1440 px the invocations' cost column was cut
            assert found["cut"] == 0, found
    tab.watch.assert_clean()


def test_the_lifecycle_settings_stack_on_a_phone(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    """At 390 px a setting's value ("kept forever", "not set") sits under its name, in sight: in three columns
    it was cut at the card's edge (seen only by scrolling inside the card) and its meaning took a line per
    word. At 1440 px the three columns stay."""
    app = sqlite_app(worker=False)
    page = tab.page
    page.set_viewport_size({"width": 390, "height": 900})
    open_page(page, app.url + DATA_PATH)
    card = page.locator(".card", has=page.get_by_text("Lifecycle settings", exact=True))
    box = card.locator(".table-responsive")
    expect(box.locator("td").first).to_be_visible()
    wait_dash_idle(page)
    assert box.evaluate("b => b.scrollWidth <= b.clientWidth + 1"), "the settings scroll inside their card"
    values = box.locator("tr > td:nth-child(2)")
    expect(values.first).to_have_text("kept forever")
    inside = values.evaluate_all(
        "(cells, right) => cells.every(c => c.getBoundingClientRect().right <= right)",
        box.evaluate("b => b.getBoundingClientRect().right"),
    )
    assert inside, "a value reaches past the card's edge"
    page.set_viewport_size({"width": 1440, "height": 900})
    name, value = box.locator("tr").first.locator("td").all()[:2]
    assert name.bounding_box()["y"] == value.bounding_box()["y"]  # type: ignore[index]  # side by side
    tab.watch.assert_clean()


def test_the_overview_chart_is_readable_on_a_phone(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    """The server-drawn chart scales to its box: its 720-unit drawing on a phone drew the labels ~5 px and the
    empty state's message ~6 px high. At 390 px the phone's drawing shows instead (one drawing at a time),
    its smallest text 10 px or more, empty or not; at 1440 px the desktop's."""
    app = sqlite_app(worker=False)
    page = tab.page
    for width, drawing, state in (
        (390, "narrow", "empty"),
        (390, "narrow", "drawn"),
        (1440, "wide", "drawn"),
    ):
        if state == "drawn" and width == 390:
            generate_history(app.db, 40, days=1, seed=5)
        page.set_viewport_size({"width": width, "height": 900})
        open_page(page, app.url + "/")
        expect(page.locator(f"#{ids.THROUGHPUT} svg.tl-chart-{drawing}")).to_be_visible()
        found = page.evaluate(CHART_TEXT, ids.THROUGHPUT)
        assert len(found["shown"]) == 1 and drawing in found["shown"][0], (width, state, found)
        assert ("tl-chart-empty" in found["shown"][0]) == (state == "empty"), (width, state, found)
        assert found["smallest"] >= 10, (width, state, found)
    tab.watch.assert_clean()


def test_kpi_cards_keep_each_value_on_one_line(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    """At 1440 px the Performance and Database cards (seven a row) broke their lines inside values: "p95 4m /
    50s", "p95 33.4 / s", "274–646, day of 12- / 04 00:00", "busiest minute, 2026- / 11-30 10:33", "last 60 /
    s". Lines now wrap between phrases only (fmt.value_runs), at 1440 px and on a phone."""
    app = sqlite_app(worker=False)
    generate_history(app.db, 300, days=14, seed=3)
    page = tab.page
    for width in (1440, 390):
        page.set_viewport_size({"width": width, "height": 900})
        for path, box in (("/performance?range=7d", "perf-kpis"), ("/database?range=7d", "dbi-kpis")):
            open_page(page, app.url + path)
            wait_dash_idle(page)
            found = eventually(
                partial(page.evaluate, SPLIT_VALUES, box),
                lambda found: found["cards"] >= 7 and not found["split"],
                f"no value split in #{box} at {width} px",
                page,
            )
            assert found["cards"] >= 7, found
    tab.watch.assert_clean()


def test_tables_on_a_phone_keep_whole_cells_and_show_that_they_scroll(
    sqlite_app: AppFactory, tab: BrowserPage
) -> None:
    """At 390 px the html tables were cut inside their boxes with nothing to say so: the Overview's workers
    ("Sta" / "onli"), the Agents page's roles ("17,317, / 2,869," over two lines, the rest cut), the costs
    tables' Cost column, the Database page's table sizes ("772.0 K"), a worker's history (Outcome out of
    sight). Each table keeps its cells whole (values on one line, nothing cut inside a cell) and scrolls
    sideways in its box, which shows a shadow on each edge with more table beyond it."""
    app = sqlite_app(worker=False)
    generate_history(app.db, 40, days=2, seed=5)
    with app.db.reading() as session:
        worker = session.scalars(select(Task.worker_id).where(Task.worker_id.is_not(None)).limit(1)).one()
        task = session.scalars(select(Invocation.task_id).limit(1)).one()
    page = tab.page
    page.set_viewport_size({"width": 390, "height": 900})
    paths = (
        "/",
        "/agents",
        "/costs",
        "/database",
        f"/workers/{quote(str(worker), safe='')}",
        f"/tasks/{task}",
    )
    for path in paths:
        open_page(page, app.url + path)
        wait_dash_idle(page)
        found = eventually(
            partial(page.evaluate, WHOLE_CELLS),
            lambda found: (
                found["cells"] > 0 and not found["cut"] and not found["broken"] and not found["silent"]
            ),
            f"whole cells and a scroll cue in the tables of {path} at 390 px",
            page,
        )
        assert found["boxes"] > 0, (path, found)
    tab.watch.assert_clean()
