"""Dashboard layer: the tasks page — a live board (queued / running / completed / failed) and a filterable,
sortable table with server-side paging (dash-ag-grid's infinite row model)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, dcc, html

from dashboard import ids
from dashboard.clientside import js
from dashboard.components import infinitegrid
from dashboard.components.board import board
from dashboard.components.download import download_link, export_url
from dashboard.components.firstrows import SHOWN, first_rows
from dashboard.components.gridcolumns import column_defs
from dashboard.components.hinted import hinted
from dashboard.components.infinitegrid import SET_EMPTY_STATE, empty_state, filtered, infinite_grid
from dashboard.components.static import Static
from dashboard.navigation import NavEntry
from dashboard.pagequery import grid_sort, listed, single, sorted_columns
from dashboard.services import Services
from db.core.timeutil import utcnow
from db.domain.states import TaskKind, TaskStatus
from db.read.task_view import TASKS
from db.read.tasks import listing
from db.read.tasks.board import lane_cards, lane_counts
from db.read.tasks.filters import TaskFilter
from db.read.timerange import RANGES

PATH = "/tasks"
TITLE = "Tasks"
NAV = NavEntry("Tasks", 1)

CALLS_PATH = "/calls"  # every task's calls in one grid (dashboard/pages/calls.py)
ALL_CALLS = "tasks-all-calls"

TEXT_HINT = "Search title, creator, #id, address or external id"

# What the grid says with no rows: on an empty database how to get tasks, else that the filters match none.
EMPTY = empty_state("tasks")

# The grid's columns: derived from the declared view of tasks (db/read/task_view.py).
COLUMNS = column_defs(TASKS)


@dataclass(frozen=True)
class View:
    """The filters and sort of the tasks page, as its URL (and its CSV link) carries them: status and kind
    repeat, sort=column:asc|desc repeats. Values the page does not know are left out, never an error."""

    status: list[str]
    kind: list[str]
    worker: str | None
    tag: str | None
    text: str | None
    range: str | None
    sort: list[tuple[str, str]]
    messages: str | None = None

    @classmethod
    def from_query(cls, query: dict[str, Any]) -> View:
        statuses = {s.value for s in TaskStatus}
        kinds = {k.value for k in TaskKind}
        sort = grid_sort(query.get("sort"), listing.SORTABLE)
        range_ = single(query.get("range"))
        return cls(
            status=[v for v in listed(query.get("status")) if v in statuses],
            kind=[v for v in listed(query.get("kind")) if v in kinds],
            worker=single(query.get("worker")),
            tag=single(query.get("tag")),
            text=single(query.get("text")),
            range=range_ if range_ in RANGES else None,
            sort=sort,
            messages=single(query.get("messages")),
        )

    @property
    def filters(self) -> tuple[Any, ...]:
        """The filter values in the order of the grid's callbacks' States (the sort aside)."""
        return (self.status, self.kind, self.worker, self.tag, self.text, self.range, self.messages)

    def columns(self) -> list[dict[str, Any]]:
        """The grid's columns with this view's sort on them (newest first when it has none)."""
        return sorted_columns(COLUMNS, self.sort)


def _filters(view: View) -> dbc.Row:
    return dbc.Row(
        [
            dbc.Col(
                dcc.Dropdown(
                    id=ids.F_STATUS,
                    options=[s.value for s in TaskStatus],
                    value=view.status,
                    multi=True,
                    placeholder="status",
                    maxHeight=280,
                ),
                md=2,
            ),
            dbc.Col(
                dcc.Dropdown(
                    id=ids.F_KIND,
                    options=[k.value for k in TaskKind],
                    value=view.kind,
                    multi=True,
                    placeholder="kind",
                ),
                md=2,
            ),
            dbc.Col(
                dcc.Dropdown(
                    id=ids.F_WORKER,
                    value=view.worker,
                    options=[view.worker] if view.worker else [],
                    placeholder="worker",
                ),
                md=2,
            ),
            dbc.Col(dbc.Input(id=ids.F_TAG, value=view.tag, placeholder="tag", debounce=True), md=2),
            dbc.Col(
                hinted(
                    # The placeholder fits the box's ~200 px at 1440 (the whole hint was cut): it is the label.
                    dbc.Input(
                        id=ids.F_TEXT,
                        value=view.text,
                        placeholder="title, #id, …",
                        debounce=True,
                        type="search",
                    ),
                    TEXT_HINT,
                ),
                md=2,
            ),
            dbc.Col(
                dcc.Dropdown(
                    id=ids.F_RANGE,
                    options=[{"label": f"last {k}", "value": k} for k in RANGES],
                    value=view.range,
                    placeholder="any time",
                ),
                md=2,
            ),
            # A seventh column: it wraps below the first six at any width, so no width scrolls sideways.
            dbc.Col(
                dbc.Input(
                    id=ids.F_MESSAGES,
                    value=view.messages,
                    placeholder="search prompts and responses",
                    debounce=True,
                    type="search",
                ),
                md=4,
            ),
        ],
        className="g-2 mb-2",
    )


def layout(**query: Any) -> html.Div:
    view = View.from_query(query)
    return html.Div(
        [
            html.H3("Tasks", className="mb-3"),
            html.Div(id=ids.BOARD, className="mb-4"),
            html.Div(
                [
                    html.H5("All tasks", className="mb-0"),
                    html.Div(
                        [
                            dcc.Link("All calls", href=CALLS_PATH, id=ALL_CALLS, className="me-3"),
                            download_link(ids.EXPORT_TASKS, export_url("tasks")),
                        ],
                        className="d-flex align-items-center",
                    ),
                ],
                className="d-flex justify-content-between align-items-center mb-2",
            ),
            _filters(view),
            html.Div([_first_rows(view), _grid(view)], className="tasklens-grid-wrap"),
        ]
    )


# The first rows drawn into the layout (components/firstrows.py): the page's reader, set by register().
_first_block: list[Any] = []


def _first_rows(view: View) -> Any:
    request = {"startRow": 0, "endRow": SHOWN, "sortModel": [{"colId": c, "sort": d} for c, d in view.sort]}
    block = _first_block[0](request, *view.filters) if _first_block else {"rowData": []}
    return first_rows(ids.GRID, view.columns(), block["rowData"])


def _grid(view: View) -> Any:
    return infinite_grid(ids.GRID, view.columns(), empty=EMPTY.template(filtered(view.filters)))


def filter_from(
    status: Any, kind: Any, worker: Any, tag: Any, text: Any, range_: Any, messages: Any = None
) -> TaskFilter:
    since = RANGES.get(range_) if isinstance(range_, str) else None
    return TaskFilter(
        statuses=tuple(status or ()),
        kinds=tuple(kind or ()),
        worker=worker or None,
        tag=(tag or "").strip() or None,
        text=(text or "").strip() or None,
        messages=(messages or "").strip() or None,
        created_from=utcnow() - since if since else None,
    )


def rows_response(frame: Any, total: int | None) -> dict[str, Any]:
    return infinitegrid.rows_response(TASKS, frame, total)


def board_view(svc: Services) -> Any:
    now = utcnow()
    with svc.db.reading() as session:
        lanes = lane_cards(session)
        counts = lane_counts(session, now)
    return board(lanes, counts, now, svc.settings.stuck_after_seconds)


def rows(svc: Services, request: dict[str, Any] | None, *filters: Any) -> dict[str, Any]:
    """One block of the infinite grid. Filters or sorts that do not parse give an empty block, not an error."""

    def read(sort: list[tuple[str, str]], start: int, end: int) -> Any:
        task_filter = filter_from(*filters)
        with svc.db.reading() as session:
            return listing.task_page(session, task_filter, sort, start, end)

    return infinitegrid.block(TASKS, request, read)


def task_href(cell: dict[str, Any] | None) -> str:
    """The detail page of a clicked row; a click that carries no usable row id changes nothing."""
    try:
        task_id = int(str((cell or {}).get("rowId")))
    except ValueError:
        raise dash.exceptions.PreventUpdate from None
    return f"/tasks/{task_id}"


def register(app: dash.Dash, svc: Services) -> None:
    _first_block[:] = [lambda request, *filters: rows(svc, request, *filters)]

    @app.callback(Output(ids.BOARD, "children"), Input(ids.SIGNAL, "data"))
    def _board(_signal: Any) -> Any:
        # One Static: ~100 cards drawn without a Dash wrapper per node (dashboard/components/static.py).
        return Static(board_view(svc))

    @app.callback(
        Output(ids.GRID, "getRowsResponse"),
        Input(ids.GRID, "getRowsRequest"),
        State(ids.F_STATUS, "value"),
        State(ids.F_KIND, "value"),
        State(ids.F_WORKER, "value"),
        State(ids.F_TAG, "value"),
        State(ids.F_TEXT, "value"),
        State(ids.F_RANGE, "value"),
        State(ids.F_MESSAGES, "value"),
        prevent_initial_call=True,
    )
    def _rows(request: dict[str, Any] | None, *filters: Any) -> Any:
        return rows(svc, request, *filters)

    @app.callback(Output(ids.F_WORKER, "options"), Input(ids.F_WORKER, "id"), State(ids.F_WORKER, "value"))
    def worker_options(_id: str, chosen: str | None) -> list[str]:
        with svc.db.reading() as session:
            known = listing.worker_ids(session)
        return known if not chosen or chosen in known else [chosen, *known]  # a linked view keeps its worker

    # New filters: drop the grid's blocks so it asks again. New events: reload the visible rows in place.
    app.clientside_callback(
        js(
            """
            function(signal, status, kind, worker, tag, text, range, messages) {
                let api = null;
                try { api = dash_ag_grid.getApi($grid); } catch (e) { api = null; }  // not mounted yet
                if (!api) { return window.dash_clientside.no_update; }
                const trig = (dash_clientside.callback_context.triggered || []).map(t => t.prop_id);
                const fromSignal = trig.length && trig.every(p => p.indexOf($signal) === 0);
                if (fromSignal) {
                    if (signal && signal.reason === "events" && (!signal.tasks || !signal.tasks.length)) {
                        return window.dash_clientside.no_update;
                    }
                    api.refreshInfiniteCache();
                } else {
                    const values = [status, kind, worker, tag, text, range, messages];
            """
            + SET_EMPTY_STATE
            + """
                    api.purgeInfiniteCache();
                }
                return window.dash_clientside.no_update;
            }
            """,
            grid=ids.GRID,
            signal=ids.SIGNAL,
            empty=asdict(EMPTY),
        ),
        Output(ids.GRID, "id"),
        Input(ids.SIGNAL, "data"),
        Input(ids.F_STATUS, "value"),
        Input(ids.F_KIND, "value"),
        Input(ids.F_WORKER, "value"),
        Input(ids.F_TAG, "value"),
        Input(ids.F_TEXT, "value"),
        Input(ids.F_RANGE, "value"),
        Input(ids.F_MESSAGES, "value"),
        prevent_initial_call=True,
    )

    infinitegrid.show_empty_state(app, ids.GRID)
    infinitegrid.keep_address(
        app,
        grid=ids.GRID,
        path=PATH,
        base=export_url("tasks"),
        link=ids.EXPORT_TASKS,
        filters={
            "status": ids.F_STATUS,
            "kind": ids.F_KIND,
            "worker": ids.F_WORKER,
            "tag": ids.F_TAG,
            "text": ids.F_TEXT,
            "range": ids.F_RANGE,
            "messages": ids.F_MESSAGES,
        },
        default=TASKS.default_sort,
    )

    @app.callback(
        Output(ids.URL, "href", allow_duplicate=True),
        Input(ids.GRID, "cellClicked"),
        prevent_initial_call=True,
    )
    def open_task(cell: dict[str, Any] | None) -> str:
        return task_href(cell)
