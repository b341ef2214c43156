"""Dashboard layer: a declared view's grid columns as dash-ag-grid columnDefs — size from the field's Grid,
header from its label, the value formatter from its format kind (the browser's formatters are reports/fmt's
rules: assets/formats.js, assets/localtime.js) — and its rows' cells as the grid shows them."""

from __future__ import annotations

from typing import Any

from dashboard.components.fmt import missing
from db.read.views import Field, Fmt, View

# Placeholder rows of a block still loading have no value: blank, not "NaN%".
PROGRESS = "params.value == null ? '' : d3.format('.0f')(params.value) + '%'"
FORMATTERS = {
    Fmt.PROGRESS: PROGRESS,
    Fmt.COUNT: "tasklensCount(params.value)",  # reports/fmt.count: "29,518" (assets/formats.js)
    Fmt.TOKENS: "tasklensCount(params.value)",  # reports/fmt.tokens, the same
    Fmt.MONEY: "tasklensMoney(params.value)",  # reports/fmt.money (assets/formats.js)
    Fmt.DURATION: "tasklensDuration(params.value)",  # reports/fmt.duration (assets/formats.js)
    Fmt.TIMESTAMP: "tasklensTime(params.value)",
}


# The tasks and calls grids' inner width in a 1400 px window (the page's 12 px margins and the grid's borders off).
# Their columns at their least widths (a fixed column's width, a flexible one's minWidth) fit in it, so from
# 1400 px every column shows without scrolling sideways and the flexible ones (title, tags, worker, error) share
# what is left; narrower, the grid scrolls sideways in its box, no column below its least width. At 1440 px
# 13 columns at the theme's 16 px cell padding came to ~1,790 px and the last three were off-screen: the widths
# in the views (db/read/task_view.py, call_view.py) are for 8 px (assets/tasklens.css) and 14 px text.
FITS = 1374
DEFAULT_WIDTH = 200  # AG Grid's width for a column that names none


def least_width(columns: list[dict[str, Any]]) -> int:
    """How wide the grid's columns are at the least: what does not fit FITS scrolls sideways at 1400 px."""
    return sum(int(c.get("width") or c.get("minWidth") or DEFAULT_WIDTH) for c in columns)


def column_def(field: Field, sort: str | None = None) -> dict[str, Any]:
    grid = field.grid
    assert grid is not None, f"{field.name} has no grid column"
    # Every header named, in sentence case ("Worker", "Created (UTC)" beside "Title"): AG Grid capitalises only
    # the fields it names itself, so a label ("worker") stood lower-case beside them and "input_tokens" raw.
    col: dict[str, Any] = {"field": field.name, "headerName": field.heading}
    if field.fmt is Fmt.TIMESTAMP:
        # Shown in UTC or the browser's zone by the "local time" switch (assets/localtime.js), header included.
        col["headerName"] = f"{field.heading} (UTC)"
        col["headerValueGetter"] = {"function": f"tasklensTimeHeader('{field.heading}')"}
    if grid.width is not None:
        col["width"] = grid.width
    if grid.flex is not None:
        col["flex"] = grid.flex
        # A flexible column is cut first when the window is narrow ("agent-0…"): its whole text on hover, shown
        # only where it is cut (the grid's tooltipShowMode, components/infinitegrid.py).
        col["tooltipField"] = field.name
    if grid.min_width is not None:
        col["minWidth"] = grid.min_width
    if not field.sortable:
        col["sortable"] = False
    if field.fmt in FORMATTERS:
        col["valueFormatter"] = {"function": FORMATTERS[field.fmt]}
    if sort is not None:
        col["sort"] = sort
    return col


def column_defs(view: View) -> list[dict[str, Any]]:
    """The grid's columns left to right, the view's default sort on its column."""
    column, direction = view.default_sort
    return [column_def(f, direction if f.name == column else None) for f in view.grid_fields]


def row_cells(view: View, record: dict[str, Any]) -> dict[str, Any]:
    """One row as the grid's cells: times as 'YYYY-MM-DD HH:MM:SS' UTC text (the browser's tasklensTime reads
    it), lists joined with ', '."""
    for f in view.row_fields:
        if f.name not in record:
            continue
        value = record[f.name]
        if f.is_time:
            record[f.name] = value.strftime("%Y-%m-%d %H:%M:%S") if not missing(value) else None
        elif f.is_list:
            record[f.name] = ", ".join(value or [])
    return record
