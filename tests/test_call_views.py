"""Tests: the task page's call tree, message view and conversation export on SQLite and PostgreSQL — the
page functions called with real services after a trace came in over OTLP, and the pure builders."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from dashboard.components import calltree
from dashboard.pages import task_detail as page
from dashboard.services import Services
from tests.api_support import api_client, call
from tests.otlp_support import now, request
from tests.test_otlp import export, genai_trace


@pytest.fixture
def client(svc: Services) -> FlaskClient:
    return api_client(svc)


def test_tree_messages_and_markdown_of_a_traced_task(client: FlaskClient, svc: Services) -> None:
    trace, (agent, chat, tool) = genai_trace(now() - 60)
    export(client, request("planner-svc", agent, chat, tool))
    [found] = call(client, "GET", f"/tasks?text={trace.hex()}")["items"]
    tid = found["id"]
    tree = str(page.call_panel(svc, None, tid, None))
    # nested under the agent, in start order, with the spans' own durations
    assert tree.index("planner") < tree.index("chat gpt-4.1") < tree.index("read_file")
    assert "2.0 s" in tree and "250 ms" in tree and "5.0 s" in tree and "1,200 / 300" in tree
    view, is_open = page.open_call(svc, f"t{tid}-{chat.span_id.hex()}")
    text = str(view)
    assert is_open and "plan the work" in text and "be brief" in text and "read_file" in text
    markdown = page.conversation(svc, tid)
    assert markdown["filename"] == f"task-{tid}-conversation.md"
    body = markdown["content"]
    assert body.startswith(f"# Task {tid}: planner")
    assert "**user:**\n\nplan the work" in body and '"p": "a"' in body and "**Result:**\n\ncontents" in body


def test_long_text_is_folded_and_json_formatted() -> None:
    view = calltree.message_view(
        {
            "id": "c",
            "kind": "tool",
            "name": "t",
            "model": "",
            "duration_s": 1.5,
            "error": None,
            "prompt": None,
            "response": None,
            "messages": {
                "input": [{"role": "user", "content": "x" * 5000}],
                "output": [],
                "arguments": {"a": 1},
            },
        }
    )
    text = str(view)
    assert "5,000 characters: show all" in text and '"a": 1' in text and "1.5 s" in text
    assert "No calls recorded." in str(calltree.tree_table([]))


def test_search_within_the_task_keeps_the_matches_and_the_calls_above_them(
    client: FlaskClient, svc: Services
) -> None:
    trace, (agent, chat, tool) = genai_trace(now() - 60)
    export(client, request("planner-svc", agent, chat, tool))
    [found] = call(client, "GET", f"/tasks?text={trace.hex()}")["items"]
    tid = found["id"]
    hit = str(page.call_panel(svc, None, tid, None, search="PLAN THE"))  # in the chat's messages, any case
    assert "chat gpt-4.1" in hit and "planner" in hit and "read_file" not in hit and "table-warning" in hit
    assert "contents" not in hit
    tool_hit = str(page.call_panel(svc, None, tid, None, search="contents"))  # a tool's result
    assert "read_file" in tool_hit and "chat gpt-4.1" not in tool_hit
    assert "No call of this task mentions" in str(page.call_panel(svc, None, tid, None, search="zebra"))
