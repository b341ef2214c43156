"""Tests: the REST API's tasks on SQLite and PostgreSQL through the real dashboard app — create, list (filters,
sorts, cursor pages that walk every row once while tasks are inserted), one task, cancel, retry, delete (its
rollup hours rebuilt), timeline, activity, invocations, and every refusal as a JSON error that names the
field or parameter, with nothing stored."""

from __future__ import annotations

import base64
import threading
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from dashboard.services import Services
from db.analytics import rollups
from db.core.engine import Database
from db.core.models import CreatedHourly, EventsHourly, TaskHourly, UsageHourly
from db.core.timeutil import utcnow
from db.domain.ops import ActivityLine, InvocationFinished, InvocationStarted, TaskSpec, Transition
from db.domain.states import TaskKind, TaskStatus
from db.write.recorder import Recorder
from tests.api_support import API, api_client, call, row_counts
from tests.builders import make_task


@pytest.fixture
def client(svc: Services) -> FlaskClient:
    return api_client(svc)


def create(client: FlaskClient, **fields: Any) -> dict[str, Any]:
    body = {"title": "build it", "kind": "demo", **fields}
    out: dict[str, Any] = call(client, "POST", "/tasks", body, status=201)
    return out


def ids_of(page: dict[str, Any]) -> list[int]:
    return [t["id"] for t in page["items"]]


def test_create_then_get_and_list(client: FlaskClient) -> None:
    response = client.post(
        API + "/tasks",
        json={
            "title": "  Fix the flaky test ",
            "kind": "command",
            "payload": {"command": "make test"},
            "priority": 5,
            "tags": ["ci", "ci", "backend"],
            "created_by": "alice",
            "max_attempts": 3,
            "max_iterations": 4,
            "timeout_seconds": 60,
            "external_id": "ci-42",
        },
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    task = response.get_json()
    assert response.headers["Location"] == f"{API}/tasks/{task['id']}"
    assert task["title"] == "Fix the flaky test"  # the CLI's TaskSpec rules: trimmed, tags deduplicated
    assert task["tags"] == ["ci", "backend"]
    assert (task["status"], task["attempt"], task["max_attempts"], task["kind"]) == (
        "queued",
        1,
        3,
        "command",
    )
    assert task["payload"] == {"command": "make test"} and task["external_id"] == "ci-42"
    assert task["created_at"].endswith("Z") and task["update_count"] == 1 and task["event_count"] == 1
    assert call(client, "GET", f"/tasks/{task['id']}") == task
    page = call(client, "GET", "/tasks")
    assert ids_of(page) == [task["id"]] and page["next_cursor"] is None and page["limit"] == 50
    assert "payload" not in page["items"][0]  # the list is the table's columns; details are one GET away


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "demo"}, "title"),
        ({"title": "x", "kind": "demo", "priority": "5"}, "priority"),  # no "5" for 5
        ({"title": "x", "kind": "demo", "priority": 5000}, "priority"),
        ({"title": "x", "kind": "rocket"}, "kind"),
        ({"title": "   ", "kind": "demo"}, "title"),
        ({"title": "x", "kind": "command"}, "payload.command"),
        ({"title": "x", "kind": "python", "payload": {"callable": "nodots"}}, "payload.callable"),
        ({"title": "x", "kind": "demo", "tags": "ci"}, "tags"),
        ({"title": "x", "kind": "demo", "colour": "red"}, "colour"),
        ({"title": "x", "kind": "demo", "max_attempts": 0}, "max_attempts"),
    ],
)
def test_create_rejects_bad_fields_naming_them(
    client: FlaskClient, db: Database, body: Any, field: str
) -> None:
    before = row_counts(db)
    error = call(client, "POST", "/tasks", body, status=422)["error"]
    assert error["code"] == "validation_error" and error["details"]["field"] == field, error
    assert field in error["message"]
    assert row_counts(db) == before


def test_create_refuses_bad_bodies(client: FlaskClient, db: Database) -> None:
    before = row_counts(db)
    bad_json = call(
        client, "POST", "/tasks", data='{"title": "x",', content_type="application/json", status=400
    )
    assert bad_json["error"]["code"] == "malformed_json"
    assert call(client, "POST", "/tasks", data="", content_type="application/json", status=400)
    wrong_type = call(client, "POST", "/tasks", data="title=x", content_type="text/plain", status=415)
    assert wrong_type["error"]["code"] == "unsupported_media_type"
    assert call(client, "POST", "/tasks", data="[1, 2]", content_type="application/json", status=422)
    huge = {"title": "x", "kind": "demo", "payload": {"blob": "x" * 1_100_000}}
    assert call(client, "POST", "/tasks", huge, status=413)["error"]["code"] == "payload_too_large"
    create(client, external_id="k1")
    duplicate = call(
        client, "POST", "/tasks", {"title": "y", "kind": "demo", "external_id": "k1"}, status=409
    )
    assert duplicate["error"]["details"]["field"] == "external_id"
    after = row_counts(db)
    assert after["tasks"] == before["tasks"] + 1  # only the one good task


def test_list_filters(client: FlaskClient, db: Database, recorder: Recorder) -> None:
    now = utcnow()
    old = make_task(db, created=now - timedelta(days=3), status=TaskStatus.FAILED, tags=("red",), worker="w2")
    done = make_task(db, created=now - timedelta(hours=2), kind=TaskKind.COMMAND, title="compile kernel")
    running = make_task(db, created=now - timedelta(hours=1), status=TaskStatus.RUNNING, tags=("red", "blue"))
    queued = recorder.submit(TaskSpec(title="by bob", kind=TaskKind.DEMO, created_by="bob"))

    def listed(query: str) -> list[int]:
        return ids_of(call(client, "GET", "/tasks?" + query))

    assert listed("") == [queued, running, done, old]
    assert listed("status=failed") == [old]
    assert listed("status=failed,running") == listed("status=failed&status=running") == [running, old]
    assert listed("kind=command") == [done]
    assert listed("tag=red") == [running, old]
    assert listed("worker=w2") == [old]
    assert listed("created_by=bob") == [queued]
    assert listed("text=kernel") == [done] and listed(f"text={old}") == [old]
    since = (now - timedelta(hours=3)).isoformat()
    assert listed(f"created_from={since}Z".replace("+", "%2B")) == [queued, running, done]
    assert listed(f"created_to={since}") == [old]
    assert listed("sort=id") == sorted([old, done, running, queued])
    assert listed("sort=-id&limit=2") == [queued, running]


def test_list_sorts_by_each_whitelisted_key(client: FlaskClient, db: Database) -> None:
    now = utcnow()
    made = [
        make_task(db, created=now - timedelta(minutes=n), calls=(("r", "m", 0.1 * (n % 3)),))
        for n in range(9)
    ]
    for sort in ("id", "created_at", "last_updated_at", "priority", "cost_usd"):
        for prefix in ("", "-"):
            seen, cursor = [], None
            while True:
                page = call(
                    client,
                    "GET",
                    f"/tasks?sort={prefix}{sort}&limit=4" + (f"&cursor={cursor}" if cursor else ""),
                )
                seen += page["items"]
                cursor = page["next_cursor"]
                if cursor is None:
                    break
            keys = [(t[sort], t["id"]) for t in seen]
            assert keys == sorted(keys, reverse=prefix == "-"), (sort, prefix)
            assert sorted(t["id"] for t in seen) == sorted(made)


@pytest.mark.parametrize("sort", ["-created_at", "created_at"])
def test_cursor_walks_every_row_once_while_tasks_are_inserted(
    client: FlaskClient, recorder: Recorder, sort: str
) -> None:
    existing = set(recorder.submit_many([TaskSpec(title=f"t{n}", kind=TaskKind.DEMO) for n in range(60)]))
    stop = threading.Event()
    inserted: list[int] = []

    def insert_meanwhile() -> None:
        while not stop.is_set():
            inserted.append(recorder.submit(TaskSpec(title="late", kind=TaskKind.DEMO)))
            stop.wait(0.002)

    writer = threading.Thread(target=insert_meanwhile)
    writer.start()
    try:
        seen: list[int] = []
        cursor = None
        for _ in range(1000):
            page = call(
                client, "GET", f"/tasks?sort={sort}&limit=7" + (f"&cursor={cursor}" if cursor else "")
            )
            seen += ids_of(page)
            cursor = page["next_cursor"]
            if cursor is None or (sort == "created_at" and existing <= set(seen)):
                break
    finally:
        stop.set()
        writer.join()
    assert inserted, "the writer inserted nothing while the pages were read"
    assert len(seen) == len(set(seen)), "a row was served twice"
    assert existing <= set(seen), "a row that existed before the walk was skipped"
    assert set(seen) <= existing | set(inserted)


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("colour=red", "colour"),
        ("status=lost", "status"),
        ("kind=rocket", "kind"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("limit=ten", "limit"),
        ("sort=title", "sort"),
        ("tag=a&tag=b", "tag"),
        ("created_from=yesterday", "created_from"),
        ("cursor=not-a-cursor!", "cursor"),
        ("cursor=" + base64.urlsafe_b64encode(b'{"s":"id","d":"asc","v":1,"i":1}').decode(), "cursor"),
        (
            "cursor=" + base64.urlsafe_b64encode(b'{"s":"created_at","d":"desc","v":5,"i":1}').decode(),
            "cursor",
        ),
        (
            "cursor=" + base64.urlsafe_b64encode(b'{"s":"created_at","d":"desc","v":"x","i":-1}').decode(),
            "cursor",
        ),
    ],
)
def test_list_rejects_bad_parameters(client: FlaskClient, query: str, parameter: str) -> None:
    error = call(client, "GET", "/tasks?" + query, status=400)["error"]
    assert error["code"] == "bad_parameter" and error["details"]["parameter"] == parameter, error


def test_cancel_retry_and_delete(client: FlaskClient, db: Database, recorder: Recorder) -> None:
    task = create(client)["id"]
    assert call(client, "POST", f"/tasks/{task}/cancel")["status"] == "cancelled"
    conflict = call(client, "POST", f"/tasks/{task}/cancel", status=409)["error"]
    assert conflict["code"] == "illegal_transition" and conflict["details"]["task_status"] == "cancelled"
    retried = call(client, "POST", f"/tasks/{task}/retry")
    assert (retried["status"], retried["attempt"]) == ("queued", 2)
    assert call(client, "POST", f"/tasks/{task}/retry", status=409)["error"]["code"] == "illegal_transition"
    assert call(client, "DELETE", f"/tasks/{task}", status=409)["error"]["details"]["task_status"] == "queued"
    running = create(client)["id"]
    recorder.record(running, Transition(TaskStatus.RUNNING, worker_id="w"))
    flagged = call(client, "POST", f"/tasks/{running}/cancel")
    assert (flagged["status"], flagged["cancel_requested"]) == ("running", True)
    call(client, "POST", f"/tasks/{task}/cancel")
    before = row_counts(db)
    assert call(client, "DELETE", f"/tasks/{task}", status=204) is None
    after = row_counts(db)
    assert after["tasks"] == before["tasks"] - 1 and after["task_events"] < before["task_events"]
    for method, path in (
        ("GET", f"/tasks/{task}"),
        ("POST", f"/tasks/{task}/cancel"),
        ("DELETE", f"/tasks/{task}"),
    ):
        assert call(client, method, path, status=404)["error"]["details"]["task_id"] == task
    for path in ("/tasks/abc", "/tasks/0", "/tasks/99999999999999999999", "/nowhere", "/tasks/1/nothing"):
        assert call(client, "GET", path, status=404)["error"]["code"] == "not_found"
    response = client.put(f"{API}/tasks/{running}")
    assert response.status_code == 405 and response.get_json()["error"]["code"] == "method_not_allowed"
    assert set(response.headers["Allow"].split(", ")) == {"GET", "DELETE"}
    assert call(client, "PATCH", "/tasks", status=405)["error"]["details"]["allowed"] == ["GET", "POST"]
    assert (
        call(client, "GET", f"/tasks/{running}?verbose=1", status=400)["error"]["details"]["parameter"]
        == "verbose"
    )


def rollup_rows(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    out = {}
    with db.reading() as s:
        for model, cols in (
            (UsageHourly, ("hour", "model", "role", "calls", "cost_usd")),
            (TaskHourly, ("hour", "kind", "status", "tasks")),
            (CreatedHourly, ("hour", "kind", "status", "tasks")),
            (EventsHourly, ("hour", "events")),
        ):
            table = model.__table__
            rows = s.execute(select(*(table.c[c] for c in cols))).all()
            out[model.__tablename__] = sorted((tuple(r) for r in rows), key=repr)
    return out


def test_delete_rebuilds_the_rollup_hours_the_task_counted_in(client: FlaskClient, db: Database) -> None:
    now = utcnow()
    keep = make_task(db, created=now - timedelta(days=2), calls=(("planner", "gpt-4.1", 0.5),))
    gone = make_task(db, created=now - timedelta(days=2, minutes=5), calls=(("builder", "gpt-4.1", 2.0),))
    with db.writing() as s:
        rollups.refresh(s, now)
    with_both = rollup_rows(db)
    call(client, "DELETE", f"/tasks/{gone}", status=204)
    after_delete = rollup_rows(db)
    assert after_delete != with_both
    with db.writing() as s:
        rollups.rebuild(s, None)  # what a full rebuild of the remaining rows gives
    assert rollup_rows(db) == after_delete
    assert [r[1:3] for r in after_delete["usage_hourly"]] == [("gpt-4.1", "planner")]
    assert call(client, "GET", f"/tasks/{keep}")["id"] == keep


def test_timeline_activity_and_invocation(client: FlaskClient, recorder: Recorder) -> None:
    task = create(client)["id"]
    recorder.record(task, Transition(TaskStatus.RUNNING, worker_id="w9"))
    recorder.record(task, InvocationStarted("inv-1", role="tester", provider="p", model="m"))
    recorder.record(task, *[ActivityLine(f"line {n}", invocation_id="inv-1") for n in range(5)])
    recorder.record(task, InvocationFinished("inv-1", ok=False, error="bad"))
    events = call(client, "GET", f"/tasks/{task}/timeline")
    types = [e["type"] for e in events["items"]]
    assert types == ["task.created", "task.transition", "invocation.started"] + ["activity"] * 5 + [
        "invocation.failed"
    ]
    seqs = [e["seq"] for e in events["items"]]
    assert seqs == sorted(seqs) and events["next_after"] is None
    running = events["items"][1]
    assert (running["from"], running["to"], running["worker_id"]) == ("queued", "running", "w9")
    first = call(client, "GET", f"/tasks/{task}/timeline?limit=4")
    rest = call(client, "GET", f"/tasks/{task}/timeline?after={first['next_after']}")
    assert [e["seq"] for e in first["items"] + rest["items"]] == seqs
    lines = call(client, "GET", f"/tasks/{task}/activity?limit=3")
    more = call(client, "GET", f"/tasks/{task}/activity?after={lines['next_after']}&limit=3")
    assert [a["message"] for a in lines["items"] + more["items"]] == [f"line {n}" for n in range(5)]
    assert more["next_after"] is None
    inv = call(client, "GET", "/invocations/inv-1")
    assert (inv["status"], inv["error"], inv["role"], inv["task_id"]) == ("failed", "bad", "tester", task)
    assert [a["message"] for a in inv["activity"]] == [f"line {n}" for n in range(5)]
    assert inv["activity_truncated"] is False
    assert call(client, "GET", "/invocations/nope", status=404)["error"]["details"]["invocation_id"] == "nope"
    for path in ("/tasks/424242/timeline", "/tasks/424242/activity"):
        call(client, "GET", path, status=404)
    assert (
        call(client, "GET", f"/tasks/{task}/timeline?after=-1", status=400)["error"]["details"]["parameter"]
        == "after"
    )
