"""Tests: dashboard/firstpage.py — the layout served to a page being opened already holds that page (its
content, title and address), and only for an address of this app that its Referer names."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dashboard import ids
from dashboard.server import create_app
from dashboard.services import Services

pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _find(node: Any, component_id: str) -> dict[str, Any] | None:
    """The component with that id in a serialised Dash layout."""
    if isinstance(node, list):
        for child in node:
            found = _find(child, component_id)
            if found:
                return found
        return None
    if not isinstance(node, dict):
        return None
    props = node.get("props", {})
    if props.get("id") == component_id:
        return node
    return _find(props.get("children"), component_id)


def _layout(svc: Services, referrer: str | None) -> dict[str, Any]:
    client = create_app(svc).server.test_client()
    headers = {"Referer": referrer} if referrer else {}
    response = client.get("/_dash-layout", headers=headers)
    assert response.status_code == 200
    return dict(json.loads(response.get_data(as_text=True)))


def test_the_layout_holds_the_page_its_referer_opens(svc: Services) -> None:
    layout = _layout(svc, "http://localhost/tasks?status=failed&text=parser")
    content = _find(layout, "_pages_content")
    assert content is not None
    assert _find(content["props"]["children"], ids.GRID) is not None  # the tasks page, drawn
    assert _find(content, ids.F_TEXT)["props"]["value"] == "parser"  # type: ignore[index]  # from the query
    store = _find(layout, "_pages_store")
    assert store is not None and store["props"]["data"] == {"title": "Tasks · TaskLens"}
    for location in ("_pages_location", ids.URL):
        props = _find(layout, location)["props"]  # type: ignore[index]
        # All four set: the Location finds the address unchanged and reports nothing (no routing callback).
        assert (props["pathname"], props["search"], props["hash"]) == (
            "/tasks",
            "?status=failed&text=parser",
            "",
        )
        assert props["href"] == "http://localhost/tasks?status=failed&text=parser"


def test_a_page_with_path_variables(svc: Services) -> None:
    content = _find(_layout(svc, "http://localhost/tasks/42"), "_pages_content")
    assert content is not None and content["props"].get("children")


@pytest.mark.parametrize(
    "referrer",
    [None, "http://elsewhere.example/tasks", "http://localhost/no-such-page", "https://localhost/tasks"],
)
def test_without_a_page_of_this_app_the_routing_callback_draws_it(
    svc: Services, referrer: str | None
) -> None:
    layout = _layout(svc, referrer)
    content = _find(layout, "_pages_content")
    assert content is not None and not content["props"].get("children")
    assert "pathname" not in _find(layout, "_pages_location")["props"]  # type: ignore[index]
    assert "pathname" not in _find(layout, ids.URL)["props"]  # type: ignore[index]
