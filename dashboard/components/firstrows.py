"""Dashboard layer (component): the first rows of an infinite AG Grid drawn as a plain table in the page's
layout, over the grid's place, so they show as soon as Dash renders the layout, before the grid's 2 MB of
JavaScript has loaded and asked for its first block. assets/handover.js removes the table once the grid
shows rows of its own. Pure: columns (the grid's defs) and records (as the grid's block answer) in."""

from __future__ import annotations

from typing import Any

from dash import html

from dashboard.components.gridcolumns import FORMATTERS
from dashboard.components.static import Static
from db.read.task_view import TASKS
from db.read.views import Fmt, View
from reports.fmt import KINDS

SHOWN = 15  # about what the grid's 560 px show; the rest come with the grid
CLASS = "tasklens-first-rows"


# The field whose value names a task, by view: its cell links to the task's page, as a click on the grid's row.
TASK_LINKS = {"tasks": "id", "invocations": "task_id"}


def _cell(column: dict[str, Any], record: dict[str, Any], view: View) -> Any:
    field = column["field"]
    value = record.get(field)
    if value is None or value == "":
        return ""
    fmt = view[field].fmt  # the view the grid's columns come from (as its value formatters)
    if fmt is Fmt.ID and TASK_LINKS.get(view.entity) == field:
        return html.A(str(value), href=f"/tasks/{value}")
    if fmt in FORMATTERS and fmt is not Fmt.TIMESTAMP:  # as the grid's valueFormatters (times come as text)
        return KINDS[fmt](float(value))
    return str(value)


def first_rows(
    grid_id: str, columns: list[dict[str, Any]], records: list[dict[str, Any]], view: View = TASKS
) -> html.Div:
    """A table shaped like the grid (its columns' headers and widths), `SHOWN` rows at most. Empty records:
    an empty Div (the grid says "no rows" itself)."""
    if not records:
        return html.Div(id=f"{grid_id}-first", className=CLASS, hidden=True)
    # AG Grid's own header for a column without a name: the field, words capitalised.
    header = html.Tr([html.Th(c.get("headerName") or c["field"].replace("_", " ").title()) for c in columns])
    # The grid gives a flexible column its minimum width when the columns overflow, as here: the same widths.
    px = [int(c.get("width") or c.get("minWidth", 120)) for c in columns]
    widths = [html.Col(style={"width": f"{w}px"}) for w in px]
    body = [html.Tr([html.Td(_cell(c, r, view)) for c in columns]) for r in records[:SHOWN]]
    # One Static: ~200 cells drawn without a Dash wrapper each (components/static.py).
    which: dict[str, Any] = {"data-grid": grid_id}  # assets/handover.js finds the grid by it
    return html.Div(
        Static(
            html.Table(
                [html.Colgroup(widths), html.Thead(header), html.Tbody(body)],
                style={"width": f"{sum(px)}px"},
            )
        ),
        id=f"{grid_id}-first",
        className=CLASS,
        **which,
    )
