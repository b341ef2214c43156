"""Tests: the websocket and the sign-in over real HTTP with auth on — an unauthenticated client is refused with
an error message; a bearer token or the session cookie of /login is let in. SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
import websocket

from db.access.tokens import create_token
from db.core.timeutil import utcnow
from tests.helpers import DEADLINE
from tests.liveserver import LiveApp, start_live_app


@pytest.fixture
def secured_app(db_url: str) -> Iterator[LiveApp]:
    app = start_live_app(db_url, worker=False, auth="on", secret_key="test-only-session-key")
    yield app
    app.close()


def viewer_secret(app: LiveApp) -> str:
    with app.db.writing() as session:
        _, secret = create_token(session, "watcher", "viewer", utcnow())
    return secret


def first_message(ws: websocket.WebSocket) -> dict[str, object]:
    message: dict[str, object] = json.loads(ws.recv())
    return message


def test_websocket_refuses_an_unauthenticated_client(secured_app: LiveApp) -> None:
    ws = websocket.create_connection(secured_app.ws_url, timeout=DEADLINE)
    try:
        message = first_message(ws)
        assert message["type"] == "error"
        assert message["error"]["code"] == "unauthorized"  # type: ignore[index]
        with pytest.raises((websocket.WebSocketException, OSError)):
            ws.recv()
            ws.recv()
    finally:
        ws.close()
    bad = websocket.create_connection(
        secured_app.ws_url, timeout=DEADLINE, header=["Authorization: Bearer tl_wrong"]
    )
    try:
        assert first_message(bad)["type"] == "error"
    finally:
        bad.close()


def test_websocket_accepts_a_token_or_a_session(secured_app: LiveApp) -> None:
    secret = viewer_secret(secured_app)
    ws = websocket.create_connection(
        secured_app.ws_url, timeout=DEADLINE, header=[f"Authorization: Bearer {secret}"]
    )
    try:
        assert first_message(ws)["type"] == "hello"
    finally:
        ws.close()
    browser = requests.Session()
    r = browser.get(secured_app.url + "/tasks", headers={"Accept": "text/html"}, timeout=DEADLINE)
    assert r.url.startswith(secured_app.url + "/login")  # sent to sign in
    r = browser.post(secured_app.url + "/login", data={"token": secret, "next": "/tasks"}, timeout=DEADLINE)
    assert r.status_code == 200 and r.url == secured_app.url + "/tasks"  # the page after sign-in
    cookie = "; ".join(f"{c.name}={c.value}" for c in browser.cookies)
    ws = websocket.create_connection(secured_app.ws_url, timeout=DEADLINE, cookie=cookie)
    try:
        assert first_message(ws)["type"] == "hello"
    finally:
        ws.close()
    # The same session, but the socket opened by a page of another site: refused (cross-site hijacking).
    hijack = websocket.create_connection(
        secured_app.ws_url, timeout=DEADLINE, cookie=cookie, origin="http://evil.example"
    )
    try:
        message = first_message(hijack)
        assert message["type"] == "error" and message["error"]["code"] == "cross_site"  # type: ignore[index]
    finally:
        hijack.close()
