"""Tests: the Schedules page in Chromium with access control on — an operator creates a schedule through the
dialog (a bad cron is shown at its field and nothing is stored), edits it, and sees a change made elsewhere
without a reload; a viewer is refused and nothing is stored."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from dashboard.components import schedule_form as form
from dashboard.pages import schedules
from db.access.tokens import create_token
from db.control import task_schedules
from db.core.timeutil import utcnow
from db.domain.states import TaskKind
from tests.browser import TIMEOUT_MS, VIEWPORT, AppFactory, PageWatch, assert_not_reloaded, open_page
from tests.liveserver import LiveApp

pytestmark = pytest.mark.slow


def stored(app: LiveApp) -> list[dict[str, Any]]:
    with app.db.reading() as session:
        return task_schedules.list_all(session)


def signed_in(browser: Browser, app: LiveApp, secret: str) -> tuple[Page, PageWatch]:
    """A new browser context signed in with the token, on /schedules, live."""
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    watch = PageWatch()
    watch.attach(page)
    page.goto(f"{app.url}/login?next=/schedules")
    page.fill("#token", secret)
    page.click("#sign-in")
    page.wait_for_url(f"{app.url}/schedules")
    open_page(page, f"{app.url}/schedules")
    return page, watch


def field(page: Page, key: str) -> Any:
    return page.locator(f"#{form.FIELDS[key]}")


def test_create_edit_live_and_viewer_refused(sqlite_app: AppFactory, browser: Browser) -> None:
    app = sqlite_app(worker=False, auth="on", secret_key="test-only-session-key")
    with app.db.writing() as session:
        _, operator = create_token(session, "ops", "operator", utcnow())
        _, viewer = create_token(session, "looker", "viewer", utcnow())
    page, watch = signed_in(browser, app, operator)
    expect(page.locator(f"#{schedules.SCHEDULES_TABLE}")).to_contain_text("No schedules yet")

    # A bad cron expression: named at its field, the dialog stays open, nothing stored.
    page.click(f"#{schedules.NEW}")
    expect(page.locator(f"#{form.MODAL}")).to_be_visible()
    field(page, "title").fill("nightly build")
    field(page, "command").fill("make all")
    field(page, "tags").fill("ci")
    field(page, "cron").fill("61 2 * * *")
    field(page, "timezone").fill("Europe/Berlin")
    page.click(f"#{form.SAVE}")
    expect(page.locator(f"#{form.feedback_id('cron')}")).to_contain_text("not a valid cron expression")
    expect(field(page, "cron")).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(page.locator(f"#{form.ALERT}")).to_contain_text("Nothing was saved")
    assert stored(app) == []

    field(page, "cron").fill("0 2 * * *")
    page.click(f"#{form.SAVE}")
    expect(page.locator(f"#{form.MODAL}")).to_be_hidden()
    table = page.locator(f"#{schedules.SCHEDULES_TABLE}")
    expect(table).to_contain_text("nightly build")
    expect(table).to_contain_text("cron 0 2 * * * (Europe/Berlin)")
    (row,) = stored(app)
    assert (
        row["payload"] == {"command": "make all"}
        and row["tags"] == ["ci"]
        and row["created_by"] == "token:ops"
    )

    # Edit: the dialog opens with the stored values; the change is saved and shown.
    page.locator(f"#{schedules.SCHEDULES_TABLE} button", has_text="Edit").click()
    expect(field(page, "title")).to_have_value("nightly build")
    expect(field(page, "cron")).to_have_value("0 2 * * *")
    field(page, "cron").fill("30 3 * * 1-5")
    page.click(f"#{form.SAVE}")
    expect(page.locator(f"#{form.MODAL}")).to_be_hidden()
    expect(table).to_contain_text("cron 30 3 * * 1-5 (Europe/Berlin)")

    # A change made elsewhere (the CLI, the API, another browser) shows without a reload.
    with app.recorder.transaction() as session:
        task_schedules.set_enabled(session, row["id"], False, utcnow(), "cli")
    expect(table).to_contain_text("paused")
    assert_not_reloaded(page)
    watch.assert_clean()
    # Dash says so in the console when a callback writes a prop the component lacks (the kind's radio items
    # were once marked `invalid`).
    assert not [m for m in watch.console if "Invalid prop" in m], watch.console

    # A viewer may look but not change: refused in the dialog, nothing stored.
    look, look_watch = signed_in(browser, app, viewer)
    expect(look.locator(f"#{schedules.SCHEDULES_TABLE}")).to_contain_text("nightly build")
    look.click(f"#{schedules.NEW}")
    field(look, "title").fill("sneaky")
    field(look, "command").fill("true")
    look.click(f"#{form.SAVE}")
    expect(look.locator(f"#{form.ALERT}")).to_contain_text("operator")
    look.click(f"#{form.CANCEL}")
    look.locator(f"#{schedules.SCHEDULES_TABLE} button", has_text="Resume").click()
    expect(look.locator(f"#{schedules.RESULT}")).to_contain_text("operator")
    assert [r["name"] for r in stored(app)] == ["nightly build"] and not stored(app)[0]["enabled"]
    look_watch.assert_clean()


def test_open_page_is_live(sqlite_app: AppFactory, browser: Browser) -> None:
    """Without access control: pause, resume and remove (with its confirmation) from the row's buttons."""
    app = sqlite_app(worker=False)
    with app.recorder.transaction() as session:
        task_schedules.create(
            session,
            task_schedules.ScheduleSpec(
                name="beat",
                title="heartbeat",
                kind=TaskKind.COMMAND,
                payload={"command": "true"},
                interval_seconds=60,
            ),
            utcnow(),
        )
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        open_page(page, app.url + "/schedules")
        table = page.locator(f"#{schedules.SCHEDULES_TABLE}")
        expect(table).to_contain_text("every 60 s")
        table.locator("button", has_text="Pause").click()
        expect(page.locator(f"#{schedules.RESULT}")).to_contain_text("paused")
        expect(table.locator("button", has_text="Resume")).to_be_visible()
        table.locator("button", has_text="Remove").click()
        expect(page.locator(f"#{schedules.CONFIRM}")).to_contain_text("The tasks it made stay")
        page.click(f"#{schedules.CONFIRM_YES}")
        expect(table).to_contain_text("No schedules yet")
        assert stored(app) == []
    finally:
        context.close()
