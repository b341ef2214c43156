"""Tests: POST /api/v1/tasks/batch on SQLite and PostgreSQL — all tasks queued in one transaction and audited,
or none: a refused task or a taken external_id is named by its place and leaves every table as it was."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from dashboard.services import Services
from db.core.engine import Database
from db.core.models import AuditLog, Task
from tests.api_support import api_client, call, row_counts


@pytest.fixture
def client(svc: Services) -> FlaskClient:
    return api_client(svc)


def task(i: int, **fields: Any) -> dict[str, Any]:
    return {"title": f"job {i}", "kind": "command", "payload": {"command": "true"}, **fields}


def test_a_batch_is_queued_in_order_and_audited(client: FlaskClient, db: Database) -> None:
    body = {"tasks": [task(i, tags=["bulk"], priority=i % 3) for i in range(1000)]}
    out = call(client, "POST", "/tasks/batch", body, status=201)
    assert out["count"] == 1000 and len(out["ids"]) == 1000
    with db.reading() as s:
        titles = {r.id: r.title for r in s.execute(select(Task.id, Task.title))}
        audited = s.scalars(select(AuditLog.target).where(AuditLog.action == "task.create")).all()
    assert [titles[i] for i in out["ids"]] == [f"job {i}" for i in range(1000)]
    assert sorted(audited) == sorted(f"task:{i}" for i in out["ids"])


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"priority": 5000}, "tasks[7].priority"),
        ({"kind": "nope"}, "tasks[7].kind"),
        ({"title": "   "}, "tasks[7].title"),
        ({"unknown": 1}, "tasks[7].unknown"),
    ],
)
def test_one_refused_task_stores_nothing(
    client: FlaskClient, db: Database, bad: dict[str, Any], field: str
) -> None:
    before = row_counts(db)
    tasks = [task(i) for i in range(10)]
    tasks[7].update(bad)
    out = call(client, "POST", "/tasks/batch", {"tasks": tasks}, status=422)
    assert out["error"]["details"]["field"] == field
    assert out["error"]["details"]["index"] == 7
    assert row_counts(db) == before


def test_limits_and_taken_keys(client: FlaskClient, db: Database) -> None:
    call(client, "POST", "/tasks/batch", {"tasks": []}, status=422)
    too_many = call(client, "POST", "/tasks/batch", {"tasks": [task(i) for i in range(1001)]}, status=422)
    assert too_many["error"]["details"]["field"] == "tasks"
    call(client, "POST", "/tasks/batch", {"tasks": [task(0, external_id="k1")]}, status=201)
    before = row_counts(db)
    twice = call(
        client,
        "POST",
        "/tasks/batch",
        {"tasks": [task(0, external_id="a"), task(1, external_id="a")]},
        status=422,
    )
    assert twice["error"]["details"]["field"] == "tasks[1].external_id"
    taken = call(
        client,
        "POST",
        "/tasks/batch",
        {"tasks": [task(0, external_id="b"), task(1, external_id="k1")]},
        status=409,
    )
    assert taken["error"]["details"]["field"] == "tasks[1].external_id"
    assert row_counts(db) == before
