"""Dashboard layer: a page's address read back (pure) — query parameters as Dash's pages pass them to a layout
(a string once, a list repeated) and a grid's sort (column:asc|desc, repeated) applied to its columns. Values a
page does not know are left out, never an error: an old bookmark still opens."""

from __future__ import annotations

from typing import Any


def listed(value: Any) -> list[str]:
    """A query parameter given once (a string) or repeated (a list)."""
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value] if isinstance(value, list) else []


def single(value: Any) -> str | None:
    values = listed(value)
    return values[-1].strip() or None if values else None


def grid_sort(value: Any, sortable: frozenset[str]) -> list[tuple[str, str]]:
    """The sort a page's address carries (sort=column:asc|desc, repeated), the columns it may sort by only."""
    out = []
    for item in listed(value):
        column, _, direction = item.partition(":")
        if column in sortable and direction in ("asc", "desc"):
            out.append((column, direction))
    return out


def sorted_columns(columns: list[dict[str, Any]], sort: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """The grid's columns with this sort on them (the columns' own default sort when it has none)."""
    if not sort:
        return columns
    order = {column: (i, direction) for i, (column, direction) in enumerate(sort)}
    out = []
    for col in columns:
        col = {k: v for k, v in col.items() if k not in ("sort", "sortIndex")}
        if col["field"] in order:
            col["sortIndex"], col["sort"] = order[col["field"]]
        out.append(col)
    return out
