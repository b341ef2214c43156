"""Tests: the calls list on SQLite and PostgreSQL through the real dashboard app — GET /api/v1/calls (filters,
sorts, cursor pages that walk every row once, a cursor of another list or sort refused naming `cursor`, bad
parameters refused naming the field), /export/calls.csv holding the API's rows through the same filter, the
/calls grid's blocks, the OpenAPI document, and migration 0021's index used for one model's newest calls."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import text

from dashboard.api.openapi import document
from dashboard.pages import calls as calls_page
from dashboard.services import Services
from db.core.engine import Database
from db.core.timeutil import utcnow
from db.domain.ops import CallReported, TaskSpec, Transition
from db.domain.states import CallKind, TaskKind, TaskStatus
from db.write.recorder import Recorder
from tests.api_support import api_client, call

# (id, kind, name, model, cost, minutes ago, ok): two tasks' calls, with ties in cost and a name holding the
# LIKE wildcards % and _ (matched as themselves).
CALLS = (
    ("a1", CallKind.LLM, "", "gpt-4.1", 0.02, 50, True),
    ("a2", CallKind.TOOL, "search_web", "", 0.0, 45, True),
    ("a3", CallKind.LLM, "", "haiku", 0.02, 40, False),
    ("a4", CallKind.TOOL, "100%_done", "", 0.0, 30, True),
    ("b1", CallKind.LLM, "", "gpt-4.1", 0.5, 20, True),
    ("b2", CallKind.AGENT, "planner", "", 0.0, 10, True),
    ("b3", CallKind.LLM, "", "gpt-4.1", 0.1, 60 * 24 * 30, True),  # a month ago: outside range=7d
)


@pytest.fixture
def client(svc: Services) -> FlaskClient:
    return api_client(svc)


@pytest.fixture
def tasks(recorder: Recorder) -> dict[str, int]:
    """Two tasks, a* calls in the first, b* in the second; returns call id -> task id."""
    now = utcnow().replace(microsecond=0)
    owner: dict[str, int] = {}
    for prefix in ("a", "b"):
        task = recorder.submit(TaskSpec(title=f"task {prefix}", kind=TaskKind.EXTERNAL), actor="test")
        recorder.record(task, Transition(TaskStatus.RUNNING), actor="test")
        for cid, kind, name, model, cost, ago, ok in CALLS:
            if cid.startswith(prefix):
                at = now - timedelta(minutes=ago)
                recorder.record(
                    task,
                    CallReported(
                        cid, kind, at, at + timedelta(seconds=2), ok, name, model=model, cost_usd=cost
                    ),
                    actor="test",
                )
                owner[cid] = task
    return owner


def ids(page: dict[str, Any]) -> list[str]:
    return [c["id"] for c in page["items"]]


def walk(client: FlaskClient, query: str, limit: int) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        page = call(client, "GET", f"/calls?{query}&limit={limit}" + (f"&cursor={cursor}" if cursor else ""))
        assert len(page["items"]) <= limit
        seen += ids(page)
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


def test_filters_pick_the_calls_they_name(client: FlaskClient, tasks: dict[str, int]) -> None:
    everything = call(client, "GET", "/calls")
    assert ids(everything) == ["b2", "b1", "a4", "a3", "a2", "a1", "b3"]  # newest first
    first = everything["items"][0]
    assert first["task_id"] == tasks["b2"] and first["kind"] == "agent" and first["started_at"].endswith("Z")
    assert "messages" not in first  # only in GET /calls/{id}
    assert ids(call(client, "GET", f"/calls?task={tasks['a1']}")) == ["a4", "a3", "a2", "a1"]
    assert ids(call(client, "GET", "/calls?kind=tool,agent")) == ["b2", "a4", "a2"]
    assert ids(call(client, "GET", "/calls?model=gpt-4.1")) == ["b1", "a1", "b3"]
    assert ids(call(client, "GET", "/calls?model=gpt")) == []  # model is exact
    assert ids(call(client, "GET", "/calls?name=GPT")) == ["b1", "a1", "b3"]  # name: contains, any case
    assert ids(call(client, "GET", "/calls?name=100%25_")) == ["a4"]  # % and _ as themselves
    assert ids(call(client, "GET", "/calls?name=_")) == ["a4", "a2"]
    assert ids(call(client, "GET", "/calls?status=failed")) == ["a3"]
    assert ids(call(client, "GET", "/calls?min_cost=0.02")) == ["b1", "a3", "a1", "b3"]
    assert ids(call(client, "GET", "/calls?range=7d&kind=llm")) == ["b1", "a3", "a1"]
    since = (utcnow() - timedelta(minutes=35)).isoformat(timespec="seconds")
    assert ids(call(client, "GET", f"/calls?from={since}")) == ["b2", "b1", "a4"]


@pytest.mark.parametrize("sort", ["started_at", "-started_at", "cost_usd", "-cost_usd", "id", "-id"])
def test_cursor_pages_walk_every_row_once_in_the_sorts_order(
    client: FlaskClient, tasks: dict[str, int], sort: str
) -> None:
    whole = ids(call(client, "GET", f"/calls?sort={sort}&limit=500"))
    assert sorted(whole) == sorted(tasks)
    for limit in (1, 2, 3):
        assert walk(client, f"sort={sort}", limit) == whole
    key = sort.lstrip("-")
    rows = {c["id"]: c for c in call(client, "GET", "/calls?limit=500")["items"]}
    pairs = [(rows[i][key], i) for i in whole]
    assert pairs == sorted(pairs, reverse=sort.startswith("-"))  # ties (cost 0.0, 0.02) broken by id
    assert walk(client, f"sort={sort}&model=gpt-4.1", 1) == [
        i for i in whole if rows[i]["model"] == "gpt-4.1"
    ]


def test_a_cursor_of_another_list_or_sort_is_a_400_naming_cursor(
    client: FlaskClient, tasks: dict[str, int]
) -> None:
    task_cursor = call(client, "GET", "/tasks?limit=1")["next_cursor"]
    assert task_cursor is not None
    error = call(client, "GET", f"/calls?cursor={task_cursor}", status=400)["error"]
    assert error["details"]["parameter"] == "cursor" and "another list" in error["message"]
    call_cursor = call(client, "GET", "/calls?limit=1&sort=-cost_usd")["next_cursor"]
    error = call(client, "GET", f"/tasks?cursor={call_cursor}&sort=-cost_usd", status=400)["error"]
    assert error["details"]["parameter"] == "cursor"
    error = call(client, "GET", f"/calls?cursor={call_cursor}&sort=-started_at", status=400)["error"]
    assert error["details"]["parameter"] == "cursor" and "sort" in error["message"]


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("kind=robot", "kind"),
        ("status=done", "status"),
        ("task=0", "task"),
        ("task=abc", "task"),
        ("min_cost=-1", "min_cost"),
        ("min_cost=nan", "min_cost"),
        ("range=2d", "range"),
        ("from=2026-13-01", "from"),
        ("from=2026-11-02&to=2026-11-01", "to"),
        ("sort=prompt", "sort"),
        ("limit=0", "limit"),
        ("cursor=not-a-cursor!", "cursor"),
        ("colour=red", "colour"),
        ("model=a&model=b", "model"),
    ],
)
def test_bad_parameters_are_a_400_naming_the_field(client: FlaskClient, query: str, parameter: str) -> None:
    error = call(client, "GET", f"/calls?{query}", status=400)["error"]
    assert error["code"] == "bad_parameter" and error["details"]["parameter"] == parameter, error
    if parameter not in ("cursor", "limit"):  # the CSV takes the API's filters, with its errors
        response = client.get(f"/export/calls.csv?{query}")
        assert response.status_code == 400, response.get_data(as_text=True)
        assert response.get_json()["error"]["details"]["parameter"] == parameter


def _csv(client: FlaskClient, query: str) -> list[dict[str, str]]:
    response = client.get(f"/export/calls.csv?{query}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True).removeprefix("\ufeff"))))


@pytest.mark.parametrize(
    ("api", "grid"),
    [
        ("", ""),
        ("kind=llm&range=7d", "kind=llm&range=7d"),
        ("name=_&sort=cost_usd", "name=_&sort=cost_usd:asc"),
        ("min_cost=0.01&sort=-cost_usd", "min_cost=0.01&sort=cost_usd:desc"),
    ],
)
def test_the_csv_holds_the_api_rows_in_the_same_order(
    client: FlaskClient, tasks: dict[str, int], api: str, grid: str
) -> None:
    listed = call(client, "GET", f"/calls?{api}&limit=500")["items"]
    rows = _csv(client, grid)
    assert [r["id"] for r in rows] == [c["id"] for c in listed]
    for row, item in zip(rows, listed, strict=True):
        assert int(row["task_id"]) == item["task_id"] and row["model"] == item["model"]
        assert float(row["cost_usd"]) == pytest.approx(item["cost_usd"])
        assert row["started_at"] == item["started_at"]


def test_the_grid_reads_the_same_filter(svc: Services, tasks: dict[str, int]) -> None:
    request = {"startRow": 0, "endRow": 100, "sortModel": [{"colId": "cost_usd", "sort": "desc"}]}
    block = calls_page.rows(svc, request, None, ["llm"], [], "gpt-4.1", None, None, None)
    assert [r["id"] for r in block["rowData"]] == ["b1", "b3", "a1"] and block["rowCount"] == 3
    block = calls_page.rows(svc, request, str(tasks["a1"]), [], [], None, None, None, "0.01")
    assert [r["id"] for r in block["rowData"]] == ["a3", "a1"]  # a tie in cost: the greater id first
    view = calls_page.View.from_query({"task": "7", "kind": ["tool", "robot"], "sort": "cost_usd:asc"})
    assert view.task == 7 and view.kind == ["tool"] and view.sort == [("cost_usd", "asc")]
    assert calls_page.task_href({"rowId": f"{tasks['b1']}/b1"}) == f"/tasks/{tasks['b1']}"


def test_the_openapi_document_has_the_list_and_its_models() -> None:
    spec = document()
    op = spec["paths"]["/calls"]["get"]
    names = {p["name"] for p in op["parameters"]}
    assert {"task", "kind", "status", "model", "name", "min_cost", "range", "from", "to"} <= names
    assert {"sort", "limit", "cursor"} <= names
    assert "400" in op["responses"]
    call_model = spec["components"]["schemas"]["Call"]["properties"]
    assert "messages" not in call_model and "started_at" in call_model
    assert "messages" in spec["components"]["schemas"]["CallDetail"]["properties"]


def _plan(db: Database, model: str) -> str:
    query = "SELECT id FROM invocations WHERE model = :m ORDER BY started_at DESC, id DESC LIMIT 5"
    with db.reading() as session:
        if db.dialect == "sqlite":
            found = session.execute(text("EXPLAIN QUERY PLAN " + query), {"m": model}).all()
            return " ".join(str(r[-1]) for r in found)
        # Seven rows: the planner would rightly scan them; what counts is that the index can serve it.
        session.execute(text("SET LOCAL enable_seqscan = off"))
        return " ".join(str(r[0]) for r in session.execute(text("EXPLAIN " + query), {"m": model}))


def test_one_models_newest_calls_use_the_index_of_migration_0021(db: Database, tasks: dict[str, int]) -> None:
    assert "ix_invocations_model_started" in _plan(db, "gpt-4.1")
