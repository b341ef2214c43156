"""Tests: access control of the web process with auth on — every /api/v1 route refuses a missing or invalid
token (401) and a too-low role (403), looping over the endpoint registry so a new route is covered at once;
the audit log; /export, /reports/files and the websocket refuse without sign-in; /login; security headers; the
request size limit (413) and the rate limit (429 with Retry-After). SQLite and PostgreSQL where a database is."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from config import Settings, SettingsError
from dashboard import ids
from dashboard.access import SECURITY_HEADERS
from dashboard.api.registry import ENDPOINTS, PREFIX, Role
from dashboard.ratelimit import RateLimiter
from dashboard.services import Services
from db.access.audit import entries
from db.access.tokens import create_token
from db.core.timeutil import utcnow
from db.domain.ops import TaskSpec
from db.domain.states import TaskKind
from tests.api_support import api_client, call

ROLES = [Role.VIEWER, Role.OPERATOR, Role.ADMIN]


def secured(svc: Services, **settings: Any) -> Services:
    settings.setdefault("secret_key", "test-only-session-key")  # not a file in the working directory
    return Services(svc.settings.with_(auth="on", **settings), svc.db, svc.recorder, svc.feed)


def make_tokens(svc: Services) -> dict[str, str]:
    out = {}
    with svc.db.writing() as session:
        for role in ROLES:
            _, secret = create_token(session, f"{role}-user", str(role), utcnow())
            out[str(role)] = secret
    return out


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def concrete(rule: str) -> str:
    """A path of the rule, with a task id that does not exist and a harmless value for other parameters."""
    path = re.sub(r"<task_id:[a-z_]+>", "999999", rule)  # task, alert, rule and silence ids
    path = path.replace("<table>", "tasks")
    return re.sub(r"<[^>]+>", "x", PREFIX + path)


@pytest.mark.parametrize("ep", ENDPOINTS, ids=lambda e: f"{e.method} {e.rule}")
def test_every_route_refuses_no_token_and_low_roles(svc: Services, ep: Any) -> None:
    """401 without or with a bad token, 403 for each role below the declared one; the declared role and the
    ones above it get past the guard (any status but 401/403/429)."""
    sec = secured(svc)
    client = api_client(sec)
    tokens = make_tokens(sec)
    path = concrete(ep.rule)
    kw: dict[str, Any] = {"method": ep.method}
    if ep.method in ("POST", "PUT"):
        kw.update(data="{}", content_type="application/json")
    for headers in ({}, bearer("tl_not-a-token"), {"Authorization": "Basic abc"}):
        r = client.open(path, headers=headers, **kw)
        r.close()
        assert r.status_code == 401, (path, headers, r.status_code)
        assert r.get_json()["error"]["code"] == "unauthorized"
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
    needed = ROLES.index(ep.role)
    for i, role in enumerate(ROLES):
        r = client.open(path, headers=bearer(tokens[role]), **kw)
        r.get_data()
        r.close()
        if i < needed:
            assert r.status_code == 403, (path, role, r.status_code)
            assert r.get_json()["error"]["details"]["needed"] == ep.role
        else:
            assert r.status_code not in (401, 403, 429), (path, role, r.status_code, r.get_data(as_text=True))


def test_every_write_route_is_above_viewer() -> None:
    writes = [ep for ep in ENDPOINTS if ep.method != "GET"]
    assert writes and all(ep.role != Role.VIEWER for ep in writes)


def test_revoked_token_and_session_cookie_on_writes(svc: Services) -> None:
    sec = secured(svc)
    client = api_client(sec)
    tokens = make_tokens(sec)
    from db.access.tokens import revoke_token

    with sec.db.writing() as session:
        revoke_token(session, 3, utcnow())  # admin
    call(client, "GET", "/stats", status=401, headers=bearer(tokens["admin"]))
    # A signed-in browser reads the API, but a write needs the bearer header (no cross-site writes).
    r = client.post("/login", data={"token": tokens["operator"], "next": "/"})
    assert r.status_code == 302
    call(client, "GET", "/stats")
    call(client, "POST", "/tasks", {"title": "x", "kind": "demo"}, status=401)


def test_actor_and_audit_rows(svc: Services) -> None:
    sec = secured(svc)
    client = api_client(sec)
    tokens = make_tokens(sec)
    op, admin = bearer(tokens["operator"]), bearer(tokens["admin"])
    created = call(client, "POST", "/tasks", {"title": "audited", "kind": "demo"}, status=201, headers=op)
    task_id = created["id"]
    call(client, "POST", f"/tasks/{task_id}/cancel", headers=op)
    call(client, "POST", f"/tasks/{task_id}/retry", headers=op)
    call(client, "POST", f"/tasks/{task_id}/cancel", headers=op)
    call(client, "DELETE", f"/tasks/{task_id}", status=204, headers=admin)
    events = [{"event": "task", "event_id": "e1", "external_id": "ext-1", "title": "agent"}]
    batch = call(client, "POST", "/events", {"events": events}, headers=op)
    call(client, "GET", "/tasks", headers=op)  # reads are not audited
    with sec.db.reading() as session:
        rows = [(e.actor, e.action, e.target) for e in reversed(entries(session))]
    new_id = batch["tasks"][0]["task_id"]
    assert rows == [
        ("token:operator-user", "task.create", f"task:{task_id}"),
        ("token:operator-user", "task.cancel", f"task:{task_id}"),
        ("token:operator-user", "task.retry", f"task:{task_id}"),
        ("token:operator-user", "task.cancel", f"task:{task_id}"),
        ("token:admin-user", "task.delete", f"task:{task_id}"),
        ("token:operator-user", "task.create", f"task:{new_id}"),
    ]


def test_audit_log_endpoint_filters_and_pages(svc: Services) -> None:
    """GET /audit (admin): newest first, by action (exact or a prefix ending in "."), actor and target, paged
    by id without overlap; a bad parameter is a 400 naming it."""
    sec = secured(svc)
    client = api_client(sec)
    tokens = make_tokens(sec)
    op, admin = bearer(tokens["operator"]), bearer(tokens["admin"])
    ids_ = [
        call(client, "POST", "/tasks", {"title": f"t{i}", "kind": "demo"}, 201, headers=op)["id"]
        for i in range(3)
    ]
    call(client, "POST", f"/tasks/{ids_[0]}/cancel", headers=op)
    call(client, "GET", "/audit", status=403, headers=op)
    page = call(client, "GET", "/audit", headers=admin)
    assert [(e["action"], e["target"]) for e in page["items"]] == [
        ("task.cancel", f"task:{ids_[0]}"),
        *[("task.create", f"task:{i}") for i in reversed(ids_)],
    ]
    assert page["next_before"] is None and page["items"][0]["actor"] == "token:operator-user"
    assert page["items"][0]["at"].endswith("Z")
    assert len(call(client, "GET", "/audit?action=task.create", headers=admin)["items"]) == 3
    assert len(call(client, "GET", "/audit?action=task.", headers=admin)["items"]) == 4
    assert call(client, "GET", "/audit?action=task_", headers=admin)["items"] == []  # _ is not a wildcard
    assert call(client, "GET", "/audit?actor=cli", headers=admin)["items"] == []
    on_first = call(client, "GET", f"/audit?target=task:{ids_[0]}", headers=admin)["items"]
    assert [e["action"] for e in on_first] == ["task.cancel", "task.create"]
    first = call(client, "GET", "/audit?limit=3", headers=admin)
    rest = call(client, "GET", f"/audit?limit=3&before={first['next_before']}", headers=admin)
    assert len(first["items"]) == 3 and rest["next_before"] is None
    assert [e["id"] for e in first["items"] + rest["items"]] == [e["id"] for e in page["items"]]
    bad = call(client, "GET", "/audit?limit=0", status=400, headers=admin)
    assert bad["error"]["details"]["parameter"] == "limit"


def test_auth_off_lets_everyone_in_and_audits_as_api(svc: Services) -> None:
    assert not svc.settings.auth_enabled  # 127.0.0.1: auth off by default
    client = api_client(svc)
    created = call(client, "POST", "/tasks", {"title": "open", "kind": "demo"}, status=201)
    with svc.db.reading() as session:
        assert [(e.actor, e.action) for e in entries(session)] == [("api", "task.create")]
    assert created["id"]


def test_auth_modes() -> None:
    assert not Settings().auth_enabled
    assert not Settings(host="localhost").auth_enabled and not Settings(host="::1").auth_enabled
    assert Settings(host="0.0.0.0").auth_enabled and Settings(host="10.1.2.3").auth_enabled
    assert Settings(auth="on").auth_enabled and not Settings(host="0.0.0.0", auth="off").auth_enabled
    with pytest.raises(SettingsError, match="TASKLENS_AUTH"):
        Settings.from_env({"TASKLENS_AUTH": "maybe"})
    with pytest.raises(SettingsError, match="TASKLENS_RATE_LIMIT"):
        Settings.from_env({"TASKLENS_RATE_LIMIT": "ten"})
    assert Settings.from_env({"TASKLENS_RATE_LIMIT": "off"}).rate() is None
    assert Settings.from_env({"TASKLENS_RATE_LIMIT": "120/minute"}).rate() == 2.0
    # auto: limited with access control on, open on a loopback install without it.
    assert Settings.from_env({}).rate() is None
    assert Settings.from_env({"TASKLENS_AUTH": "on"}).rate() == 10.0
    assert Settings.from_env({"TASKLENS_HOST": "0.0.0.0"}).rate() == 10.0


# ---- the browser's side --------------------------------------------------------------------------------
def test_pages_exports_and_files_need_sign_in(svc: Services) -> None:
    sec = secured(svc)
    client = api_client(sec)
    tokens = make_tokens(sec)
    html_accept = {"Accept": "text/html"}
    r = client.get("/tasks", headers=html_accept)
    assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=%2Ftasks")
    for path in ("/export/tasks.csv", "/reports/files/1/report.html", "/_dash-layout", "/_dash-dependencies"):
        r = client.get(path)
        assert r.status_code == 401, (path, r.status_code)
    assert client.post("/_dash-update-component", json={}).status_code == 401
    assert client.get("/healthz").status_code == 200
    assert client.get("/login").status_code == 200
    # A bearer token works for the CSV download (scripts); a bad sign-in says so.
    r = client.get("/export/tasks.csv", headers=bearer(tokens["viewer"]))
    assert r.status_code == 200 and r.mimetype == "text/csv"
    r = client.post("/login", data={"token": "nope"})
    assert r.status_code == 401 and "not valid" in r.get_data(as_text=True)
    # Signing in sets an HttpOnly, SameSite=Lax cookie; then pages and downloads load.
    r = client.post("/login", data={"token": tokens["viewer"], "next": "/tasks"})
    assert r.status_code == 302 and r.headers["Location"] == "/tasks"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/tasks", headers=html_accept).status_code == 200
    assert client.get("/_dash-layout").status_code == 200
    assert client.get("/export/tasks.csv").status_code == 200
    # Not to another site after signing in.
    r = client.post("/login", data={"token": tokens["viewer"], "next": "//evil.example/"})
    assert r.headers["Location"] == "/"
    client.get("/logout")
    assert client.get("/export/tasks.csv").status_code == 401
    # Another site's form cannot sign a browser in (or out, or run a callback); this site's own page can.
    for origin in ("http://evil.example", "null"):
        r = client.post("/login", data={"token": tokens["viewer"]}, headers={"Origin": origin})
        assert r.status_code == 403 and "another site" in r.get_data(as_text=True)
        assert "Set-Cookie" not in r.headers
        r = client.post("/_dash-update-component", json={}, headers={"Origin": origin})
        assert r.status_code == 403
    r = client.post("/login", data={"token": tokens["viewer"]}, headers={"Origin": "http://localhost"})
    assert r.status_code == 302


def test_dashboard_write_callbacks_check_the_role(svc: Services) -> None:
    from dashboard import celery_panel
    from dashboard.pages import budgets, submit, task_detail

    sec = secured(svc)
    app = api_client(sec).application
    tokens = make_tokens(sec)
    task_id = sec.recorder.submit(TaskSpec(title="t", kind=TaskKind.DEMO), actor="test")
    with app.test_request_context("/"):
        from flask import session

        session["tid"] = 1  # the viewer
        alert = task_detail.act(sec, ids.CANCEL, task_id)
        assert "needs the operator role" in str(alert)
        message, *_ = submit.submit(sec, "demo", *[None] * (len(submit.INPUTS)))
        assert "needs the operator role" in str(message)
        feedback, added = budgets.add(sec, "b", "daily", 1, "all", None)
        assert not added and "needs the admin role" in str(feedback)
        feedback, removed = budgets.remove(sec, 1)
        assert not removed and "needs the admin role" in str(feedback)
        celery_task = {"celery_id": "c-1", "name": "proj.add"}
        alert = celery_panel.task_act(sec, "terminate", celery_task, None, None, None)
        assert "needs the operator role" in str(alert)
        assert "needs the operator role" in str(celery_panel.worker_act(sec, "shutdown", "celery@h", None))
        session["tid"] = 2  # the operator
        # Allowed, but this web process has no broker: said so, nothing sent, nothing audited.
        alert = celery_panel.worker_act(sec, "grow", "celery@h", None)
        assert "No Celery broker is configured" in str(alert)
        alert = task_detail.act(sec, ids.CANCEL, task_id)
        assert "Cancel" in str(alert)
        feedback, added = budgets.add(sec, "b", "daily", 1, "all", None)
        assert not added
    with sec.db.reading() as session_:
        assert [(e.actor, e.action) for e in entries(session_)] == [("token:operator-user", "task.cancel")]
    assert tokens


def test_security_headers_and_size_limit(svc: Services) -> None:
    client = api_client(svc)
    for path in ("/", "/healthz", "/api/v1/stats", "/login"):
        r = client.get(path)
        for name, value in SECURITY_HEADERS.items():
            assert r.headers.get(name) == value, (path, name)
    big = json.dumps({"title": "x" * (7 * 1024 * 1024), "kind": "demo"})
    r = client.post(f"{PREFIX}/tasks", data=big, content_type="application/json")
    assert r.status_code == 413 and r.get_json()["error"]["code"] == "payload_too_large"


def test_rate_limit_answers_429_with_retry_after(svc: Services) -> None:
    limited = Services(
        svc.settings.with_(rate_limit="1/minute", rate_burst=3), svc.db, svc.recorder, svc.feed
    )
    client = api_client(limited)
    for _ in range(3):
        call(client, "GET", "/health")
    body = call(client, "GET", "/health", status=429)
    assert body["error"]["code"] == "rate_limited"
    r = client.get(f"{PREFIX}/health")
    assert r.status_code == 429 and 1 <= int(r.headers["Retry-After"]) <= 60
    # Another caller (a token) has its own bucket.
    with svc.db.writing() as session:
        _, secret = create_token(session, "other", "viewer", utcnow())
    call(client, "GET", "/health", headers=bearer(secret))


def test_token_bucket_refills() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=2.0, burst=2, clock=lambda: now[0])
    assert limiter.take("a") == 0 and limiter.take("a") == 0
    assert limiter.take("a") == pytest.approx(0.5)
    assert limiter.take("b") == 0
    now[0] = 0.5
    assert limiter.take("a") == 0
