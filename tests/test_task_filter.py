"""Tests (SQLite and PostgreSQL): the task list's one filter object and one time-range vocabulary — `range`
(1h … 90d) or `from`/`to` — read alike by GET /api/v1/tasks and /export/tasks.csv (the same rows for the same
parameters), the API's older names created_from/created_to still working, and every bad range a 400 naming
its parameter (db/read/timerange.RangeError carries it: no answer reads an error's text to find it)."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import update

from dashboard.server import create_app
from dashboard.services import Services
from db.core.engine import Database
from db.core.models import Task
from db.core.timeutil import utcnow
from db.domain.states import TaskStatus
from db.read.scope import ScopeError, parse_scope
from db.read.timerange import CUSTOM, RANGES, RangeError, parse_time, resolve
from tests.api_support import call
from tests.builders import make_task

NOW = datetime(2026, 5, 1, 12, 0)


def test_resolve_reads_range_or_from_to_and_names_the_bad_parameter() -> None:
    assert resolve("24h", None, None, NOW) == resolve(None, None, None, NOW, default="24h")
    assert resolve("24h", None, None, NOW).start == NOW - timedelta(days=1)
    assert resolve(None, None, None, NOW).start is None  # any time
    custom = resolve("7d", NOW - timedelta(days=2), None, NOW)  # from/to win over range
    assert (custom.key, custom.start, custom.end) == (CUSTOM, NOW - timedelta(days=2), None)
    assert set(RANGES) == {"1h", "24h", "7d", "30d", "90d"}
    for call_, parameter in (
        (lambda: resolve("2d", None, None, NOW), "range"),
        (lambda: resolve(None, NOW, NOW, NOW), "to"),
        (lambda: parse_time("from", "yesterday"), "from"),
        (lambda: parse_time("to", "2026-05-01T08:00+02:00"), "to"),
    ):
        with pytest.raises(RangeError) as caught:
            call_()
        assert caught.value.parameter == parameter


def test_the_analytics_scope_speaks_the_same_vocabulary() -> None:
    assert parse_scope("range=90d", NOW).start == NOW - RANGES["90d"]
    for query, parameter in (
        ("range=2d", "range"),
        ("from=x", "from"),
        ("from=2026-05-01&to=2026-04-01", "to"),
    ):
        with pytest.raises(ScopeError) as caught:
            parse_scope(query, NOW)
        assert caught.value.parameter == parameter


@pytest.fixture
def client(svc: Services) -> FlaskClient:
    test_client: FlaskClient = create_app(svc).server.test_client()
    return test_client


@pytest.fixture
def made(db: Database) -> dict[str, int]:
    now = utcnow()
    out = {
        "old": make_task(db, created=now - timedelta(days=40), status=TaskStatus.FAILED),
        "week": make_task(db, created=now - timedelta(days=3)),
        "hour": make_task(db, created=now - timedelta(minutes=30)),
    }
    with db.writing() as session:
        session.execute(update(Task).where(Task.id == out["week"]).values(created_by="bob"))
    return out


def api_ids(client: FlaskClient, query: str) -> list[int]:
    return [t["id"] for t in call(client, "GET", "/tasks?sort=-id&" + query)["items"]]


def csv_ids(client: FlaskClient, query: str) -> list[int]:
    response = client.get("/export/tasks.csv?sort=id:desc&" + query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return [
        int(r["id"]) for r in csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff")))
    ]


def test_the_api_and_the_csv_list_the_same_tasks_for_the_same_parameters(
    client: FlaskClient, made: dict[str, int]
) -> None:
    now = utcnow()
    since = (now - timedelta(days=5)).replace(microsecond=0).isoformat()
    until = (now - timedelta(hours=1)).replace(microsecond=0).isoformat()
    expected = {
        "": ["hour", "week", "old"],
        "range=24h": ["hour"],
        "range=7d": ["hour", "week"],
        "range=90d": ["hour", "week", "old"],
        f"from={since}": ["hour", "week"],
        f"to={until}": ["week", "old"],
        f"from={since}&to={until}": ["week"],
        f"range=1h&from={since}&to={until}": ["week"],  # from/to win over range
        "created_by=bob": ["week"],
    }
    for query, names in expected.items():
        ids = [made[n] for n in names]
        assert api_ids(client, query) == ids, query
        assert csv_ids(client, query) == ids, query
    # The API's older names are the same parameters.
    assert api_ids(client, f"created_from={since}") == api_ids(client, f"from={since}")
    assert api_ids(client, f"created_to={until}") == api_ids(client, f"to={until}")


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("range=2d", "range"),
        ("from=yesterday", "from"),
        ("from=2026-05-02&to=2026-05-01", "to"),
        ("from=2026-05-01&created_from=2026-05-01", "created_from"),
        ("to=2026-05-01&created_to=2026-05-01", "created_to"),
    ],
)
def test_the_api_refuses_a_bad_range_naming_its_parameter(
    client: FlaskClient, made: dict[str, int], query: str, parameter: str
) -> None:
    error = call(client, "GET", "/tasks?" + query, status=400)["error"]
    assert error["code"] == "bad_parameter" and error["details"]["parameter"] == parameter, error


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("range=2d", "range"),
        ("from=yesterday", "from"),
        ("to=2026-05-01T08:00%2B02:00", "to"),
        ("from=2026-05-02&to=2026-05-01", "to"),
        ("from=2026-05-01&from=2026-05-02", "from"),
    ],
)
def test_the_csv_refuses_a_bad_range_naming_its_parameter(
    client: FlaskClient, made: dict[str, int], query: str, parameter: str
) -> None:
    response = client.get("/export/tasks.csv?" + query)
    assert response.status_code == 400
    assert response.get_json()["error"]["details"]["parameter"] == parameter
