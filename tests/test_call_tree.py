"""Tests: the call tree through POST /api/v1/events on SQLite and PostgreSQL — calls with a kind and a
parent, a whole call in one `call` event with its own times, input/output and messages (packed, compressed
when large), a child reported before its parent, and a replayed batch stored once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from dashboard.services import Services
from db.core.engine import Database
from db.core.models import Invocation
from db.write.messages import pack, unpack
from tests.api_support import api_client, call, ev


@pytest.fixture
def client(svc: Services) -> FlaskClient:
    return api_client(svc)


def at(seconds: float) -> str:
    return (T0 + timedelta(seconds=seconds)).isoformat()


T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)


def calls_batch() -> list[dict[str, Any]]:
    long_answer = "The plan is to read the files and summarise them. " * 60  # ~3 KB
    return [
        ev("task", "1", title="tree"),
        ev("transition", "2", to="running", worker="agent-a", at=at(0)),
        # the child first, as exporters send them: its parent is reported further down
        ev(
            "call",
            "3",
            id="tool-1",
            kind="tool",
            name="read_file",
            parent_id="agent-1",
            started_at=at(1),
            ended_at=at(1.25),
            input={"path": "README.md"},
            output="# TaskLens",
        ),
        ev(
            "call",
            "4",
            id="llm-1",
            kind="llm",
            parent_id="agent-1",
            model="gpt-4.1",
            started_at=at(2),
            ended_at=at(4),
            input_tokens=1000,
            output_tokens=200,
            input_messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "plan?"}],
            output_messages=[{"role": "assistant", "content": long_answer}],
        ),
        ev("call", "5", id="agent-1", kind="agent", name="planner", started_at=at(0.5), ended_at=at(5)),
        ev("transition", "6", to="completed", at=at(5.5)),
    ]


def test_a_whole_call_in_one_event_keeps_its_times_kind_parent_and_messages(
    client: FlaskClient, db: Database
) -> None:
    out = call(client, "POST", "/events", {"events": calls_batch()})
    tid = out["tasks"][0]["task_id"]
    llm = call(client, "GET", f"/invocations/t{tid}a1-llm-1")
    assert (llm["kind"], llm["parent_id"], llm["status"]) == ("llm", f"t{tid}a1-agent-1", "completed")
    took = datetime.fromisoformat(llm["completed_at"]) - datetime.fromisoformat(llm["started_at"])
    assert took == timedelta(seconds=2)
    assert [m["role"] for m in llm["messages"]["input"]] == ["system", "user"]
    assert llm["messages"]["output"][0]["content"].startswith("The plan is")
    assert llm["provider"] == "openai" and llm["cost_usd"] > 0
    tool = call(client, "GET", f"/invocations/t{tid}a1-tool-1")
    assert (tool["kind"], tool["name"], tool["messages"]["arguments"], tool["messages"]["result"]) == (
        "tool",
        "read_file",
        {"path": "README.md"},
        "# TaskLens",
    )
    task = call(client, "GET", f"/tasks/{tid}")
    assert (task["invocation_count"], task["input_tokens"]) == (3, 1000)
    with db.reading() as session:
        blob = session.scalar(select(Invocation.messages).where(Invocation.id == f"t{tid}a1-llm-1"))
    assert blob is not None and blob[:1] == b"z" and len(blob) < 1000  # ~3 KB of text, compressed


def test_a_replayed_batch_stores_each_call_once(client: FlaskClient) -> None:
    first = call(client, "POST", "/events", {"events": calls_batch()})
    again = call(client, "POST", "/events", {"events": calls_batch()})
    assert (again["recorded"], again["duplicates"], again["events_written"]) == (0, 6, 0)
    task = call(client, "GET", f"/tasks/{first['tasks'][0]['task_id']}")
    assert task["invocation_count"] == 3


def test_a_call_ending_before_it_started_is_refused_by_field(client: FlaskClient) -> None:
    bad = [ev("task", "1", title="t"), ev("call", "2", id="c", started_at=at(2), ended_at=at(1))]
    err = call(client, "POST", "/events", {"events": bad}, status=422)["error"]
    assert err["details"]["field"] == "events[1].ended_at"


def test_messages_pack_small_plainly_and_large_compressed() -> None:
    small = {"input": [{"role": "user", "content": "hi"}], "output": []}
    assert pack(small) == b'j{"input":[{"role":"user","content":"hi"}],"output":[]}'
    assert unpack(pack(small)) == small and pack({"input": [], "output": []}) is None
    large = {"input": [{"role": "user", "content": "word " * 2000}], "output": []}
    blob = pack(large)
    assert blob is not None and blob[:1] == b"z" and len(blob) < 200 and unpack(blob) == large


def test_the_tree_the_call_and_latency_apis(client: FlaskClient) -> None:
    out = call(client, "POST", "/events", {"events": calls_batch()})
    tid = out["tasks"][0]["task_id"]
    tree = call(client, "GET", f"/tasks/{tid}/calls")
    assert tree["count"] == 3
    [agent] = tree["calls"]
    assert (agent["kind"], agent["name"], agent["duration_s"]) == ("agent", "planner", 4.5)
    assert [(c["kind"], c["duration_s"]) for c in agent["children"]] == [("tool", 0.25), ("llm", 2.0)]
    detail = call(client, "GET", f"/calls/t{tid}a1-llm-1")
    assert detail["duration_s"] == 2.0 and detail["messages"]["input"][1]["content"] == "plan?"
    call(client, "GET", "/calls/nope", status=404)
    call(client, "GET", "/tasks/999999/calls", status=404)
    by_model = call(client, "GET", "/latency?by=model&range=24h")["rows"]
    assert {r["key"]: (r["calls"], r["p50_s"], r["p99_s"]) for r in by_model}["gpt-4.1"] == (1, 2.0, 2.0)
    [tool] = call(client, "GET", "/latency?by=tool&range=24h")["rows"]
    assert (tool["key"], tool["p95_s"]) == ("read_file", 0.25)
    call(client, "GET", "/latency?by=colour", status=400)


def test_a_child_whose_parent_is_not_reported_yet_stands_at_the_top() -> None:
    from db.read.calls.tree import nest

    rows: list[dict[str, Any]] = [
        {"id": "a", "parent_id": None},
        {"id": "b", "parent_id": "missing"},
        {"id": "c", "parent_id": "a"},
    ]
    forest = nest(rows)
    assert [(n["id"], [c["id"] for c in n["children"]]) for n in forest] == [("a", ["c"]), ("b", [])]


def test_a_task_named_before_its_task_event_is_created_and_described_later(client: FlaskClient) -> None:
    first = call(
        client,
        "POST",
        "/events",
        {
            "events": [
                ev("transition", "2", "late-run", to="running", worker="agent-z", at=at(1)),
                ev(
                    "call",
                    "3",
                    "late-run",
                    id="c1",
                    kind="llm",
                    model="gpt-4.1",
                    started_at=at(2),
                    ended_at=at(3),
                ),
            ]
        },
    )
    [state] = first["tasks"]
    assert state["created"] and state["status"] == "running"
    task = call(client, "GET", f"/tasks/{state['task_id']}")
    assert (task["title"], task["tags"]) == ("late-run", [])  # a stand-in until described
    second = call(
        client,
        "POST",
        "/events",
        {
            "events": [
                ev("task", "1", "late-run", title="The late run", tags=["late"], payload={"a": 1}, at=at(0))
            ]
        },
    )
    assert second["tasks"][0]["created"] is False
    task = call(client, "GET", f"/tasks/{state['task_id']}")
    assert (task["title"], task["tags"], task["payload"], task["invocation_count"]) == (
        "The late run",
        ["late"],
        {"a": 1},
        1,
    )
    assert task["created_at"].startswith(at(0)[:19])
    again = call(client, "POST", "/events", {"events": [ev("task", "9", "late-run", title="Renamed?")]})
    assert again["recorded"] == 1
    assert call(client, "GET", f"/tasks/{state['task_id']}")["title"] == "The late run"  # described once
    tagged = call(client, "GET", "/tasks?tag=late")["items"]
    assert [t["id"] for t in tagged] == [state["task_id"]]


def test_a_call_ended_before_its_start_was_reported_is_filled_in_later(client: FlaskClient) -> None:
    """Across batches and within one: the end (with usage) creates a stand-in call; its start fills it in."""
    base = [ev("task", "1", title="t"), ev("transition", "2", to="running", at=at(0))]
    end = ev("invocation.completed", "4", id="c1", output_tokens=7, response="done", at=at(3))
    out = call(client, "POST", "/events", {"events": [*base, end]})
    tid = out["tasks"][0]["task_id"]
    stand_in = call(client, "GET", f"/calls/t{tid}a1-c1")
    assert (stand_in["status"], stand_in["output_tokens"], stand_in["response"]) == ("completed", 7, "done")
    start = ev("invocation.started", "3", id="c1", model="gpt-4.1", role="coder", kind="llm", at=at(1))
    call(client, "POST", "/events", {"events": [start]})
    filled = call(client, "GET", f"/calls/t{tid}a1-c1")
    assert (filled["model"], filled["role"], filled["duration_s"], filled["output_tokens"]) == (
        "gpt-4.1",
        "coder",
        2.0,
        7,
    )
    again = ev("invocation.started", "5", id="c1", at=at(1))
    assert (
        call(client, "POST", "/events", {"events": [again]}, status=409)["error"]["code"]
        == "duplicate_invocation"
    )
    # within one batch: usage and end first, then the start
    batch = [
        ev("usage", "6", invocation_id="c2", input_tokens=10, at=at(4)),
        ev("invocation.failed", "7", id="c2", error="boom", at=at(6)),
        ev("invocation.started", "8", id="c2", kind="tool", name="grep", at=at(5)),
    ]
    call(client, "POST", "/events", {"events": batch})
    c2 = call(client, "GET", f"/calls/t{tid}a1-c2")
    assert (c2["kind"], c2["name"], c2["status"], c2["error"], c2["duration_s"]) == (
        "tool",
        "grep",
        "failed",
        "boom",
        1.0,
    )
    assert call(client, "GET", f"/tasks/{tid}")["invocation_count"] == 2


def test_full_text_search_finds_tasks_by_their_messages(client: FlaskClient) -> None:
    out = call(client, "POST", "/events", {"events": calls_batch()})
    tid = out["tasks"][0]["task_id"]
    other = [
        ev("task", "1", "other", title="other"),
        ev(
            "call",
            "2",
            "other",
            id="x",
            started_at=at(1),
            ended_at=at(2),
            input_messages=[
                {"role": "system", "content": "secret system words"},
                {"role": "user", "content": "Zebra?"},
            ],
        ),
    ]
    other_id = call(client, "POST", "/events", {"events": other})["tasks"][0]["task_id"]
    hits = call(client, "GET", "/search?q=plan+SUMMARISE")["items"]  # the assistant's text, any case
    assert [(h["task_id"], h["calls"]) for h in hits] == [(tid, [f"t{tid}a1-llm-1"])]
    assert [h["task_id"] for h in call(client, "GET", "/search?q=zebra")["items"]] == [other_id]
    assert call(client, "GET", "/search?q=secret")["items"] == []  # system prompts are not indexed
    assert call(client, "GET", '/search?q="AND OR* NEAR(')["items"] == []  # no query syntax from users
    call(client, "GET", "/search", status=400)
