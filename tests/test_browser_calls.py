"""Tests: the task page's call tree and message view in Chromium — a trace exported over OTLP while the page
is open grows live (children first, then the root), and a call's messages open in a dialog."""

from __future__ import annotations

import json
import urllib.request

import pytest
from playwright.sync_api import expect

from dashboard import ids
from dashboard.pages import task_detail
from tests.browser import AppFactory, BrowserPage, open_page, wait_live
from tests.otlp_support import now, request
from tests.test_otlp import genai_trace

pytestmark = pytest.mark.slow


def post(url: str, message: object) -> None:
    body = message.SerializeToString()  # type: ignore[attr-defined]
    req = urllib.request.Request(url + "/v1/traces", body, {"Content-Type": "application/x-protobuf"})
    with urllib.request.urlopen(req, timeout=10) as response:
        assert response.status == 200


def test_the_call_tree_grows_live_and_shows_messages(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    app = sqlite_app(worker=False)
    trace, (agent, chat, tool) = genai_trace(now() - 30)
    post(app.url, request("planner-svc", chat, tool))
    with urllib.request.urlopen(f"{app.url}/api/v1/tasks?text={trace.hex()}", timeout=10) as response:
        [found] = json.loads(response.read())["items"]
    page = tab.page
    open_page(page, f"{app.url}/tasks/{found['id']}")
    wait_live(page)
    tree = page.locator(f"#{task_detail.CALLS}")
    expect(tree).to_contain_text("chat gpt-4.1")
    expect(tree).to_contain_text("2.0 s")
    post(app.url, request("planner-svc", agent))  # the root: the task completes, the tree nests
    expect(page.locator(f"#{ids.DETAIL_HEADER}")).to_contain_text("completed")
    expect(tree.locator(".call-row").first).to_contain_text("planner")
    expect(tree.locator(".call-row").first).to_contain_text("5.0 s")
    tree.locator(".call-row", has_text="chat gpt-4.1").get_by_role("button", name="messages").click()
    dialog = page.locator(f"#{task_detail.CALL_MODAL}")
    expect(dialog).to_contain_text("plan the work")
    expect(dialog).to_contain_text("be brief")
    tab.watch.assert_clean()
