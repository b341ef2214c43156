"""Dashboard layer (component): a server-paged table — dash-ag-grid's infinite row model — as the tasks and calls
pages draw it: the grid, one block's answer from a read, and the clientside callback that keeps the page's address
and its CSV link in step with its filters and sort."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from html import escape
from typing import Any

import dash
import dash_ag_grid as dag
import pandas as pd
from dash import Input, Output

from dashboard.clientside import js
from dashboard.components.gridcolumns import row_cells
from db.read.views import View

BLOCK = 100
Read = Callable[[list[tuple[str, str]], int, int], tuple[pd.DataFrame, int | None]]


@dataclass(frozen=True)
class EmptyState:
    """What the grid says when it has no rows, instead of AG Grid's stock "No Rows To Show" in a blank box:
    `none` (nothing recorded yet: how to get some, as HTML) or `filtered` (the filters match nothing)."""

    none: str
    filtered: str

    def template(self, filtered: bool) -> str:
        return self.filtered if filtered else self.none


def empty_state(noun: str) -> EmptyState:
    """ "No tasks yet — start python app.py --demo or submit a task", or "No tasks match these filters". Text
    only: the overlay lies inside the grid's role="grid", where a link is a child axe does not allow (critical
    aria-required-children); Submit is in the navbar."""
    noun = escape(noun)
    return EmptyState(
        none=(
            f'<span class="tasklens-empty">No {noun} yet — start <code>python app.py --demo</code> '
            "or submit a task</span>"
        ),
        filtered=f'<span class="tasklens-empty">No {noun} match these filters</span>',
    )


def filtered(values: list[Any] | tuple[Any, ...]) -> bool:
    """Whether any filter holds a value (a list with an item, a text not blank), as the browser decides it too
    (SET_EMPTY_STATE)."""
    return any(
        bool(v) if isinstance(v, list | tuple) else v is not None and str(v).strip() != "" for v in values
    )


# The body of a clientside callback that shows the filters' empty state: `api` the grid's, `values` the filters'.
SET_EMPTY_STATE = """
    const isSet = (v) => Array.isArray(v) ? v.length > 0 : v !== null && v !== undefined && String(v).trim() !== "";
    const empty = $empty;
    api.setGridOption("overlayNoRowsTemplate", values.some(isSet) ? empty.filtered : empty.none);
    let withData = false;
    api.forEachNode(node => { if (node.data) { withData = true; } });
    if (!withData) { api.hideOverlay(); api.showNoRowsOverlay(); }  // an overlay shown takes the new words
"""


def infinite_grid(
    grid_id: str,
    columns: list[dict[str, Any]],
    row_id: str = "'' + params.data.id",
    empty: str | None = None,
) -> Any:
    """The grid; `row_id` is AG Grid's getRowId (dash-ag-grid evaluates it with few globals: no String());
    `empty` its no-rows overlay (EmptyState.template)."""
    return dag.AgGrid(
        id=grid_id,
        columnDefs=columns,
        rowModelType="infinite",
        getRowId=row_id,
        defaultColDef={"resizable": True, "sortable": True},
        dashGridOptions={
            "cacheBlockSize": BLOCK,
            "maxBlocksInCache": 20,
            "rowBuffer": 0,
            "infiniteInitialRowCount": BLOCK,
            # One block request at a time: dash-ag-grid answers only a grid's latest request, and
            # AG Grid frees a request slot only on an answer, so with two in flight (a push refreshing
            # a block still loading) the older one held its slot for good, and after two such the grid
            # never loaded again. A request whose answer is lost anyway is asked again
            # (assets/gridwatch.js, for grids marked tasklens-infinite).
            "maxConcurrentDatasourceRequests": 1,
            "rowSelection": {"mode": "singleRow", "checkboxes": False},
            # A cut cell's whole text (a flexible column's tooltipField, components/gridcolumns.py), and only a
            # cut one's: a tooltip repeating what the cell shows is noise.
            "tooltipShowMode": "whenTruncated",
            "tooltipShowDelay": 500,
            # As a JS string expression: dash-ag-grid drops an HTML template given as a plain string (unless
            # the whole grid allows code), and evaluates one given as a function.
            **({"overlayNoRowsTemplate": {"function": json.dumps(empty)}} if empty else {}),
        },
        style={"height": "560px"},
        className="ag-theme-alpine tasklens-infinite",
    )


# The row count of an answer without rows. dash-ag-grid 35.3 loses the first answer after one whose row count is
# 0 (it hands it on in a timer that its own clearing of the answer cancels, and sets the grid's row count to
# that answer's, -1 when not known yet): a filter that matched nothing, then cleared, left the grid empty for
# good, and on an empty database the first task never showed until a reload. One blank row instead, under the
# no-rows overlay (show_empty_state), and hidden while the overlay shows (assets/tasklens.css).
EMPTY_COUNT = 1


def rows_response(view: View, frame: pd.DataFrame, total: int | None) -> dict[str, Any]:
    records = [row_cells(view, r) for r in frame.to_dict("records")]
    count = -1 if total is None else total or EMPTY_COUNT
    return {"rowData": records, "rowCount": count}


def block(view: View, request: dict[str, Any] | None, read: Read) -> dict[str, Any]:
    """One block of the grid: `read(sort, start, end)` for the grid's request. Filters or sorts that do not
    parse (a ValueError or TypeError from `read`) give an empty block, not an error."""
    if not request:
        raise dash.exceptions.PreventUpdate
    sort = [(str(s.get("colId")), str(s.get("sort"))) for s in request.get("sortModel") or []]
    try:
        start, end = int(request.get("startRow", 0)), int(request.get("endRow", BLOCK))
        frame, total = read(sort, start, end)
    except (ValueError, TypeError):
        return {"rowData": [], "rowCount": EMPTY_COUNT}
    return rows_response(view, frame, total)


def show_empty_state(app: dash.Dash, grid: str) -> None:
    """Shows the no-rows overlay on every answer without rows. It showed only when the row count turned to 0:
    on an empty database a filter typed (0 rows again) left a blank box with one blank row, not saying that the
    filters match nothing (and an empty answer now counts one row: EMPTY_COUNT)."""
    app.clientside_callback(
        js(
            """
            function() {
                let api = null;
                try { api = dash_ag_grid.getApi($grid); } catch (e) { api = null; }  // not mounted yet
                if (!api) { return window.dash_clientside.no_update; }
                // dash-ag-grid hands the answer on and clears the prop at once, so this reads the grid once it
                // took the answer: no row with data among at most one is an answer of no rows (more: a block
                // whose rows are on their way). The overlay, shown by hand, lies over the one blank row, which
                // is hidden while it shows (assets/tasklens.css).
                setTimeout(() => {
                    let withData = false;
                    api.forEachNode(node => { if (node.data) { withData = true; } });
                    const shown = api.getDisplayedRowCount();
                    api.hideOverlay();  // rows again; or shown anew below, in the template of the filters now
                    if (withData || (shown !== 0 && shown !== 1)) { return; }
                    api.showNoRowsOverlay();
                }, 100);
                return window.dash_clientside.no_update;
            }
            """,
            grid=grid,
        ),
        Output(grid, "id", allow_duplicate=True),
        Input(grid, "getRowsResponse"),
        prevent_initial_call=True,
    )


def keep_address(
    app: dash.Dash,
    *,
    grid: str,
    path: str,
    base: str,
    link: str,
    filters: dict[str, str],
    default: tuple[str, str],
) -> None:
    """The download link `link` and the page's own address carry the grid's filters (`filters`: parameter name
    → component id; a list value repeats the parameter) and sort (the sort model of the grid's latest block
    request, left out when it is `default`), in the parameters dashboard/exports.py and the page's layout read
    back. In the browser, as the grid asks for a block on every scroll. The address is replaced, not navigated
    to: a bookmark or a shared link opens the same view, and typing in a filter redraws nothing."""
    app.clientside_callback(
        js(
            """
            function(...args) {
                const request = args[args.length - 1];
                const p = new URLSearchParams();
                $names.forEach((name, i) => {
                    const value = args[i];
                    (Array.isArray(value) ? value : [value]).forEach(v => {
                        if (v !== null && v !== undefined && String(v).trim()) { p.append(name, String(v).trim()); }
                    });
                });
                const sortModel = (request && request.sortModel) || [];
                const isDefault = sortModel.length === 1 && sortModel[0].colId === $column
                    && sortModel[0].sort === $direction;  // not worth a parameter
                if (!isDefault) { sortModel.forEach(s => p.append("sort", s.colId + ":" + s.sort)); }
                const query = p.toString();
                if (window.location.pathname === $path) {
                    const here = $path + (query ? "?" + query : "");
                    if (window.location.pathname + window.location.search !== here) {
                        window.history.replaceState(window.history.state, "", here);
                    }
                }
                return $base + (query ? "?" + query : "");
            }
            """,
            names=list(filters),
            column=default[0],
            direction=default[1],
            path=path,
            base=base,
        ),
        Output(link, "href"),
        *(Input(ident, "value") for ident in filters.values()),
        Input(grid, "getRowsRequest"),
    )
