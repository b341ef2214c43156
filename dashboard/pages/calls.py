"""Dashboard layer: the calls page — every task's calls (model and tool invocations) in one filterable, sortable
grid with server-side paging (dash-ag-grid's infinite row model), its filters and sort kept in the address and
its CSV link; a row opens its task. Its columns are the declared view's (db/read/call_view.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html

from dashboard import ids
from dashboard.clientside import js
from dashboard.components import infinitegrid
from dashboard.components.download import download_link, export_url
from dashboard.components.firstrows import SHOWN, first_rows
from dashboard.components.gridcolumns import column_defs
from dashboard.components.hinted import hinted
from dashboard.components.infinitegrid import SET_EMPTY_STATE, empty_state, filtered, infinite_grid
from dashboard.pagequery import grid_sort, listed, single, sorted_columns
from dashboard.services import Services
from db.core.timeutil import utcnow
from db.domain.states import CallKind, InvocationStatus
from db.read.call_view import CALLS
from db.read.calls import listing
from db.read.calls.filters import CallFilter
from db.read.timerange import RANGES

PATH = "/calls"
TITLE = "Calls"
# The navbar is full (dashboard/navigation.py): the tasks page links here ("All calls"), as does `g l` and
# each task's page (its calls, `?task=N`).
NAV = None
LINKED_FROM = "/tasks"

COLUMNS = column_defs(CALLS)
# What the grid says with no rows: on an empty database how to get calls, else that the filters match none.
EMPTY = empty_state("calls")

GRID = "calls-grid"
F_TASK = "calls-filter-task"
F_KIND = "calls-filter-kind"
F_STATUS = "calls-filter-status"
F_MODEL = "calls-filter-model"
F_NAME = "calls-filter-name"
F_RANGE = "calls-filter-range"
F_MIN_COST = "calls-filter-min-cost"
EXPORT = "export-calls"
NAME_HINT = "Calls whose name or model contains this text"
FILTERS = (F_TASK, F_KIND, F_STATUS, F_MODEL, F_NAME, F_RANGE, F_MIN_COST)
# Their parameters in the address: those of the API and the CSV (db/read/calls/filters.FILTER_PARAMS).
PARAMS = ("task", "kind", "status", "model", "name", "range", "min_cost")


def _number(text: Any, kind: type[int] | type[float]) -> Any:
    try:
        value = kind(str(text)) if text not in (None, "") else None
    except ValueError:
        return None
    return value if value is None or value >= 0 else None


@dataclass(frozen=True)
class View:
    """The page's filters and sort as its address (and its CSV link) carries them, in the parameter names of
    GET /api/v1/calls (db/read/calls/filters.FILTER_PARAMS)."""

    task: int | None
    kind: list[str]
    status: list[str]
    model: str | None
    name: str | None
    range: str | None
    min_cost: float | None
    sort: list[tuple[str, str]]

    @classmethod
    def from_query(cls, query: dict[str, Any]) -> View:
        range_ = single(query.get("range"))
        task = _number(single(query.get("task")), int)
        return cls(
            task=task or None,
            kind=[v for v in listed(query.get("kind")) if v in {k.value for k in CallKind}],
            status=[v for v in listed(query.get("status")) if v in {s.value for s in InvocationStatus}],
            model=single(query.get("model")),
            name=single(query.get("name")),
            range=range_ if range_ in RANGES else None,
            min_cost=_number(single(query.get("min_cost")), float),
            sort=grid_sort(query.get("sort"), CALLS.sortable),
        )

    @property
    def filters(self) -> tuple[Any, ...]:
        """The values in the order of FILTERS (the callbacks' States)."""
        return (self.task, self.kind, self.status, self.model, self.name, self.range, self.min_cost)


def filter_from(
    task: Any, kind: Any, status: Any, model: Any, name: Any, range_: Any, min_cost: Any
) -> CallFilter:
    """The one CallFilter from the page's fields (what the API and the CSV read from the same names)."""
    since = RANGES.get(range_) if isinstance(range_, str) else None
    return CallFilter(
        task_id=_number(task, int) or None,
        kinds=tuple(kind or ()),
        statuses=tuple(status or ()),
        model=(model or "").strip() or None,
        name=(name or "").strip() or None,
        min_cost=_number(min_cost, float),
        started_from=utcnow() - since if since else None,
    )


def _filters(view: View) -> dbc.Row:
    def text(ident: str, value: Any, placeholder: str, kind: str = "search", hint: str | None = None) -> Any:
        field = dbc.Input(id=ident, value=value, placeholder=placeholder, debounce=True, type=kind)
        # A placeholder short enough for its box; where there is more to say, the full hint is its label.
        return hinted(field, hint) if hint else field

    def choose(ident: str, options: list[str], value: list[str], placeholder: str) -> dcc.Dropdown:
        return dcc.Dropdown(id=ident, options=options, value=value, multi=True, placeholder=placeholder)

    cols = [
        (text(F_TASK, view.task, "task #", "number"), 1),
        (choose(F_KIND, [k.value for k in CallKind], view.kind, "kind"), 2),
        (choose(F_STATUS, [s.value for s in InvocationStatus], view.status, "status"), 2),
        (text(F_MODEL, view.model, "model (exact)"), 2),
        (text(F_NAME, view.name, "name or model", hint=NAME_HINT), 2),
        (
            dcc.Dropdown(
                id=F_RANGE,
                options=[{"label": f"last {k}", "value": k} for k in RANGES],
                value=view.range,
                placeholder="any time",
            ),
            2,
        ),
        (text(F_MIN_COST, view.min_cost, "min $", "number"), 1),
    ]
    return dbc.Row([dbc.Col(c, md=w) for c, w in cols], className="g-2 mb-2")


def layout(**query: Any) -> html.Div:
    view = View.from_query(query)
    columns = sorted_columns(COLUMNS, view.sort)
    return html.Div(
        [
            html.Div(
                [html.H3("Calls", className="mb-0"), download_link(EXPORT, export_url("calls"))],
                className="d-flex justify-content-between align-items-center mb-3",
            ),
            _filters(view),
            html.Div(
                # task/call: unique, and a click names the task to open (cellClicked has the row id, not its data).
                [
                    _first_rows(view, columns),
                    infinite_grid(
                        GRID,
                        columns,
                        "params.data.task_id + '/' + params.data.id",
                        empty=EMPTY.template(filtered(view.filters)),
                    ),
                ],
                className="tasklens-grid-wrap",
            ),
        ]
    )


# The first rows drawn into the layout (components/firstrows.py): the page's reader, set by register().
_first_block: list[Any] = []


def _first_rows(view: View, columns: list[dict[str, Any]]) -> Any:
    request = {"startRow": 0, "endRow": SHOWN, "sortModel": [{"colId": c, "sort": d} for c, d in view.sort]}
    block = _first_block[0](request, *view.filters) if _first_block else {"rowData": []}
    return first_rows(GRID, columns, block["rowData"], CALLS)


def rows(svc: Services, request: dict[str, Any] | None, *filters: Any) -> dict[str, Any]:
    """One block of the infinite grid. Filters or sorts that do not parse give an empty block, not an error."""

    def read(sort: list[tuple[str, str]], start: int, end: int) -> Any:
        call_filter = filter_from(*filters)
        with svc.db.reading() as session:
            return listing.call_page(session, call_filter, sort, start, end)

    block = infinitegrid.block(CALLS, request, read)
    block["rowData"] = [named(r) for r in block["rowData"]]
    return block


def named(record: dict[str, Any]) -> dict[str, Any]:
    """A row as the grid shows it: an LLM call's Name is its model. Only tools and agents report a name, so on
    every LLM row the Name column stood empty; the grid's one row per call now says what was called in one
    column for every kind (the Model column keeps the model, to sort and compare by)."""
    if not record.get("name") and record.get("kind") == CallKind.LLM.value:
        record["name"] = record.get("model")
    return record


def task_href(cell: dict[str, Any] | None) -> str:
    """The task page of a clicked row; a row without a usable task changes nothing."""
    try:
        task_id = int(str((cell or {}).get("rowId")).partition("/")[0])
    except ValueError:
        raise dash.exceptions.PreventUpdate from None
    return f"/tasks/{task_id}"


def register(app: dash.Dash, svc: Services) -> None:
    _first_block[:] = [lambda request, *filters: rows(svc, request, *filters)]

    @app.callback(
        Output(GRID, "getRowsResponse"),
        Input(GRID, "getRowsRequest"),
        *(State(f, "value") for f in FILTERS),
        prevent_initial_call=True,
    )
    def _rows(request: dict[str, Any] | None, *filters: Any) -> Any:
        return rows(svc, request, *filters)

    # New filters: drop the grid's blocks so it asks again.
    app.clientside_callback(
        js(
            """
            function(...values) {
                let api = null;
                try { api = dash_ag_grid.getApi($grid); } catch (e) { api = null; }  // not mounted yet
                if (!api) { return window.dash_clientside.no_update; }
            """
            + SET_EMPTY_STATE
            + """
                api.purgeInfiniteCache();
                return window.dash_clientside.no_update;
            }
            """,
            grid=GRID,
            empty=asdict(EMPTY),
        ),
        Output(GRID, "id"),
        *(Input(f, "value") for f in FILTERS),
        prevent_initial_call=True,
    )

    infinitegrid.show_empty_state(app, GRID)
    infinitegrid.keep_address(
        app,
        grid=GRID,
        path=PATH,
        base=export_url("calls"),
        link=EXPORT,
        filters=dict(zip(PARAMS, FILTERS, strict=True)),
        default=CALLS.default_sort,
    )

    @app.callback(
        Output(ids.URL, "href", allow_duplicate=True),
        Input(GRID, "cellClicked"),
        prevent_initial_call=True,
    )
    def open_task(cell: dict[str, Any] | None) -> str:
        return task_href(cell)
