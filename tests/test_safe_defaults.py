"""Tests: safe by default at the web edge — access control decided from where a process really listens (the
CLI's socket, gunicorn's binds), one start-up line saying which and why; sign-in's `next` never leaves the site;
odd URLs are 404/400, not 500; failed sign-ins are throttled per address; chunked bodies over the limit are 413;
data paths that do not depend on the working directory."""

from __future__ import annotations

import http.client
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from config import Settings
from dashboard.services import Services
from db.domain.ops import TaskSpec
from db.domain.states import TaskKind
from tests.api_support import api_client
from tests.helpers import REPO_ROOT, clean_env, free_port, load_task, stop_process, wait_until
from tests.test_auth_api import bearer, make_tokens, secured

APP = "app:create_wsgi()"
SHELL_TASK = {"title": "pwn", "kind": "command", "payload": {"command": "touch /tmp/tasklens-pwned"}}


# ---- item 1: access control from the real listening addresses ----------------------------------------------
@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("0.0.0.0", False),
        ("::", False),
        ("10.1.2.3", False),
        ("example.org", False),
        ("", False),
    ],
)
def test_loopback_is_only_what_cannot_be_reached_from_elsewhere(host: str, loopback: bool) -> None:
    from config import is_loopback

    assert is_loopback(host) is loopback


def test_auto_is_off_only_when_every_listening_address_is_loopback() -> None:
    from dashboard.exposure import decide, resolve

    auto = Settings()
    assert not decide(auto, ["127.0.0.1:8050"]).enabled
    assert not decide(auto, ["127.0.0.1:8050", "[::1]:8050"]).enabled
    on = decide(auto, ["127.0.0.1:8050", "0.0.0.0:8051"])
    assert on.enabled and "0.0.0.0:8051" in on.reason and "127.0.0.1" not in on.reason
    unknown = decide(auto, None)
    assert unknown.enabled and "unknown" in unknown.reason
    assert decide(auto, ["unix:/run/tasklens.sock"]).enabled  # a proxy in front may be reachable by anyone
    # Said explicitly, it is obeyed, and the line says why.
    assert decide(Settings(auth="on"), ["127.0.0.1:8050"]).enabled
    off = decide(Settings(auth="off"), ["0.0.0.0:8050"])
    assert not off.enabled and "TASKLENS_AUTH=off" in off.reason and "0.0.0.0:8050" in off.reason
    # resolve() makes the mode explicit for everything built from the settings (rate limits, the dashboard).
    settings, mode = resolve(Settings(host="127.0.0.1"), None)
    assert settings.auth == "on" and settings.auth_enabled and mode.enabled
    assert mode.line().startswith("Access control is on: ")


def test_listening_addresses_are_read_from_the_process_sockets() -> None:
    from dashboard.exposure import listening_addresses

    with (
        socket.create_server(("127.0.0.1", 0)) as local,
        socket.create_server(("0.0.0.0", 0)) as public,
        socket.socket() as unbound,
    ):
        found = listening_addresses() or []
        assert f"127.0.0.1:{local.getsockname()[1]}" in found
        assert f"0.0.0.0:{public.getsockname()[1]}" in found
        assert not [
            a for a in found if a.endswith(f":{unbound.getsockname()[1]}") and unbound.getsockname()[1]
        ]
    assert listening_addresses(Path("/nonexistent/fd")) is None


def _gunicorn(bind: str, tmp: Path, **env: str) -> tuple[subprocess.Popen[str], Path]:
    log = tmp / f"gunicorn-{bind.replace(':', '_')}.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-k", "gthread", "--threads", "8", "-w", "2", "-b", bind, APP],
        cwd=REPO_ROOT,
        env=clean_env(
            TASKLENS_DATABASE_URL=f"sqlite:///{tmp}/tasklens.db", TASKLENS_DATA_DIR=str(tmp / "data"), **env
        ),
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        text=True,
    )
    return proc, log


def _post(port: int, path: str, body: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body, {"Content-Type": "application/json", **(headers or {})})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def _answers(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", "/healthz")
        ok = conn.getresponse().status == 200
        conn.close()
        return ok
    except OSError:
        return False


@pytest.mark.slow
def test_gunicorn_as_the_readme_shows_it_asks_for_a_token(tmp_path: Path) -> None:
    """The README's command with no TASKLENS_AUTH: bound to 0.0.0.0 it answers 401 to an unauthenticated
    shell-command task (it used to answer 201); bound to 127.0.0.1 it stays open; each process says why."""
    import json

    public_port, local_port = free_port(), free_port()
    (tmp_path / "public").mkdir()
    (tmp_path / "local").mkdir()
    public, public_log = _gunicorn(f"0.0.0.0:{public_port}", tmp_path / "public")
    local, local_log = _gunicorn(f"127.0.0.1:{local_port}", tmp_path / "local")
    try:
        wait_until(
            lambda: _answers(public_port) and _answers(local_port),
            timeout=90,
            what="gunicorn to answer",
            describe=lambda: public_log.read_text()[-2000:] + local_log.read_text()[-2000:],
        )
        status, body = _post(public_port, "/api/v1/tasks", json.dumps(SHELL_TASK))
        assert status == 401, body
        assert json.loads(body)["error"]["code"] == "unauthorized"
        status, body = _post(local_port, "/api/v1/tasks", json.dumps(SHELL_TASK | {"title": "local"}))
        assert status == 201, body
        wait_until(lambda: "Access control is on" in public_log.read_text(), what="the public start-up line")
        public_text, local_text = public_log.read_text(), local_log.read_text()
        assert f"Access control is on: it listens on 0.0.0.0:{public_port}" in public_text
        assert "Access control is off" not in public_text
        assert f"Access control is off: it listens on 127.0.0.1:{local_port}" in local_text
    finally:
        stop_process(public)
        stop_process(local)


@pytest.mark.slow
def test_cli_checks_the_port_before_starting_anything(tmp_path: Path) -> None:
    """A taken port: one line, exit 2, and no worker ran the queued task meanwhile (it used to print "running
    at …", start a worker that ran the task, then fail)."""
    from db.core.engine import open_database
    from db.core.migrate import upgrade
    from db.live.changefeed import Hub
    from db.write.recorder import Recorder

    url = f"sqlite:///{tmp_path}/tasklens.db"
    db = open_database(url)
    upgrade(db)
    task_id = Recorder(db, Hub()).submit(
        TaskSpec(title="queued", kind=TaskKind.COMMAND, payload={"command": "true"})
    )
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "app.py", "--port", str(port)],
            cwd=REPO_ROOT,
            env=clean_env(TASKLENS_DATABASE_URL=url, TASKLENS_POLL_SECONDS="0.2"),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert result.returncode == 2, result
    assert "running at" not in result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "port is in use" in lines[0] and str(port) in lines[0], result.stderr
    assert load_task(db, task_id).status == "queued"
    db.dispose()


# ---- item 3: the sign-in's next address --------------------------------------------------------------------
@pytest.mark.parametrize(
    "target",
    [
        "/\t/evil.example",
        "/\x0b/evil.example",
        "//evil.example",
        "/\\evil.example",
        "\\\\evil.example",
        "https://evil.example/",
        "https:evil.example",
        "javascript:alert(1)",
        " //evil.example",
        "evil.example",
    ],
)
def test_sign_in_never_sends_people_to_another_site(svc: Services, target: str) -> None:
    sec = secured(svc)
    client = api_client(sec)
    tokens = make_tokens(sec)
    r = client.post("/login", data={"token": tokens["viewer"], "next": target})
    assert r.status_code == 302 and r.headers["Location"] == "/", r.headers["Location"]


def test_sign_in_keeps_a_path_of_this_site_and_refuses_line_breaks(svc: Services) -> None:
    sec = secured(svc)
    client = api_client(sec)
    tokens = make_tokens(sec)
    r = client.post("/login", data={"token": tokens["viewer"], "next": "/tasks?status=failed&kind=demo"})
    assert r.headers["Location"] == "/tasks?status=failed&kind=demo"
    for target in ("/\r\nSet-Cookie: x=1", "/\nx", "/tasks\r"):
        r = client.post("/login", data={"token": tokens["viewer"], "next": target})
        assert r.status_code == 400 and "x=1" not in r.headers.get("Set-Cookie", "")
    assert client.get("/login?next=/%0d%0aX-Injected:%201").status_code == 400


# ---- item 5: odd URLs ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/reports/files/99999999999999999999999/x", 404),
        ("/reports/files/9223372036854775808/report.html", 404),
        ("/_dash-component-suites/dash/..%2f..%2fetc%2fpasswd", 404),
        ("/_dash-component-suites/dash/dcc/..%2f..%2f..%2fapp.py", 404),
        ("/_dash-component-suites/no_such_package/x.js", 404),
        ("/login?next=/%0d%0aLocation:%20//evil.example", 400),
    ],
)
def test_odd_urls_are_not_found_not_a_server_error(svc: Services, path: str, status: int) -> None:
    r = api_client(svc).get(path)
    assert r.status_code == status, (path, r.status_code)
    assert b"Traceback" not in r.data


# ---- item 8: throttled sign-in, chunked bodies ----------------------------------------------------------
def test_throttle_schedule_doubles_after_the_free_failures() -> None:
    from dashboard.throttle import FREE_FAILURES, FailureThrottle, Throttled

    now = [0.0]
    throttle = FailureThrottle(clock=lambda: now[0])
    for _ in range(FREE_FAILURES):
        throttle.check("1.2.3.4")
        throttle.failed("1.2.3.4")
    throttle.check("1.2.3.4")  # five free
    waits = []
    for _ in range(4):
        throttle.failed("1.2.3.4")
        with pytest.raises(Throttled) as caught:
            throttle.check("1.2.3.4")
        waits.append(caught.value.seconds)
        now[0] += caught.value.seconds
        throttle.check("1.2.3.4")  # waited long enough
    assert waits == [1, 2, 4, 8]
    throttle.check("5.6.7.8")  # other addresses are not affected
    throttle.succeeded("1.2.3.4")
    throttle.failed("1.2.3.4")
    throttle.check("1.2.3.4")  # a success starts over


def test_guessing_tokens_is_slowed_per_address(svc: Services) -> None:
    """100 bad tries used to be answered at full speed; now only the free few are checked, the rest get 429
    with Retry-After — at /login, /export and the API alike — while another address is unaffected."""
    free = 5  # dashboard.throttle.FREE_FAILURES
    sec = secured(svc)
    client = api_client(sec)
    tokens = make_tokens(sec)
    attacker = {"REMOTE_ADDR": "203.0.113.7"}
    statuses = [
        client.post("/login", data={"token": f"guess-{i}"}, environ_base=attacker).status_code
        for i in range(100)
    ]
    assert statuses[:free] == [401] * free
    assert statuses.count(401) <= free + 3 and statuses.count(429) >= 90
    r = client.post("/login", data={"token": tokens["viewer"]}, environ_base=attacker)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) >= 1  # not even a right token is checked
    assert "Set-Cookie" not in r.headers
    r = client.get("/export/tasks.csv", headers=bearer("guess"), environ_base=attacker)
    assert r.status_code == 429 and "Retry-After" in r.headers
    r = client.get("/api/v1/stats", headers=bearer(tokens["viewer"]), environ_base=attacker)
    assert r.status_code == 429 and r.get_json()["error"]["code"] == "too_many_failures"
    assert int(r.headers["Retry-After"]) >= 1
    # Someone else signs in as usual.
    other = {"REMOTE_ADDR": "198.51.100.9"}
    assert (
        client.get("/api/v1/stats", headers=bearer(tokens["viewer"]), environ_base=other).status_code == 200
    )
    r = client.post("/login", data={"token": tokens["viewer"]}, environ_base=other)
    assert r.status_code == 302


def _chunked_post(port: int, path: str, size: int, content_type: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        chunk = b"a" * 65536
        body = (chunk for _ in range(size // len(chunk)))
        conn.request("POST", path, body, {"Content-Type": content_type}, encode_chunked=True)
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        conn.close()


def test_a_chunked_body_over_the_limit_is_413(db_url: str) -> None:
    """Werkzeug stops a chunked body at the limit without saying so; the truncated body then failed to parse
    (400). Every route now answers 413."""
    from tests.liveserver import start_live_app

    app = start_live_app(db_url, worker=False)
    port = int(app.url.rsplit(":", 1)[1])
    try:
        for path, content_type in (
            ("/api/v1/events", "application/json"),
            ("/api/v1/tasks", "application/json"),
            ("/_dash-update-component", "application/json"),
            ("/login", "application/x-www-form-urlencoded"),
        ):
            status, body = _chunked_post(port, path, 7 * 1024 * 1024, content_type)
            assert status == 413, (path, status, body[:300])
        # Within the limit, a chunked body is read whole.
        status, body = _chunked_post(port, "/api/v1/tasks", 65536 * 2, "application/json")
        assert status == 400 and "not valid JSON" in body
    finally:
        app.close()


# ---- item 9: data paths ------------------------------------------------------------------------------------
def test_data_paths_do_not_depend_on_the_working_directory(tmp_path: Path, monkeypatch: Any) -> None:
    sqlite = Settings(database_url=f"sqlite:///{tmp_path}/db/tasklens.db")
    monkeypatch.chdir(tmp_path)
    relative = Settings(database_url="sqlite:///var/tasklens.db")
    assert relative.data_path == tmp_path / "var" and relative.reports_path == tmp_path / "var" / "reports"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert sqlite.data_path == tmp_path / "db" and sqlite.reports_path == tmp_path / "db" / "reports"
    pg = Settings(database_url="postgresql://u@h/db")
    assert pg.data_path.is_absolute() and pg.data_path == Path.home() / ".local" / "share" / "tasklens"
    assert pg.reports_path == pg.data_path / "reports"
    given = Settings(database_url="postgresql://u@h/db", data_dir=str(tmp_path / "d"), reports_dir="r")
    assert given.data_path == tmp_path / "d" and given.reports_path == elsewhere / "r"
