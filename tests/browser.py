"""Tests: shared helpers for the browser tests — Debian's Chromium driven by Playwright's sync API (one browser
per session, a fresh context per test that fails on any dialog), a live app on a fresh SQLite file with
settings overrides, and small waits on page state. Playwright's own browser download is never used."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Dialog,
    Error,
    Page,
    expect,
    sync_playwright,
)

from dashboard import ids
from tests.liveserver import LiveApp, start_live_app

CHROMIUM = os.environ.get("TASKLENS_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Generous: a loaded CI machine may take seconds for what takes milliseconds here. Nothing asserts timing.
TIMEOUT_MS = 20_000
VIEWPORT = {"width": 1400, "height": 1000}

T = TypeVar("T")


def chromium_path() -> str:
    """The Chromium binary; fails in CI (where it must exist) and skips elsewhere when it is missing."""
    if Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    reason = (
        f"Chromium not found at {CHROMIUM} (install Debian's `chromium` package: apt-get install chromium)"
    )
    if os.environ.get("CI"):
        pytest.fail(f"browser tests must run in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session", name="browser")
def browser_fixture() -> Iterator[Browser]:
    """One headless Chromium for the whole session; each test gets its own context (cookies, storage)."""
    path = chromium_path()
    expect.set_options(timeout=TIMEOUT_MS)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class PageWatch:
    """What a page did that a test may want to forbid: dialogs (alert/confirm) and uncaught exceptions."""

    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        def on_dialog(dialog: Dialog) -> None:
            self.dialogs.append(f"{dialog.type}: {dialog.message}")
            dialog.dismiss()

        def on_console(msg: ConsoleMessage) -> None:
            if msg.type == "error":
                self.console.append(msg.text)

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        page.on("console", on_console)

    def assert_clean(self, *, errors: bool = True) -> None:
        assert not self.dialogs, f"the page opened dialogs: {self.dialogs}"
        if errors:
            assert not self.errors, f"uncaught errors in the page: {self.errors}"


@dataclass
class BrowserPage:
    page: Page
    context: BrowserContext
    watch: PageWatch

    def new_page(self) -> Page:
        """A second tab in the same context (same storage), watched like the first."""
        page = self.context.new_page()
        self.watch.attach(page)
        return page


@pytest.fixture(name="tab")
def tab_fixture(browser: Browser) -> Iterator[BrowserPage]:
    """A fresh browser context and page. A dialog is dismissed and recorded (the test fails on it at the
    end); uncaught page errors are recorded too."""
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    watch = PageWatch()
    watch.attach(page)
    try:
        yield BrowserPage(page, context, watch)
    finally:
        context.close()
    assert not watch.dialogs, f"the page opened dialogs: {watch.dialogs}"
    # Dash's renderer logs a callback output to a prop its component lacks; the update is lost, so every
    # browser test fails on one.
    wrong = [m for m in watch.console if "Invalid prop for this component" in m]
    assert not wrong, f"a callback wrote a prop its component does not have: {wrong}"


AppFactory = Callable[..., LiveApp]


@pytest.fixture(name="sqlite_app")
def sqlite_app_fixture(tmp_path: Path) -> Iterator[AppFactory]:
    """`start(worker=True, **settings)`: the real web app (and optionally a worker) on a fresh SQLite file
    under tmp_path, with Settings overrides (e.g. stuck_after_seconds=2). Closed after the test."""
    started: list[LiveApp] = []

    def start(*, worker: bool = True, **settings: Any) -> LiveApp:
        from tests.conftest import sqlite_file  # conftest imports this module

        app = start_live_app(sqlite_file(tmp_path / f"browser-{len(started)}.db"), worker=worker, **settings)
        started.append(app)
        return app

    yield start
    for app in reversed(started):
        app.close()


# ---- page state ----------------------------------------------------------------------------------------
LIVE_STATE = (
    "() => window.tasklensLive ? {status: window.tasklensLive.status, lastSeq: window.tasklensLive.lastSeq, "
    "received: window.tasklensLive.received, flushes: window.tasklensLive.flushes, "
    "reconnects: window.tasklensLive.reconnects} : null"
)


def live_state(page: Page) -> dict[str, Any]:
    state: dict[str, Any] | None = page.evaluate(LIVE_STATE)
    assert state is not None, "assets/live.js did not load (window.tasklensLive is missing)"
    return state


def wait_live(page: Page, timeout_ms: int = TIMEOUT_MS) -> None:
    """Until the page's socket is subscribed (the badge then says live)."""
    page.wait_for_function(
        "() => window.tasklensLive && window.tasklensLive.status === 'live'", timeout=timeout_ms
    )


def open_page(page: Page, url: str) -> None:
    """Navigate, wait for the live socket, and plant a marker that a reload would wipe."""
    page.goto(url)
    wait_live(page)
    page.evaluate("() => { window.__marker = 1; }")


# Dash's own test helper waits on this (dash.testing's wait_for_callbacks): the renderer has hydrated the
# layout and no callback is requested, running or having its answer applied.
CALLBACKS_IDLE = """() => {
    if (!window.store) return false;
    const state = window.store.getState();
    if (!state.appLifecycle || state.appLifecycle !== 'HYDRATED' || state.isLoading) return false;
    const {stored, completed, ...pending} = state.callbacks;
    return Object.values(pending).every(list => list.length === 0);
}"""


def settle(page: Page) -> None:
    """Until the page is drawn: nothing loading (lazy component bundles, callback requests) for the
    browser's half second, and no Dash callback pending. A condition instead of a guessed pause."""
    page.wait_for_load_state("networkidle")
    page.wait_for_function(CALLBACKS_IDLE)


def assert_not_reloaded(page: Page) -> None:
    assert page.evaluate("() => window.__marker") == 1, "the page was reloaded (the marker is gone)"


def wait_seq(page: Page, seq: int, timeout_ms: int = TIMEOUT_MS) -> None:
    """Until the page's socket has received every event up to `seq`."""
    page.wait_for_function(
        "(seq) => window.tasklensLive && window.tasklensLive.lastSeq !== null && window.tasklensLive.lastSeq >= seq",
        arg=seq,
        timeout=timeout_ms,
    )


def eventually(
    probe: Callable[[], T], check: Callable[[T], bool], what: str, page: Page, timeout_ms: int = TIMEOUT_MS
) -> T:
    """Poll `probe` (letting the page run between probes) until `check` accepts its value."""
    deadline = time.monotonic() + timeout_ms / 1000.0
    while True:
        value = probe()
        if check(value):
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout_ms / 1000:g}s waiting for {what}; last value {value!r}"
            )
        page.wait_for_timeout(100)


GRID_ROWS = """(gridId) => {
    let api = null;
    try { api = dash_ag_grid.getApi(gridId); } catch (e) { return null; }
    if (!api) return null;
    const rows = [];
    api.forEachNode(n => { if (n.data) rows.push(n.data); });
    return rows;
}"""


def grid_rows(page: Page, grid_id: str) -> list[dict[str, Any]] | None:
    """The rows the tasks grid has loaded (its infinite row model's cache), or None before it mounts."""
    try:
        rows: list[dict[str, Any]] | None = page.evaluate(GRID_ROWS, grid_id)
    except Error:
        return None
    return rows


def lane_card(page: Page, lane: str, task_id: int) -> Any:
    """The link `#<id>` of a task's card inside one lane of the board."""
    return page.locator(f"#lane-{lane}").get_by_role("link", name=re.compile(rf"^#{task_id}$"))


def badge(page: Page) -> Any:
    """The navbar's connection badge."""
    return page.locator(f"#{ids.STATUS}")


def screenshot(page: Page, name: str) -> None:
    """Saves a full-page PNG under $TASKLENS_SCREENSHOTS when set (for looking at the UI), else nothing."""
    folder = os.environ.get("TASKLENS_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


DASH_IDLE = """() => {
    const s = window.store && window.store.getState();
    if (!s || !s.layout || s.isLoading || document.fonts.status !== 'loaded') return false;
    const cb = s.callbacks || {};
    return ['requested', 'prioritized', 'blocked', 'executing', 'watched', 'executed']
        .every(k => !(cb[k] && cb[k].length));
}"""


def wait_dash_idle(page: Page, timeout_ms: int = TIMEOUT_MS) -> None:
    """Until Dash has drawn the page: its layout is in, no callback is queued or running, fonts are loaded.
    ("networkidle" is only 500 ms without a request: on a busy machine a page can still be mid-draw then.)"""
    page.wait_for_function(DASH_IDLE, timeout=timeout_ms)


# Finite CSS transitions and animations still running (a modal fading in): an infinite one (a spinner) never ends.
MOVING = """() => document.getAnimations().some(
    a => a.playState === 'running' && a.effect && a.effect.getComputedTiming().iterations !== Infinity)"""


def wait_still(page: Page, timeout_ms: int = TIMEOUT_MS) -> None:
    """Until Dash has drawn the page and nothing on it is fading or sliding: what is checked then (colour
    contrast, visibility) is the page as it stays, not a frame of a transition."""
    wait_dash_idle(page, timeout_ms)
    page.wait_for_function(f"() => !({MOVING})()", timeout=timeout_ms)
