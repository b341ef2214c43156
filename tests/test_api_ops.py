"""Tests: the REST API's figures and operations endpoints on SQLite and PostgreSQL — /stats equal to the
overview's KPIs, /workers, /costs (totals, breakdown and per-period series agreeing with the costs page's
queries), /health, /ready (200, and 503 naming each failed check), /metrics in Prometheus text (task counts,
ingested events, durations of tasks that ended, commit latency, sockets) and the CSV exports under the API."""

from __future__ import annotations

import json
import time
import urllib.request
from dataclasses import fields
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from dashboard.api.schemas import Stats
from dashboard.services import Services
from db.analytics import costs, rollups
from db.core.engine import Database
from db.core.migrate import downgrade, upgrade
from db.core.timeutil import utcnow
from db.domain.states import TaskStatus
from db.read import overview
from db.read.overview import Kpis
from db.read.scope import parse_scope
from db.write.recorder import Recorder
from db.write.workers import WorkerIdentity
from tests.api_support import API, agent_life, api_client, call
from tests.builders import make_task


@pytest.fixture
def client(svc: Services) -> FlaskClient:
    return api_client(svc)


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_stats_are_the_overviews_kpis(client: FlaskClient, svc: Services, db: Database) -> None:
    now = utcnow()
    for n in range(3):
        make_task(db, created=now - timedelta(minutes=30 + n), ran_for=10 + n)
    make_task(db, created=now - timedelta(minutes=20), status=TaskStatus.FAILED)
    make_task(db, created=now - timedelta(minutes=5), status=TaskStatus.RUNNING)
    stats = call(client, "GET", "/stats")
    with db.reading() as s:
        k = overview.kpis(s, utcnow(), timedelta(seconds=svc.settings.stuck_after_seconds))
    assert (stats["completed_today"], stats["failed_today"], stats["running"]) == (
        k.completed_today,
        k.failed_today,
        k.running,
    )
    assert stats["success_rate"] == pytest.approx(k.success_rate) and stats["active"] == k.active
    assert stats["as_of"].endswith("Z")
    # One list of fields: the answer and its schema are the Kpis dataclass's, after the time and the sum.
    assert tuple(Stats.model_fields) == ("as_of", "active", *(f.name for f in fields(Kpis)))
    assert set(stats) == set(Stats.model_fields)
    assert call(client, "GET", "/stats?range=7d", status=400)["error"]["details"]["parameter"] == "range"


def test_concurrent_stats_share_a_reading_that_began_after_they_asked(client: FlaskClient) -> None:
    """Twenty clients asking at once are answered by a few readings, not twenty; a request made after a write
    sees the write (the reading it gets began after it arrived)."""
    import threading

    from dashboard.api.context import ctx

    with client.application.app_context():
        shared = ctx().stats
    before = call(client, "GET", "/stats")
    call(client, "POST", "/tasks", {"title": "counted", "kind": "demo"}, status=201)
    assert call(client, "GET", "/stats")["queued"] == before["queued"] + 1
    start = shared.computed
    gate = threading.Barrier(20)
    answers: list[int] = []

    def ask() -> None:
        gate.wait()
        answers.append(call(client, "GET", "/stats")["queued"])

    threads = [threading.Thread(target=ask) for _ in range(20)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert answers == [before["queued"] + 1] * 20
    assert shared.computed - start < 20, shared.computed - start


def test_workers(client: FlaskClient, recorder: Recorder) -> None:
    assert call(client, "GET", "/workers") == {"items": []}
    recorder.register_worker(WorkerIdentity("host-1-abc", "builder", "host", 4242, 4))
    [worker] = call(client, "GET", "/workers?limit=5")["items"]
    assert (worker["id"], worker["status"], worker["concurrency"], worker["pid"]) == (
        "host-1-abc",
        "online",
        4,
        4242,
    )
    assert call(client, "GET", "/workers?limit=0", status=400)["error"]["details"]["parameter"] == "limit"


def test_costs_agree_with_the_costs_page(client: FlaskClient, db: Database) -> None:
    now = utcnow()
    for days, role, model, cost in (
        (1, "planner", "gpt-4.1", 0.5),
        (2, "builder", "claude-sonnet-4-5", 1.25),
        (3, "planner", "claude-sonnet-4-5", 2.0),
        (40, "tester", "gpt-4.1", 9.0),
    ):
        make_task(db, created=now - timedelta(days=days), calls=((role, model, cost),), tags=("t1",))
    with db.writing() as s:
        rollups.refresh(s, now)  # whole hours come from usage_hourly, as on the page
    out = call(client, "GET", "/costs?range=30d&by=role&period=week")
    scope = parse_scope("range=30d", utcnow())
    with db.reading() as s:
        totals = costs.totals(s, scope)
    assert out["totals"]["cost_usd"] == pytest.approx(totals.cost) == pytest.approx(3.75)
    assert out["totals"]["calls"] == 3 and out["by"] == "role" and out["range"]["key"] == "30d"
    assert {r["key"]: r["cost_usd"] for r in out["breakdown"]} == {
        "planner": pytest.approx(2.5),
        "builder": pytest.approx(1.25),
    }
    assert sum(p["cost_usd"] for p in out["series"]) == pytest.approx(3.75)
    assert {p["key"] for p in out["series"]} == {"planner", "builder"}
    for by in ("model", "provider", "kind", "created_by", "tag"):
        series = call(client, "GET", f"/costs?range=30d&by={by}&period=day")["series"]
        assert sum(p["cost_usd"] for p in series) == pytest.approx(3.75), by
    monthly = call(client, "GET", "/costs?range=90d&by=model&period=month&model=gpt-4.1")
    assert monthly["totals"]["cost_usd"] == pytest.approx(9.5)
    start = (now - timedelta(days=2, hours=12)).replace(microsecond=0).isoformat()
    custom = call(client, "GET", f"/costs?from={start}&by=role")
    assert custom["range"]["key"] == "custom" and custom["totals"]["cost_usd"] == pytest.approx(1.75)
    for query, parameter in (
        ("period=year", "period"),
        ("by=colour", "by"),
        ("range=2d", "range"),
        ("from=tomorrow", "from"),
        (f"from={now.isoformat()}&to={(now - timedelta(days=1)).isoformat()}", "to"),
        ("to=2026-01-01", "to"),
        ("currency=eur", "currency"),
    ):
        assert (
            call(client, "GET", "/costs?" + query, status=400)["error"]["details"]["parameter"] == parameter
        )


def test_health_and_ready(client: FlaskClient, db: Database, recorder: Recorder) -> None:
    assert call(client, "GET", "/health") == {"status": "ok"}
    not_ready = call(client, "GET", "/ready", status=503)
    assert not_ready["ready"] is False and not_ready["checks"]["database"]["ok"] is True
    assert not_ready["checks"]["migrations"]["ok"] is True
    assert [r.split(":")[0] for r in not_ready["reasons"]] == ["workers"]
    recorder.register_worker(WorkerIdentity("w-ready", "w", "h", 1, 1))
    ready = call(client, "GET", "/ready")
    assert ready["ready"] is True and ready["reasons"] == []
    downgrade(db, "0006")
    try:
        stale = call(client, "GET", "/ready", status=503)
        assert (
            stale["checks"]["migrations"]["ok"] is False
            and "0006" in stale["checks"]["migrations"]["message"]
        )
    finally:
        upgrade(db)


def test_metrics_in_prometheus_text(client: FlaskClient, db: Database) -> None:
    now = utcnow()
    make_task(db, created=now - timedelta(minutes=10), status=TaskStatus.FAILED)
    make_task(db, created=now - timedelta(minutes=9), status=TaskStatus.QUEUED)
    call(client, "POST", "/events", {"events": agent_life()})
    call(client, "GET", "/tasks/424242", status=404)
    response = client.get(API + "/metrics")
    assert response.status_code == 200 and response.content_type.startswith("text/plain")
    got = samples(response.get_data(as_text=True))
    assert got[("tasklens_tasks", (("status", "failed"),))] == 1
    assert got[("tasklens_tasks", (("status", "completed"),))] == 1
    assert got[("tasklens_tasks", (("status", "queued"),))] == 1
    assert got[("tasklens_queue_depth", ())] == 1
    assert got[("tasklens_events_ingested_total", ())] == len(agent_life())
    assert (
        got[("tasklens_api_requests_total", (("endpoint", "get_task"), ("method", "GET"), ("status", "404")))]
        == 1
    )
    assert got[("tasklens_commit_duration_seconds_count", ())] >= 1
    assert got[("tasklens_websocket_connections", ())] == 0
    assert ("tasklens_db_commit_latency_seconds", (("quantile", "0.95"),)) in got
    assert call(client, "GET", "/metrics?x=1", status=400)


def test_exports_are_the_dashboards_csv_downloads(client: FlaskClient, db: Database) -> None:
    make_task(db, created=utcnow() - timedelta(minutes=3), title="exported")
    api = client.get(API + "/exports/tasks.csv?status=completed")
    api_file = api.get_data()  # streamed: read each file before the next request
    plain = client.get("/export/tasks.csv?status=completed")
    assert api.status_code == plain.status_code == 200
    assert api_file == plain.get_data() and b"exported" in api_file
    assert api.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert call(client, "GET", "/exports/nothing.csv", status=404)["error"]["code"] == "not_found"
    assert (
        call(client, "GET", "/exports/tasks.csv?colour=red", status=400)["error"]["details"]["parameter"]
        == "colour"
    )


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def test_metrics_time_tasks_that_end_while_the_process_watches(live_app: Any) -> None:
    """Against the real server with its change feed: a task that ends is timed into the duration histogram."""
    first = samples(get_json(live_app.url + API + "/metrics"))  # the first scrape starts the observer
    assert (
        "tasklens_task_duration_seconds_count",
        (("kind", "external"), ("status", "completed")),
    ) not in first
    request = urllib.request.Request(
        live_app.url + API + "/events",
        data=json.dumps({"events": agent_life()}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    key = ("tasklens_task_duration_seconds_count", (("kind", "external"), ("status", "completed")))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        got = samples(get_json(live_app.url + API + "/metrics"))
        if got.get(key) == 1:
            break
        time.sleep(0.1)
    assert got.get(key) == 1, sorted(k for k in got if k[0].startswith("tasklens_task_duration"))
    assert (
        got[("tasklens_workers", (("status", "online"),))]
        + got.get(("tasklens_workers", (("status", "busy"),)), 0)
        == 1
    )
