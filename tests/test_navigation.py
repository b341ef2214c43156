"""Tests: the navbar served to a signed-in user is the registered pages' links in their declared order, less the
pages whose role the user lacks (the whole app with access control on; SQLite and PostgreSQL)."""

from __future__ import annotations

from typing import Any

from dashboard.routes import NAV_LINKS
from dashboard.services import Services
from tests.api_support import api_client
from tests.test_auth_api import make_tokens, secured


def nav_hrefs(node: Any) -> list[str]:
    """The hrefs of the NavLinks in a served layout (Dash's JSON), in document order."""
    if isinstance(node, list):
        return [href for child in node for href in nav_hrefs(child)]
    if not isinstance(node, dict):
        return []
    props = node.get("props", {})
    own = [props["href"]] if node.get("type") == "NavLink" else []
    return own + nav_hrefs(props.get("children"))


def test_the_navbar_shows_what_the_role_may_use(svc: Services) -> None:
    sec = secured(svc)
    client = api_client(sec)
    tokens = make_tokens(sec)
    seen = {}
    for role in ("viewer", "operator", "admin"):
        client.post("/login", data={"token": tokens[role], "next": "/"})
        seen[role] = nav_hrefs(client.get("/_dash-layout").get_json())
        client.get("/logout")
    every = [link.href for link in NAV_LINKS]
    assert seen["admin"] == every and len(every) == 11
    assert seen["operator"] == [href for href in every if href != "/audit"]
    assert seen["viewer"] == [href for href in every if href not in ("/audit", "/submit")]
