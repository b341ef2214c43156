"""Tests: POST /api/v1/events on SQLite and PostgreSQL — an external agent's whole task life, a replayed
batch recorded once, a bad item anywhere rejecting the whole batch (every table's row count unchanged) with
the item's index and field named, the batch limits, attempts, cancellation handed back to the agent, and the
cost taken from the price table."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from dashboard.api.event_schemas import MAX_EVENTS
from dashboard.services import Services
from db.core.engine import Database
from db.core.models import Invocation, Task
from db.domain.pricing import cost_of
from db.domain.states import TaskStatus
from tests.api_support import API, agent_life, api_client, call, ev, row_counts


@pytest.fixture
def client(svc: Services) -> FlaskClient:
    return api_client(svc)


def post(client: FlaskClient, events: list[dict[str, Any]], status: int = 200) -> Any:
    return call(client, "POST", "/events", {"events": events}, status=status)


def test_an_agent_reports_a_whole_task_life(client: FlaskClient, db: Database) -> None:
    out = post(client, agent_life())
    assert (out["recorded"], out["duplicates"]) == (8, 0)
    assert out["events_written"] == 9  # a call ended with tokens is two events: its usage and its end
    [state] = out["tasks"]
    assert (state["external_id"], state["status"], state["created"], state["attempt"]) == (
        "run-1",
        "completed",
        True,
        1,
    )
    task = call(client, "GET", f"/tasks/{state['task_id']}")
    assert (task["kind"], task["status"], task["title"], task["tags"]) == (
        "external",
        "completed",
        "agent run-1",
        ["ext", "api"],
    )
    assert (task["current_iteration"], task["max_iterations"], task["progress"]) == (2, 2, 100.0)
    assert task["result"] == {"files": 3} and task["worker_id"] == "agent-7"
    assert (task["invocation_count"], task["activity_count"], task["input_tokens"]) == (1, 1, 1000)
    assert task["cost_usd"] == pytest.approx(cost_of("gpt-4.1", 1000, 500))
    inv = call(client, "GET", f"/invocations/t{state['task_id']}a1-c1")
    assert (inv["provider"], inv["status"], inv["response"], inv["output_tokens"]) == (
        "openai",
        "completed",
        "plan",
        500,
    )
    assert [a["message"] for a in inv["activity"]] == ["read_file README.md"]
    timeline = call(client, "GET", f"/tasks/{state['task_id']}/timeline")["items"]
    assert [e["type"] for e in timeline] == [
        "task.created",
        "task.transition",
        "task.progress",
        "invocation.started",
        "activity",
        "usage",
        "invocation.completed",
        "task.progress",
        "task.transition",
    ]


def test_usage_of_a_call_started_in_an_earlier_batch_is_priced_from_its_model(
    client: FlaskClient, db: Database
) -> None:
    """The curl walk-through in the README reports a call's start and its end in different batches; the end
    carries tokens but no model or cost, so the price comes from the model stored with the call."""
    post(
        client,
        [ev("task", "1", "run-9", title="split batches"), ev("transition", "2", "run-9", to="running")],
    )
    post(client, [ev("invocation.started", "3", "run-9", id="c1", role="planner", model="gpt-4.1")])
    out = post(
        client, [ev("invocation.completed", "4", "run-9", id="c1", input_tokens=1200, output_tokens=300)]
    )
    task_id = out["tasks"][0]["task_id"]
    expected = cost_of("gpt-4.1", 1200, 300)
    assert expected > 0
    inv = call(client, "GET", f"/invocations/t{task_id}a1-c1")
    assert (inv["model"], inv["input_tokens"]) == ("gpt-4.1", 1200)
    assert inv["cost_usd"] == pytest.approx(expected)
    assert call(client, "GET", f"/tasks/{task_id}")["cost_usd"] == pytest.approx(expected)
    # A cost the agent states is kept as stated.
    post(client, [ev("invocation.started", "5", "run-9", id="c2", role="tester", model="gpt-4.1")])
    post(client, [ev("invocation.completed", "6", "run-9", id="c2", input_tokens=10, cost_usd=0.5)])
    assert call(client, "GET", f"/invocations/t{task_id}a1-c2")["cost_usd"] == pytest.approx(0.5)


def test_a_replayed_batch_is_recorded_once(client: FlaskClient, db: Database) -> None:
    first = post(client, agent_life("run-9"))
    after_first = row_counts(db)
    again = post(client, agent_life("run-9"))
    assert (again["recorded"], again["duplicates"], again["events_written"]) == (0, 8, 0)
    assert again["tasks"][0]["task_id"] == first["tasks"][0]["task_id"] and not again["tasks"][0]["created"]
    assert row_counts(db) == after_first
    # A batch that repeats some events and adds others records only the new ones.
    mixed = [
        *agent_life("run-9")[-2:],
        ev("transition", "9", "run-9", to="queued"),
        ev("progress", "10", "run-9", iteration=1),
    ]
    out = post(client, mixed)
    assert (out["recorded"], out["duplicates"]) == (2, 2)
    assert (out["tasks"][0]["status"], out["tasks"][0]["attempt"]) == ("queued", 2)
    # Event ids are per task: another task may use the same ones.
    assert post(client, agent_life("run-10"))["recorded"] == 8


def test_nul_characters_are_refused_in_ids_and_stored_in_text(client: FlaskClient, db: Database) -> None:
    """NUL (U+0000): in an id (matched as stored; PostgreSQL cannot store NUL) a 422 naming the field, nothing
    stored; in text (titles, messages, results, filters) accepted — PostgreSQL keeps U+FFFD in its place,
    SQLite the NUL — and the task reads back, replays as duplicates and is found by a filter."""
    for field_name, event in [
        ("event_id", ev("task", "e\x001", "run-n", title="t")),
        ("external_id", ev("task", "1", "run\x00n", title="t")),
        ("id", ev("invocation.started", "2", "run-n", id="c\x001")),
    ]:
        before = row_counts(db)
        body = post(client, [ev("task", "1", "run-n", title="t"), event], status=422)
        assert body["error"]["details"]["field"] == f"events[1].{field_name}"
        assert "NUL" in body["error"]["message"] and row_counts(db) == before
    life = agent_life("run-n")
    life[0]["title"] = "agent \x00 title"
    life[4]["message"] = "out\x00put"
    life[7]["result"] = {"note": "a\x00b"}
    first = post(client, life)
    again = post(client, life)
    assert (first["recorded"], again["duplicates"]) == (8, 8)
    task_id = first["tasks"][0]["task_id"]
    stored = "\ufffd" if db.is_postgres else "\x00"
    task = call(client, "GET", f"/tasks/{task_id}")
    assert task["title"] == f"agent {stored} title" and task["result"] == {"note": "a\x00b"}
    lines = call(client, "GET", f"/tasks/{task_id}/activity")["items"]
    assert [line["message"] for line in lines] == [f"out{stored}put"]
    found = call(client, "GET", "/tasks", query_string={"text": "agent \x00 title"})["items"]
    assert [t["id"] for t in found] == [task_id]
    created = call(client, "POST", "/tasks", {"title": "a\x00b", "kind": "demo"}, status=201)
    assert created["title"] == f"a{stored}b"
    bad = call(client, "POST", "/tasks", {"title": "t", "kind": "demo", "external_id": "k\x00"}, status=422)
    assert bad["error"]["details"]["field"] == "external_id"


BAD_ITEMS: list[tuple[str, dict[str, Any], int, str, str]] = [
    ("wrong type", ev("progress", "x", percent="half"), 422, "validation_error", "events[{i}].percent"),
    ("unknown event", ev("teleport", "x"), 422, "validation_error", "events[{i}].event"),
    (
        "no event id",
        {"event": "progress", "external_id": "run-1"},
        422,
        "validation_error",
        "events[{i}].event_id",
    ),
    ("two task refs", ev("progress", "x", task_id=1), 422, "validation_error", "events[{i}]"),
    (
        "extra field",
        ev("activity", "x", message="m", colour="red"),
        422,
        "validation_error",
        "events[{i}].colour",
    ),
    ("illegal transition", ev("transition", "x", to="running"), 409, "illegal_transition", "events[{i}].to"),
    (
        "unknown task id",
        {"event": "progress", "event_id": "x", "task_id": 424242},
        404,
        "task_not_found",
        "events[{i}].task_id",
    ),
    (
        "call started twice",
        ev("invocation.started", "x", id="c1"),
        409,
        "duplicate_invocation",
        "events[{i}].id",
    ),
    ("event id twice", ev("progress", "a1"), 422, "duplicate_event_id", "events[{i}].event_id"),
    (
        "bad tag",
        ev("task", "x", "new-key", title="t", tags=["x" * 101]),
        422,
        "validation_error",
        "events[{i}].tags[0]",
    ),
]


@pytest.mark.parametrize(
    ("case", "item", "status", "code", "field"), BAD_ITEMS, ids=[c[0] for c in BAD_ITEMS]
)
def test_a_bad_item_anywhere_rejects_the_whole_batch(
    client: FlaskClient, db: Database, case: str, item: dict[str, Any], status: int, code: str, field: str
) -> None:
    # The task exists and is running with call c1 open, so the good items below are all applicable.
    post(client, agent_life()[:4])
    before = row_counts(db)
    good = [
        ev("activity", "a1", message="before"),
        ev("progress", "3b", iteration=1),
        ev("task", "n1", "fresh", title="new"),
    ]
    batch = [*good, item, ev("activity", "a2", message="after")]
    error = post(client, batch, status=status)["error"]
    assert (error["code"], error["details"]["index"]) == (code, 3), error
    assert error["details"]["field"] == field.format(i=3), error
    assert row_counts(db) == before, "a rejected batch stored something"


def test_a_bad_task_event_of_a_new_task_is_rejected_too(client: FlaskClient, db: Database) -> None:
    before = row_counts(db)
    events = [ev("task", "1", "k", title="ok"), ev("task", "1", "k2", title="t", max_attempts=500)]
    error = post(client, events, status=422)["error"]
    assert error["details"]["field"] == "events[1].max_attempts"
    assert row_counts(db) == before
    # Named before it is described (issue 14: events in any order): created as a stand-in, then described.
    out = post(client, [ev("progress", "1", "k"), ev("task", "2", "k", title="late")])
    assert (
        out["tasks"][0]["created"]
        and call(client, "GET", f"/tasks/{out['tasks'][0]['task_id']}")["title"] == "late"
    )


def test_only_external_tasks_take_events(client: FlaskClient, db: Database) -> None:
    demo = call(client, "POST", "/tasks", {"title": "d", "kind": "demo"}, status=201)["id"]
    error = post(
        client, [{"event": "progress", "event_id": "1", "task_id": demo, "iteration": 1}], status=409
    )
    assert error["error"]["code"] == "not_external"
    ext = call(client, "POST", "/tasks", {"title": "e", "kind": "external"}, status=201)["id"]
    out = post(client, [{"event": "transition", "event_id": "1", "task_id": ext, "to": "running"}])
    assert out["tasks"][0]["status"] == "running" and out["tasks"][0]["external_id"] is None


def test_batch_limits(client: FlaskClient, db: Database) -> None:
    before = row_counts(db)
    too_many = [ev("task", str(n), f"k{n}", title="t") for n in range(MAX_EVENTS + 1)]
    error = post(client, too_many, status=413)["error"]
    assert (error["code"], error["details"]["limit"], error["details"]["count"]) == (
        "too_many_events",
        MAX_EVENTS,
        MAX_EVENTS + 1,
    )
    big = [ev("task", "1", "k", title="t", payload={"blob": "x" * (5 * 1024 * 1024)})]
    assert post(client, big, status=413)["error"]["code"] == "payload_too_large"
    assert (
        call(client, "POST", "/events", data="{", content_type="application/json", status=400)["error"][
            "code"
        ]
        == "malformed_json"
    )
    assert call(client, "POST", "/events", data="{}", content_type="text/plain", status=415)
    assert post(client, [], status=422)["error"]["details"]["field"] == "events"
    assert call(client, "POST", "/events", {"events": agent_life(), "extra": 1}, status=422)
    assert call(client, "POST", "/events?dry_run=1", {"events": agent_life()}, status=400)
    assert call(client, "GET", "/events", status=405)["error"]["details"]["allowed"] == ["POST"]
    assert row_counts(db) == before
    exactly = [ev("task", str(n), f"k{n}", title="t") for n in range(MAX_EVENTS)]
    assert post(client, exactly)["recorded"] == MAX_EVENTS


def test_cancel_is_handed_back_and_attempts_restart_call_ids(client: FlaskClient, db: Database) -> None:
    out = post(client, agent_life()[:4])
    task = out["tasks"][0]["task_id"]
    assert call(client, "POST", f"/tasks/{task}/cancel")["cancel_requested"] is True
    told = post(client, [ev("activity", "a", message="still working")])["tasks"][0]
    assert (told["status"], told["cancel_requested"]) == ("running", True)
    done = post(
        client,
        [ev("invocation.failed", "f", id="c1", error="stopped"), ev("transition", "c", to="cancelled")],
    )
    assert (done["tasks"][0]["status"], done["tasks"][0]["cancel_requested"]) == ("cancelled", False)
    retry = [
        ev("transition", "r", to="queued"),
        ev("transition", "r2", to="running"),
        ev("invocation.started", "s2", id="c1", model="claude-sonnet-4-5"),  # "c1" again: a new attempt
        ev("usage", "u2", invocation_id="c1", input_tokens=100, output_tokens=10, cost_usd=0.25),
        ev("invocation.completed", "e2", id="c1"),
        ev("transition", "x", to="failed", error="tests failed"),
    ]
    state = post(client, retry)["tasks"][0]
    assert (state["status"], state["attempt"]) == ("failed", 2)
    with db.reading() as s:
        calls = dict(
            s.execute(select(Invocation.id, Invocation.cost_usd).where(Invocation.task_id == task)).all()
        )
        row = s.get(Task, task)
        assert row is not None and (row.error_message, row.failure_reason) == ("tests failed", "error")
    assert calls == {f"t{task}a1-c1": 0.0, f"t{task}a2-c1": pytest.approx(0.25)}  # "c1" of each attempt
    failed = call(client, "GET", f"/invocations/t{task}a1-c1")
    assert (failed["status"], failed["error"]) == ("failed", "stopped")


def test_events_reach_the_same_json_as_the_websocket(client: FlaskClient) -> None:
    """What POST /events wrote reads back on the timeline in the websocket's message shape."""
    out = post(client, agent_life("ws"))
    items = call(client, "GET", f"/tasks/{out['tasks'][0]['task_id']}/timeline")["items"]
    usage = next(e for e in items if e["type"] == "usage")
    assert usage["invocation_id"].endswith("-c1") and usage["data"]["model"] == "gpt-4.1"
    assert json.loads(json.dumps(usage)) == usage
    assert TaskStatus(items[-1]["to"]) is TaskStatus.COMPLETED
    assert API.endswith("/v1")
