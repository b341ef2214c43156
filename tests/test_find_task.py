"""Tests: finding a task by what people paste — `123`, `#123`, the task's address, its external id — in the tasks
grid, `/export/tasks.csv?text=`, `/api/v1/tasks?text=` and the navbar's jump box (SQLite and PostgreSQL); the
tasks page's filters and sort live in its URL, so a view can be bookmarked and shared (Chromium)."""

from __future__ import annotations

import csv
import io
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from playwright.sync_api import expect

from dashboard import ids
from dashboard.services import Services
from db.domain.ops import TaskSpec, Transition
from db.domain.states import TaskKind, TaskStatus
from db.write.recorder import Recorder
from tests.api_support import api_client
from tests.browser import AppFactory, BrowserPage, eventually, grid_rows, open_page, wait_live


def _tasks(recorder: Recorder) -> dict[str, int]:
    made = {}
    for title, external_id in (("alpha", None), ("beta", "run-2026-12-03-7f3a"), ("gamma 98", None)):
        made[title] = recorder.submit(
            TaskSpec(title=title, kind=TaskKind.EXTERNAL, external_id=external_id), actor="test"
        )
    return made


@pytest.mark.parametrize(
    "shape",
    [
        "{id}",
        "#{id}",
        "# {id}",
        "http://127.0.0.1:8050/tasks/{id}",
        "/tasks/{id}?x=1",
        "https://tl.example/tasks/{id}/",
    ],
)
def test_a_task_is_found_by_its_id_however_written(svc: Services, shape: str) -> None:
    made = _tasks(svc.recorder)
    client = api_client(svc)
    wanted = made["beta"]
    text = shape.format(id=wanted)
    body = client.get(f"/api/v1/tasks?text={quote(text)}").get_json()
    assert [t["id"] for t in body["items"]] == [wanted], body
    rows = list(
        csv.DictReader(
            io.StringIO(client.get(f"/export/tasks.csv?text={quote(text)}").data.decode("utf-8-sig"))
        )
    )
    assert [int(r["id"]) for r in rows] == [wanted]


def test_external_id_and_text_still_match(svc: Services) -> None:
    made = _tasks(svc.recorder)
    client = api_client(svc)
    body = client.get("/api/v1/tasks?text=run-2026-12-03-7f3a").get_json()
    assert [t["id"] for t in body["items"]] == [made["beta"]]
    body = client.get("/api/v1/tasks?text=gam").get_json()
    assert [t["id"] for t in body["items"]] == [made["gamma 98"]]
    # Digits match an id and titles holding them.
    body = client.get("/api/v1/tasks?text=98").get_json()
    assert [t["id"] for t in body["items"]] == [made["gamma 98"]]
    body = client.get("/api/v1/tasks?text=%2399999999999999999999").get_json()  # past BIGINT: no id, no error
    assert body["items"] == []


def test_jump_box_goes_to_the_task_or_searches(svc: Services) -> None:
    import dash

    from dashboard.server import jump_target

    made = _tasks(svc.recorder)
    assert jump_target(svc, f"#{made['alpha']}") == f"/tasks/{made['alpha']}"
    assert jump_target(svc, f"http://x/tasks/{made['gamma 98']}") == f"/tasks/{made['gamma 98']}"
    assert jump_target(svc, " run-2026-12-03-7f3a ") == f"/tasks/{made['beta']}"
    assert jump_target(svc, "#424242") == "/tasks?text=%23424242"  # no such task: the table says so
    assert jump_target(svc, "flaky tests") == "/tasks?text=flaky+tests"
    with pytest.raises(dash.exceptions.PreventUpdate):
        jump_target(svc, "   ")


# ---- in the browser ------------------------------------------------------------------------------------------
def _shown(page: Any) -> list[int]:
    return sorted(int(r["id"]) for r in grid_rows(page, ids.GRID) or [])


@pytest.mark.slow
def test_jump_box_on_every_page_opens_the_task(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    app = sqlite_app(worker=False)
    made = _tasks(app.recorder)
    page = tab.page
    open_page(page, app.url + "/costs")
    box = page.locator(f"#{ids.JUMP}")
    box.fill("run-2026-12-03-7f3a")
    box.press("Enter")
    page.wait_for_url(f"**/tasks/{made['beta']}")
    expect(page.locator(f"#{ids.DETAIL_HEADER}")).to_contain_text("beta")
    box.fill(f"#{made['alpha']}")
    box.press("Enter")
    page.wait_for_url(f"**/tasks/{made['alpha']}")
    expect(page.locator(f"#{ids.DETAIL_HEADER}")).to_contain_text("alpha")
    tab.watch.assert_clean()


@pytest.mark.slow
def test_tasks_view_lives_in_the_url(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    """Filters and sort chosen on the page are written into its address; opening that address (a bookmark, a
    shared link) shows the same view."""
    app = sqlite_app(worker=False)
    made = _tasks(app.recorder)
    app.recorder.record(made["alpha"], Transition(TaskStatus.RUNNING), actor="test")
    app.recorder.record(made["alpha"], Transition(TaskStatus.FAILED, error="x"), actor="test")
    page = tab.page
    open_page(page, app.url + "/tasks")
    eventually(lambda: _shown(page), lambda v: v == sorted(made.values()), "every row", page)
    page.fill(f"#{ids.F_TEXT}", f"#{made['alpha']}")
    page.press(f"#{ids.F_TEXT}", "Enter")
    eventually(lambda: _shown(page), lambda v: v == [made["alpha"]], "the #id row", page)
    page.locator(f"#{ids.GRID} .ag-header-cell[col-id='title']").click()  # sort by title, ascending
    eventually(
        lambda: parse_qs(urlsplit(page.url).query),
        lambda q: q.get("text") == [f"#{made['alpha']}"] and q.get("sort") == ["title:asc"],
        "the address to carry the view",
        page,
    )
    shared = page.url
    wait_live(page)

    other = tab.page.context.new_page()
    try:
        open_page(other, shared)
        eventually(lambda: _shown(other), lambda v: v == [made["alpha"]], "the shared view's rows", other)
        expect(other.locator(f"#{ids.F_TEXT}")).to_have_value(f"#{made['alpha']}")
        sorted_header = other.locator(f"#{ids.GRID} .ag-header-cell[col-id='title'][aria-sort='ascending']")
        expect(sorted_header).to_have_count(1)
        # A status in the address is chosen in the dropdown too.
        open_page(other, app.url + "/tasks?status=failed&status=bogus")
        eventually(lambda: _shown(other), lambda v: v == [made["alpha"]], "the failed row", other)
        expect(other.locator(f"#{ids.F_STATUS}")).to_contain_text("failed")
    finally:
        other.close()
    tab.watch.assert_clean()
