"""Tests: helpers of the REST API tests — a Flask test client of the real dashboard app, JSON calls that check
the error envelope, row counts of every table, and an external agent's events."""

from __future__ import annotations

import json
from typing import Any

from flask.testing import FlaskClient
from sqlalchemy import func, select

from dashboard.server import create_app
from dashboard.services import Services
from db.core.engine import Database
from db.core.models import Base

API = "/api/v1"


def api_client(svc: Services) -> FlaskClient:
    """The whole dashboard app (pages, websocket, API) as `python app.py web` builds it."""
    client: FlaskClient = create_app(svc).server.test_client()
    return client


def call(client: FlaskClient, method: str, path: str, body: Any = None, status: int = 200, **kw: Any) -> Any:
    """A JSON request to /api/v1; asserts the status; returns the decoded body (None for 204)."""
    if body is not None:
        kw.setdefault("data", json.dumps(body))
        kw.setdefault("content_type", "application/json")
    response = client.open(API + path, method=method, **kw)
    text = response.get_data(as_text=True)
    assert response.status_code == status, f"{method} {path}: {response.status_code} {text[:800]}"
    if response.status_code == 204:
        assert text == ""
        return None
    assert response.mimetype == "application/json", response.mimetype
    body_out = json.loads(text)
    if 400 <= status < 500:  # every 4xx is the error envelope (503 from /ready is its own report)
        assert set(body_out) == {"error"}, body_out
        assert set(body_out["error"]) == {"code", "message", "details"}, body_out
        assert isinstance(body_out["error"]["message"], str) and body_out["error"]["message"]
    return body_out


def row_counts(db: Database) -> dict[str, int]:
    """Rows of every table: a rejected request must leave all of them as they were."""
    with db.reading() as session:
        return {
            name: int(session.scalar(select(func.count()).select_from(table)) or 0)
            for name, table in Base.metadata.tables.items()
        }


def ev(event: str, event_id: str, key: str = "run-1", **fields: Any) -> dict[str, Any]:
    return {"event": event, "event_id": event_id, "external_id": key, **fields}


def agent_life(key: str = "run-1", prefix: str = "") -> list[dict[str, Any]]:
    """A whole external task: created, started, one model call with a tool line and usage, completed."""
    p = prefix
    return [
        ev("task", p + "1", key, title=f"agent {key}", tags=["ext", "api"], max_iterations=2),
        ev("transition", p + "2", key, to="running", worker="agent-7"),
        ev("progress", p + "3", key, iteration=1, max_iterations=2, message="planning"),
        ev("invocation.started", p + "4", key, id="c1", role="planner", model="gpt-4.1"),
        ev("activity", p + "5", key, type="tool_exec", message="read_file README.md", invocation_id="c1"),
        ev(
            "invocation.completed",
            p + "6",
            key,
            id="c1",
            input_tokens=1000,
            output_tokens=500,
            response="plan",
        ),
        ev("progress", p + "7", key, iteration=2, message="done"),
        ev("transition", p + "8", key, to="completed", result={"files": 3}),
    ]
