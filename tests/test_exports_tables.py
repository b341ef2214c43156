"""Tests: the CSV downloads of the tables that had none — the Overview's workers, Budgets, the Database page's
table sizes, the Reports page's runs and the Audit log (admins only with access control on) — each read back
with its header and rows on SQLite and PostgreSQL (tests/test_exports.py checks every page links its table)."""

from __future__ import annotations

import json
from datetime import timedelta

from dashboard.pages import audit as audit_page
from dashboard.services import Services
from db.access.audit import record
from db.analytics import budgets
from db.core.timeutil import utcnow
from db.reporting import store
from db.reporting.store import RunRequest, RunTrigger
from db.write.workers import WorkerIdentity, register_worker
from tests.api_support import api_client
from tests.test_auth_api import bearer, make_tokens, secured
from tests.test_exports import download


def test_every_table_has_its_download(svc: Services) -> None:
    now = utcnow()
    with svc.db.writing() as session:
        register_worker(session, WorkerIdentity("w-1", "builder", "host-a", 42, 4))
        budgets.add_budget(session, "monthly cap", "month", 500.0, now=now)
        record(session, "cli", "task.create", "task:7", {"via": "cli"}, now=now)
        store.enqueue_run(
            session,
            RunRequest(
                RunTrigger.MANUAL, "daily", now - timedelta(days=1), now, ("html",), requested_by="me"
            ),
            now,
        )
    client = api_client(svc)

    header, rows = download(client, "/export/overview-workers.csv")
    assert header[:5] == ["id", "name", "host", "pid", "status"] and "failed_today" in header
    assert [(r["id"], r["name"], r["host"]) for r in rows] == [("w-1", "builder", "host-a")]

    header, rows = download(client, "/export/budgets.csv")
    assert "limit_usd" in header and "projected_usd" in header
    assert [(r["name"], r["period"], float(r["limit_usd"])) for r in rows] == [
        ("monthly cap", "month", 500.0)
    ]

    header, rows = download(client, "/export/database-tables.csv")
    assert header == ["table", "rows", "rows_exact", "table_bytes", "index_bytes", "total_bytes"]
    assert {"tasks", "task_events", "audit_log"} <= {r["table"] for r in rows}

    header, rows = download(client, "/export/report-runs.csv")
    assert header[:3] == ["id", "trigger", "schedule"]
    assert [(r["trigger"], r["period_kind"], r["formats"], r["requested_by"]) for r in rows] == [
        ("manual", "daily", "html", "me")
    ]

    header, rows = download(client, "/export/audit.csv?action=task.")
    assert header == ["id", "at", "actor", "action", "target", "details"]
    assert [(r["actor"], r["action"], r["target"]) for r in rows] == [("cli", "task.create", "task:7")]
    assert json.loads(rows[0]["details"]) == {"via": "cli"}
    assert client.get("/export/audit.csv?colour=red").status_code == 400  # a misspelt filter is refused


def test_the_audit_download_is_for_admins(svc: Services) -> None:
    sec = secured(svc)
    client = api_client(sec)
    tokens = make_tokens(sec)
    for role, status in (("viewer", 403), ("operator", 403), ("admin", 200)):
        r = client.get("/export/audit.csv", headers=bearer(tokens[role]))
        assert r.status_code == status, (role, r.status_code)
    r = client.get("/export/audit.csv", headers=bearer(tokens["viewer"]))
    assert r.get_json()["error"]["code"] == "forbidden"
    assert client.get("/export/budgets.csv", headers=bearer(tokens["viewer"])).status_code == 200


def test_the_audit_link_carries_the_filters() -> None:
    assert audit_page.download_href(audit_page.ANY, None, "  ") == "/export/audit.csv"
    href = audit_page.download_href("task.", " token:agent ", "task:42")
    assert href == "/export/audit.csv?action=task.&actor=token%3Aagent&target=task%3A42"
