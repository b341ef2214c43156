"""Tests: the dashboard's CSV downloads (GET /export/<table>.csv) on SQLite and PostgreSQL — each table's file
read back by Python's csv module and by pandas to the same rows, equal to what its page shows for the same
filters; spreadsheet-formula neutralising, unicode, header, ISO times, streaming; 400 and 404 answers."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import pytest
from flask.testing import FlaskClient
from sqlalchemy import insert

from dashboard import ids
from dashboard.components.download import EXPORT_PREFIX
from dashboard.components.fmt import missing
from dashboard.exports import BOM, TABLES
from dashboard.pages import agents as agents_page
from dashboard.pages import audit as audit_page
from dashboard.pages import budgets as budgets_page
from dashboard.pages import costs as costs_page
from dashboard.pages import database as database_page
from dashboard.pages import overview as overview_page
from dashboard.pages import reports as reports_page
from dashboard.pages import task_detail, tasks
from dashboard.server import create_app
from dashboard.services import Services
from db.analytics import agents, costs
from db.core.engine import Database
from db.core.models import Worker
from db.core.timeutil import iso, utcnow
from db.domain.ops import ActivityLine, TaskSpec
from db.domain.states import TaskKind, TaskStatus
from db.read import csv_rows as exports
from db.read.scope import parse_scope
from db.read.tasks import history
from db.write.writes import apply_ops, insert_tasks
from reports.csvsafe import row as safe_row
from tests.builders import make_task

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
HOSTILE = ("=1+1", "+cmd", "-2", "@SUM(A1)")


def now_s() -> datetime:
    """Now in whole seconds: the builders add whole seconds, so every stored time prints exactly in ms."""
    return utcnow().replace(microsecond=0)


@pytest.fixture
def client(svc: Services) -> FlaskClient:
    test_client: FlaskClient = create_app(svc).server.test_client()
    return test_client


def download(client: FlaskClient, path: str) -> tuple[list[str], list[dict[str, str]]]:
    """A 200 CSV, read by the csv module and by pandas (both as text), which must agree: header and rows."""
    response = client.get(path)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.is_streamed
    raw = response.get_data()
    assert raw.startswith(BOM) and not raw.startswith(BOM + BOM)
    by_csv = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    frame = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False, encoding="utf-8")
    assert [list(frame.columns), *frame.to_numpy().tolist()] == by_csv  # pandas drops the BOM by itself
    header = by_csv[0]
    return header, [dict(zip(header, r, strict=True)) for r in by_csv[1:]]


def error(client: FlaskClient, path: str, status: int) -> dict[str, Any]:
    response = client.get(path)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body: dict[str, Any] = response.get_json()["error"]
    return body


def unneutralised(text: str) -> str:
    """What a reader sees once the leading apostrophe a formula-like cell got is taken away."""
    return text[1:] if text[:1] == "'" and text[1:2] in ("=", "+", "-", "@", "\t", "\r") else text


# ---- tasks ---------------------------------------------------------------------------------------------
@pytest.fixture
def task_ids(svc: Services) -> dict[str, int]:
    db, now = svc.db, now_s()
    return {
        "alpha": make_task(
            db,
            created=now - timedelta(days=3),
            title="alpha report",
            tags=("red",),
            worker="w1",
            calls=(("planner", "gpt-a", 0.25),),
        ),
        "beta": make_task(
            db,
            created=now - timedelta(hours=2),
            status=TaskStatus.FAILED,
            title="beta",
            kind=TaskKind.COMMAND,
            tags=("blue",),
            worker="w2",
        ),
        "queued": make_task(
            db, created=now - timedelta(minutes=30), status=TaskStatus.QUEUED, title="alpha queued"
        ),
        "gamma": make_task(
            db,
            created=now - timedelta(minutes=10),
            status=TaskStatus.RUNNING,
            title="gamma 😀 漢字",
            kind=TaskKind.EXTERNAL,
            worker="w1",
            calls=(("builder", "gpt-b", 1.5),),
        ),
        "delta": make_task(
            db,
            created=now - timedelta(days=5),
            title="delta",
            tags=("red", "blue"),
            calls=(("x", "m", 0.75),),
        ),
    }


# (query string, the page's filter inputs: status, kind, worker, tag, text, range; its sort model)
NO_FILTER = (None, None, None, None, None, None)
GRID_CASES: list[tuple[str, tuple[Any, ...], list[dict[str, str]]]] = [
    ("", NO_FILTER, []),
    ("?sort=id:desc", NO_FILTER, [{"colId": "id", "sort": "desc"}]),
    ("?status=completed&status=failed", (["completed", "failed"], None, None, None, None, None), []),
    ("?kind=demo&sort=created_at", (None, ["demo"], None, None, None, None), [{"colId": "created_at", "sort": "asc"}]),
    ("?worker=w1", (None, None, "w1", None, None, None), []),
    ("?tag=red&sort=cost_usd:desc", (None, None, None, "red", None, None), [{"colId": "cost_usd", "sort": "desc"}]),
    ("?text=alpha&sort=title:asc", (None, None, None, None, "alpha", None), [{"colId": "title", "sort": "asc"}]),
    (
        "?range=24h&sort=status:asc&sort=id:asc",
        (None, None, None, None, None, "24h"),
        [{"colId": "status", "sort": "asc"}, {"colId": "id", "sort": "asc"}],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("query", "filters", "sort_model"), GRID_CASES)
def test_tasks_csv_has_the_grids_rows(
    svc: Services,
    client: FlaskClient,
    task_ids: dict[str, int],
    query: str,
    filters: tuple[Any, ...],
    sort_model: list[dict[str, str]],
) -> None:
    request = {"startRow": 0, "endRow": 1000, "sortModel": sort_model}
    grid = tasks.rows(svc, request, *filters)["rowData"]  # the page's own callback
    header, rows = download(client, "/export/tasks.csv" + query)
    assert tuple(header) == exports.TASK_COLUMNS
    assert [int(r["id"]) for r in rows] == [g["id"] for g in grid] and grid
    for got, shown in zip(rows, grid, strict=True):
        assert unneutralised(got["title"]) == shown["title"]
        assert (got["status"], got["kind"]) == (shown["status"], shown["kind"])
        assert got["worker_id"] == ("" if missing(shown["worker_id"]) else shown["worker_id"])
        assert got["tags"].replace(";", ", ") == shown["tags"]
        assert float(got["cost_usd"]) == pytest.approx(shown["cost_usd"])
        assert (
            ISO.match(got["created_at"]) and got["created_at"][:19].replace("T", " ") == shown["created_at"]
        )


def test_tasks_csv_text_filter_by_id_and_no_rows(client: FlaskClient, task_ids: dict[str, int]) -> None:
    _, rows = download(client, f"/export/tasks.csv?text={task_ids['beta']}")
    assert [int(r["id"]) for r in rows] == [task_ids["beta"]]
    header, rows = download(client, "/export/tasks.csv?tag=nowhere")
    assert tuple(header) == exports.TASK_COLUMNS and rows == []  # a header even when nothing matched


def test_tasks_csv_values(client: FlaskClient, task_ids: dict[str, int], svc: Services) -> None:
    _, rows = download(client, "/export/tasks.csv?sort=id:asc")
    by_id = {int(r["id"]): r for r in rows}
    gamma = by_id[task_ids["gamma"]]
    assert gamma["title"] == "gamma 😀 漢字"  # unicode round-trips
    assert gamma["completed_at"] == "" and gamma["status"] == "running"
    delta = by_id[task_ids["delta"]]
    assert delta["tags"] == "red;blue" and float(delta["processing_s"]) == pytest.approx(60.0)
    assert (delta["invocation_count"], delta["input_tokens"], delta["output_tokens"]) == ("1", "100", "10")
    with svc.db.reading() as session:
        from db.read.tasks.detail import task_record

        task = task_record(session, task_ids["delta"])
        assert task is not None
        assert delta["created_at"] == iso(task.created_at) and delta["started_at"] == iso(task.started_at)
    for r in rows:  # every time is ISO 8601 UTC with milliseconds and a Z
        for column in ("created_at", "started_at", "completed_at"):
            assert r[column] == "" or ISO.match(r[column]), (column, r[column])


# ---- formula injection, kept readable ------------------------------------------------------------------
def test_formula_cells_are_inert_but_readable(svc: Services, client: FlaskClient) -> None:
    now = now_s()
    with svc.db.writing() as session:
        specs = [TaskSpec(title=t, kind=TaskKind.DEMO, created_by=t) for t in HOSTILE]
        specs.append(TaskSpec(title="number", kind=TaskKind.DEMO, priority=-2, created_by="\tTabbed"))
        specs.append(TaskSpec(title="plain 😀", kind=TaskKind.DEMO, created_by="\rCarriage"))
        made = insert_tasks(session, specs, actor="test", now=now)
    _, rows = download(client, "/export/tasks.csv?sort=id:asc")
    got = {int(r["id"]): r for r in rows}
    for task_id, text in zip(made, HOSTILE, strict=False):
        assert got[task_id]["title"] == "'" + text and got[task_id]["created_by"] == "'" + text
        assert unneutralised(got[task_id]["title"]) == text  # one apostrophe away from what was written
    number, plain = got[made[4]], got[made[5]]
    assert number["priority"] == "-2"  # a negative number stays a number
    assert number["created_by"] == "'\tTabbed" and plain["created_by"] == "'\rCarriage"
    assert plain["title"] == "plain 😀"
    # pandas reads the number columns as numbers, the neutralised text as text
    raw = client.get("/export/tasks.csv?sort=id:asc").get_data()
    frame = pd.read_csv(io.BytesIO(raw))
    assert frame["priority"].dtype.kind == "i" and frame["priority"].min() == -2
    assert safe_row(["-2", -2, -2.5, "-2.5"]) == ["'-2", -2, -2.5, "'-2.5"]  # text vs numbers


# ---- a task's invocations and activity -----------------------------------------------------------------
def test_invocations_and_activity_csv_match_the_task_page(svc: Services, client: FlaskClient) -> None:
    now = now_s()
    calls = (("planner", "gpt-a", 0.25), ("builder", "=cmd|' /C calc'!A0", 1.5), ("tester", "gpt-b", 0.0))
    tid = make_task(svc.db, created=now - timedelta(hours=1), status=TaskStatus.RUNNING, calls=calls)
    other = make_task(svc.db, created=now - timedelta(hours=1), calls=(("planner", "gpt-a", 9.0),))
    lines = ["reading the repo", "-rf /", "@here 漢字 😀", "=SUM(A1:A9)"]
    with svc.db.writing() as session:
        for n, message in enumerate(lines):
            apply_ops(session, tid, [ActivityLine(message)], actor="t", now=now - timedelta(minutes=30 - n))

    header, rows = download(client, f"/export/invocations.csv?task={tid}")
    assert tuple(header) == exports.INVOCATION_COLUMNS
    with svc.db.reading() as session:
        page = history.invocations(session, tid)
        activity = history.latest_activity(session, tid, limit=10_000)
    assert [r["id"] for r in rows] == list(page["id"]) and len(rows) == 3
    for got, shown in zip(rows, page.itertuples(), strict=True):
        assert int(got["task_id"]) == tid and got["role"] == shown.role
        assert unneutralised(got["model"]) == shown.model
        assert got["started_at"] == iso(shown.started_at) and got["status"] == shown.status
        assert float(got["cost_usd"]) == pytest.approx(shown.cost_usd)
        assert int(got["input_tokens"]) == shown.input_tokens
    assert rows[1]["model"] == "'=cmd|' /C calc'!A0"

    header, rows = download(client, f"/export/activity.csv?task={tid}")
    assert tuple(header) == exports.ACTIVITY_COLUMNS
    assert [int(r["id"]) for r in rows] == list(activity["id"])
    assert [unneutralised(r["message"]) for r in rows] == list(activity["message"])
    assert [r["message"] for r in rows if r["message"] in ("'-rf /", "'@here 漢字 😀", "'=SUM(A1:A9)")]
    assert all(ISO.match(r["at"]) for r in rows) and rows[0]["at"] == iso(activity["at"][0].to_pydatetime())
    assert {int(r["task_id"]) for r in rows} == {tid}
    _, none = download(client, f"/export/activity.csv?task={other}")
    assert none == []


# ---- costs and agents: the pages' tables for the same scope --------------------------------------------
@pytest.fixture
def spend(svc: Services) -> dict[str, int]:
    now = now_s()
    return {
        "a": make_task(
            svc.db,
            created=now - timedelta(hours=3),
            title="=expensive",
            tags=("red",),
            calls=(("planner", "gpt-a", 2.5), ("builder", "gpt-b", 0.1)),
        ),
        "b": make_task(
            svc.db,
            created=now - timedelta(days=2),
            kind=TaskKind.COMMAND,
            tags=("blue",),
            calls=(("planner", "gpt-a", 0.3),),
        ),
        "c": make_task(svc.db, created=now - timedelta(days=20), calls=(("reviewer", "claude", 7.0),)),
    }


SCOPES = [
    "?range=7d",
    "?range=24h",
    "?range=30d&model=gpt-a",
    "?range=30d&tag=red&tag=blue",
    "?range=7d&kind=command",
]


@pytest.mark.parametrize("query", SCOPES)
def test_costs_csvs_match_the_costs_page(
    svc: Services, client: FlaskClient, spend: dict[str, int], query: str
) -> None:
    scope = parse_scope(query, utcnow())
    with svc.db.reading() as session:
        by_dim = {dim: costs.breakdown(session, scope, dim) for dim in ("model", "tag", "created_by")}
        top_tasks = costs.top_tasks(session, scope)
        top_calls = costs.top_invocations(session, scope)
    for dim, frame in by_dim.items():
        header, rows = download(client, f"/export/costs-breakdown.csv{query}&dim={dim}")
        assert header == [dim, "cost_usd", "input_tokens", "output_tokens", "cache_read_tokens", "calls"]
        assert [r[dim] for r in rows] == [("" if k is None else str(k)) for k in frame["key"]]
        assert [float(r["cost_usd"]) for r in rows] == pytest.approx(list(frame["cost"]))
        assert [int(r["calls"]) for r in rows] == list(frame["calls"])
    header, rows = download(client, f"/export/costs-top-tasks.csv{query}")
    assert header == ["task_id", "title", "status", "kind", "cost_usd", "calls"]
    assert [int(r["task_id"]) for r in rows] == list(top_tasks["task_id"])
    assert [unneutralised(r["title"]) for r in rows] == list(top_tasks["title"])
    assert [float(r["cost_usd"]) for r in rows] == pytest.approx(list(top_tasks["cost"]))
    header, rows = download(client, f"/export/costs-top-calls.csv{query}")
    assert header == ["id", "task_id", "role", "model", "input_tokens", "output_tokens", "cost_usd"]
    assert [r["id"] for r in rows] == list(top_calls["id"])
    assert [float(r["cost_usd"]) for r in rows] == pytest.approx(list(top_calls["cost"]))


def test_costs_defaults_and_limit(client: FlaskClient, spend: dict[str, int]) -> None:
    header, rows = download(client, "/export/costs-breakdown.csv")  # the page's defaults: 7 days, by model
    assert header[0] == "model" and [r["model"] for r in rows] == ["gpt-a", "gpt-b"]
    _, rows = download(client, "/export/costs-top-calls.csv?range=30d&limit=2")
    assert [float(r["cost_usd"]) for r in rows] == [7.0, 2.5]
    _, rows = download(client, "/export/costs-top-tasks.csv?range=30d")
    assert rows[1]["title"] == "'=expensive"


def add_worker(
    db: Database, wid: str, *, status: str, started: datetime, seen: datetime, **extra: Any
) -> None:
    values = {"name": wid, "host": "h", "pid": 1, "concurrency": 2, "running_count": 0, "stopped_at": None}
    values.update(extra)
    with db.writing() as s:
        s.execute(
            insert(Worker).values(id=wid, status=status, started_at=started, last_seen_at=seen, **values)
        )


@pytest.mark.parametrize("query", ["?range=24h", "?range=7d&worker=w1", "?range=7d&role=planner"])
def test_agents_csvs_match_the_agents_page(
    svc: Services, client: FlaskClient, spend: dict[str, int], query: str
) -> None:
    now = now_s()
    add_worker(svc.db, "w1", status="online", started=now - timedelta(hours=5), seen=now, name="+w1 😀")
    add_worker(
        svc.db,
        "w2",
        status="offline",
        started=now - timedelta(hours=20),
        seen=now - timedelta(hours=10),
        stopped_at=now - timedelta(hours=10),
    )
    at = utcnow()
    scope = parse_scope(query, at)
    with svc.db.reading() as session:
        fleet = agents.fleet(session, scope, at)
        roles = agents.roles(session, scope)
    header, rows = download(client, f"/export/agents-fleet.csv{query}")
    assert header == list(agents.FLEET_COLUMNS)
    assert [r["id"] for r in rows] == list(fleet["id"]) and rows
    for got, shown in zip(rows, fleet.itertuples(), strict=True):
        assert unneutralised(got["name"]) == shown.name and got["status"] == shown.status
        assert (int(got["done"]), int(got["failed"])) == (shown.done, shown.failed)
        assert got["started_at"] == iso(shown.started_at) and got["last_seen_at"] == iso(shown.last_seen_at)
        assert got["stopped_at"] == ("" if pd.isna(shown.stopped_at) else iso(shown.stopped_at))
        if shown.status == "offline":  # a live worker's uptime moves on between the two reads
            assert float(got["uptime_s"]) == pytest.approx(shown.uptime_s)
    if "w1" in list(fleet["id"]):
        assert rows[0]["name"] == "'+w1 😀"
    header, rows = download(client, f"/export/agents-roles.csv{query}")
    assert header == [c if c != "cost" else "cost_usd" for c in agents.ROLE_COLUMNS]
    assert [r["role"] for r in rows] == list(roles["role"])
    assert [int(r["calls"]) for r in rows] == list(roles["calls"])
    assert [float(r["cost_usd"]) for r in rows] == pytest.approx(list(roles["cost"]))
    assert [r["p95_s"] != "" for r in rows] == [not pd.isna(v) for v in roles["p95_s"]]


# ---- the response --------------------------------------------------------------------------------------
def test_response_headers_and_streaming(svc: Services, client: FlaskClient) -> None:
    now = now_s()
    with svc.db.writing() as session:  # more rows than one chunk of csv_chunks holds
        insert_tasks(
            session, [TaskSpec(title=f"t{n}", kind=TaskKind.DEMO) for n in range(4_500)], actor="t", now=now
        )
    response = client.get("/export/tasks.csv?sort=id:asc")
    day = utcnow().date().isoformat()
    assert response.headers["Content-Disposition"] == f'attachment; filename="tasklens-tasks-{day}.csv"'
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    pieces = list(response.iter_encoded())  # what the server writes, one piece at a time
    assert pieces[0].startswith(BOM + b"id,title,") and len(pieces) >= 3
    body = b"".join(pieces).decode("utf-8-sig")
    assert body.count("\n") == 4_501 and body.splitlines()[-1].startswith("4500,t4499,")
    # A client that leaves early: the stream is closed and the next request reads normally.
    early = client.get("/export/tasks.csv")
    first = next(early.iter_encoded())
    early.close()
    assert first.startswith(BOM) and client.get("/export/activity.csv?task=1").status_code == 200
    names = {
        "/export/invocations.csv?task=1": "tasklens-task-1-invocations",
        "/export/costs-breakdown.csv?dim=tag": "tasklens-costs-by-tag",
        "/export/costs-top-calls.csv": "tasklens-costs-top-calls",
        "/export/agents-roles.csv": "tasklens-agents-roles",
    }
    for path, stem in names.items():
        disposition = client.get(path).headers["Content-Disposition"]
        assert disposition == f'attachment; filename="{stem}-{day}.csv"'


BAD: list[tuple[str, str]] = [
    ("/export/tasks.csv?stauts=failed", "stauts"),
    ("/export/tasks.csv?status=done", "status"),
    ("/export/tasks.csv?kind=shell", "kind"),
    ("/export/tasks.csv?range=2d", "range"),
    ("/export/tasks.csv?sort=nope:asc", "sort"),
    ("/export/tasks.csv?sort=tags", "sort"),
    ("/export/tasks.csv?sort=id:up", "sort"),
    ("/export/tasks.csv?worker=a&worker=b", "worker"),
    ("/export/invocations.csv", "task"),
    ("/export/activity.csv?task=abc", "task"),
    ("/export/activity.csv?task=0", "task"),
    ("/export/activity.csv?task=1&status=failed", "status"),
    ("/export/costs-breakdown.csv?range=1y", "range"),
    ("/export/costs-breakdown.csv?from=yesterday", "from"),
    ("/export/costs-breakdown.csv?from=2026-11-02&to=2026-11-01", "to"),
    ("/export/costs-breakdown.csv?dim=colour", "dim"),
    ("/export/costs-top-tasks.csv?limit=0", "limit"),
    ("/export/costs-top-calls.csv?limit=ten", "limit"),
    ("/export/agents-fleet.csv?limit=5", "limit"),
    ("/export/agents-roles.csv?range=7d&modle=x", "modle"),
]


@pytest.mark.parametrize(("path", "parameter"), BAD)
def test_bad_parameters_are_400_naming_the_parameter(client: FlaskClient, path: str, parameter: str) -> None:
    body = error(client, path, 400)
    assert body["code"] == "bad_parameter" and body["details"] == {"parameter": parameter}
    assert f"'{parameter}'" in body["message"]


def test_unknown_tables_and_tasks_are_404(client: FlaskClient) -> None:
    body = error(client, "/export/secrets.csv", 404)
    assert body["code"] == "not_found" and "tasks" in body["details"]["tables"]
    assert "'secrets'" in body["message"]
    assert error(client, "/export/tasks", 404)["code"] == "not_found"
    assert error(client, "/export/tasks.json", 404)["code"] == "not_found"
    missing = error(client, "/export/invocations.csv?task=99999", 404)
    assert missing["message"] == "no task #99999" and missing["details"] == {"task": 99999}


# ---- the pages link here -------------------------------------------------------------------------------
def _links(component: Any) -> dict[str, str]:
    """id -> href of every download link in a layout."""
    found: dict[str, str] = {}
    stack = [component]
    while stack:
        node = stack.pop()
        if isinstance(node, list | tuple):
            stack.extend(node)
            continue
        ident = getattr(node, "id", None)
        if isinstance(ident, str) and ident in EXPORT_IDS:
            found[node.id] = node.href
        children = getattr(node, "children", None)
        if children is not None:
            stack.append(children)
        for attr in ("header", "label"):
            if hasattr(node, attr) and not isinstance(getattr(node, attr), str):
                stack.append(getattr(node, attr))
    return found


EXPORT_IDS = {value for name, value in vars(ids).items() if name.startswith("EXPORT_")}


def test_every_table_has_a_download_link_to_a_known_table() -> None:
    layouts = [
        tasks.layout(),
        task_detail.layout(task_id="7"),
        costs_page.layout(range="30d"),
        agents_page.layout(),
        overview_page.layout(),
        database_page.layout(),
        budgets_page.layout(),
        reports_page.layout(),
        audit_page.layout(),
    ]
    links: dict[str, str] = {}
    for layout in layouts:
        links.update(_links(layout))
    assert set(links) == EXPORT_IDS
    for href in links.values():
        assert href.startswith(EXPORT_PREFIX) and href.split("?")[0][len(EXPORT_PREFIX) : -4] in TABLES
    assert links[ids.EXPORT_INVOCATIONS] == "/export/invocations.csv?task=7"
    assert links[ids.EXPORT_ACTIVITY] == "/export/activity.csv?task=7"


def test_a_failing_query_is_a_500_before_any_byte(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise RuntimeError("database went away")
        yield  # a generator, as the real stream is: it fails on its first row

    monkeypatch.setattr(exports, "iter_tasks", broken)
    body = error(client, "/export/tasks.csv", 500)
    assert body["code"] == "internal" and "database went away" not in body["message"]
    assert "CSV export of tasks failed" in caplog.text
