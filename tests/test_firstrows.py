"""Tests: the tasks grid's server-drawn first rows (dashboard/components/firstrows.py) — the grid's columns
and the grid's formatting, at most SHOWN rows, nothing drawn for no rows. Pure, no browser."""

from __future__ import annotations

from typing import Any

from dashboard.components.firstrows import SHOWN, first_rows
from dashboard.pages.tasks import COLUMNS


def _texts(node: Any) -> list[Any]:
    """The cells' contents of each body row, as drawn (a link's text for the id)."""
    table = node.children.content  # Static's content: the table's JSON, its children components
    body = table["props"]["children"][2].children
    return [[getattr(cell.children, "children", cell.children) for cell in row.children] for row in body]


def test_rows_are_drawn_as_the_grid_formats_them() -> None:
    record = {"id": 7, "title": "a", "status": "completed", "progress": 49.6, "cost_usd": 0.5, "tags": "x, y"}
    node = first_rows("g", COLUMNS, [record] * (SHOWN + 5))
    rows = _texts(node)
    assert len(rows) == SHOWN
    fields = [c["field"] for c in COLUMNS]
    row = dict(zip(fields, rows[0], strict=True))
    assert row["id"] == "7" and row["progress"] == "50%" and row["cost_usd"] == "$0.50"
    assert row["tags"] == "x, y" and row["error_message"] == ""
    assert getattr(node, "id", None) == "g-first" and not getattr(node, "hidden", None)


def test_no_rows_draw_nothing() -> None:
    node = first_rows("g", COLUMNS, [])
    assert getattr(node, "hidden", None) and not node.children
