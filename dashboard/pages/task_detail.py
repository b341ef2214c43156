"""Dashboard layer: one task's page (`/tasks/<id>`) in three perspectives — user, system, database — with its
timeline and a live activity stream that auto-scrolls and can pause; a Celery task's controls
(dashboard/celery_panel.py)."""

from __future__ import annotations

from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Input, Output, Patch, State, dcc, html

from dashboard import access, celery_panel, figures, ids
from dashboard.clientside import js
from dashboard.components import calltree, detail
from dashboard.components.cards import header_with
from dashboard.components.download import download_link, export_url
from dashboard.services import Services
from db.core.timeutil import iso, utcnow
from db.domain.states import IllegalTransition
from db.live.feed import FeedEvent
from db.read.calls import tree as calls
from db.read.tasks import history
from db.read.tasks.detail import task_record, write_latency
from db.write.writes import TaskNotFound

PATH_TEMPLATE = "/tasks/<task_id>"
TITLE = "Task"
NAV = None  # not in the navbar: opened from a task's row, link or #id
LINKED_FROM = "/tasks"
# The browser keeps at most this many activity lines; past it the panel reloads the newest ones.
MAX_LINES = 2_000
INITIAL_LINES = 300
HIDDEN = {"display": "none"}
SHOWN: dict[str, str] = {}
# The call tree, the message view of a call, and the conversation's Markdown download (issue 14).
CALLS = "detail-calls"
CALLS_LINK = "detail-calls-link"
CALL_MODAL = "detail-call-modal"
CALL_MESSAGES = "detail-call-messages"
EXPORT_MD = "detail-export-md"
CALL_SEARCH = "detail-call-search"
DOWNLOAD_MD = "detail-download-md"


def parse_id(raw: Any) -> int | None:
    try:
        value = int(str(raw))
    except (TypeError, ValueError):
        return None
    return value if value > 0 else None


def layout(task_id: str | None = None, **_: Any) -> html.Div:
    tid = parse_id(task_id)
    if tid is None:
        return html.Div(detail.not_found(task_id))
    card = dbc.Card
    return html.Div(
        [
            dcc.Store(id=ids.DETAIL_ID, data=tid),
            dcc.Store(id=ids.ACTIVITY_CURSOR),
            html.Div(id=ids.DETAIL_HEADER, className="mb-3"),
            html.Div(id=ids.ACTION_RESULT),
            celery_panel.task_card(),  # shown for a Celery task only
            # Shown once a refresh found the task; for an id that names none the header holds the not-found
            # card alone, with no empty panels (and no empty timeline) under it.
            html.Div(
                [
                    dbc.Row(
                        [
                            dbc.Col(
                                card([dbc.CardHeader("User"), dbc.CardBody(id=ids.DETAIL_USER)]),
                                lg=4,
                                className="mb-3",
                            ),
                            dbc.Col(
                                card([dbc.CardHeader("System"), dbc.CardBody(id=ids.DETAIL_SYSTEM)]),
                                lg=4,
                                className="mb-3",
                            ),
                            dbc.Col(
                                card([dbc.CardHeader("Database"), dbc.CardBody(id=ids.DETAIL_DATABASE)]),
                                lg=4,
                                className="mb-3",
                            ),
                        ]
                    ),
                    card(
                        [
                            dbc.CardHeader("Timeline: invocations by role, state transitions"),
                            dbc.CardBody(dcc.Graph(id=ids.DETAIL_TIMELINE, config={"displaylogo": False})),
                        ],
                        className="mb-3",
                    ),
                    card(
                        [
                            header_with(
                                "Calls",
                                html.Div(
                                    [
                                        # Every call of the task in the calls grid: sortable, filterable, CSV.
                                        dcc.Link(
                                            "In the calls list",
                                            href=f"/calls?task={tid}",
                                            id=CALLS_LINK,
                                            # A link colour on the grey card header is under 4.5:1 (as below).
                                            className="btn btn-sm btn-outline-secondary py-0 text-nowrap",
                                        ),
                                        dbc.Input(
                                            id=CALL_SEARCH,
                                            type="search",
                                            placeholder="Search this task's calls",
                                            debounce=True,
                                            size="sm",
                                            style={"maxWidth": "16rem"},
                                        ),
                                        dbc.Button(
                                            "Export conversation (Markdown)",
                                            id=EXPORT_MD,
                                            size="sm",
                                            # As the Download CSV buttons: a link colour on the grey card
                                            # header is 4.2:1, under WCAG AA's 4.5:1.
                                            color="secondary",
                                            outline=True,
                                            className="py-0 text-nowrap",
                                        ),
                                        dcc.Download(id=DOWNLOAD_MD),
                                    ],
                                    # Wraps on a phone: the link, search and export do not fit 390 px in a row.
                                    className="d-flex flex-wrap align-items-center gap-2 justify-content-end",
                                ),
                            ),
                            dbc.CardBody(id=CALLS),
                        ],
                        className="mb-3",
                    ),
                    dbc.Modal(
                        [dbc.ModalHeader(dbc.ModalTitle("Messages")), dbc.ModalBody(id=CALL_MESSAGES)],
                        id=CALL_MODAL,
                        size="xl",
                        scrollable=True,
                        is_open=False,
                    ),
                    dbc.Row(
                        [
                            dbc.Col(
                                card(
                                    [
                                        header_with(
                                            "Invocations",
                                            download_link(
                                                ids.EXPORT_INVOCATIONS,
                                                export_url("invocations", [("task", str(tid))]),
                                            ),
                                        ),
                                        dbc.CardBody(id=ids.DETAIL_INVOCATIONS),
                                    ]
                                ),
                                # Wider than the activity panel beside it: at a half of 1440 px the table's
                                # cost column scrolled out of its box.
                                xxl=7,
                                className="mb-3",
                            ),
                            dbc.Col(
                                card(
                                    [
                                        header_with(
                                            "Live activity",
                                            html.Div(
                                                [
                                                    dbc.Switch(
                                                        id=ids.ACTIVITY_PAUSE,
                                                        label="pause",
                                                        value=False,
                                                        className="mb-0",
                                                    ),
                                                    # Every line, not only the newest the panel keeps.
                                                    download_link(
                                                        ids.EXPORT_ACTIVITY,
                                                        export_url("activity", [("task", str(tid))]),
                                                    ),
                                                ],
                                                className="d-flex align-items-center gap-3",
                                            ),
                                        ),
                                        dbc.CardBody(html.Div(id=ids.ACTIVITY, className="activity-panel")),
                                    ]
                                ),
                                xxl=5,
                                className="mb-3",
                            ),
                        ]
                    ),
                ],
                id=ids.DETAIL_PANELS,
                style=HIDDEN,  # until the first refresh has found the task
            ),
        ]
    )


def refresh(
    svc: Services,
    signal: dict[str, Any] | None,
    task_id: int,
    theme: str | None,
    shown: Any,
    triggered: str | None,
) -> tuple[Any, ...]:
    """The three perspectives, timeline and invocations; skipped when a push concerns other tasks only. For
    an id that names no task, only the not-found card (the panels are hidden, not drawn empty)."""
    if shown is not None and _untouched(signal, task_id, triggered):
        raise dash.exceptions.PreventUpdate
    now = utcnow()
    with svc.db.reading() as session:
        t = task_record(session, task_id)
        if t is None:
            keep = dash.no_update
            return (detail.not_found(str(task_id)), keep, keep, keep, keep, keep, HIDDEN)
        inv = history.invocations(session, task_id)
        moves = history.transitions(session, task_id)
        latency = write_latency(session, now)
    stuck = svc.settings.stuck_after_seconds
    return (
        detail.header(t),
        detail.user_view(t, now, stuck),
        detail.system_view(t, moves),
        detail.database_view(t, now, latency),
        figures.task_timeline(inv, moves, now, theme),
        detail.invocations_table(inv),
        SHOWN,
    )


def call_panel(
    svc: Services,
    signal: dict[str, Any] | None,
    task_id: int,
    triggered: str | None,
    shown: Any = None,
    search: str | None = None,
) -> Any:
    """The task's calls as a tree (with a search: the matching calls and the calls above them); once drawn,
    skipped when a push concerns other tasks only."""
    if shown is not None and _untouched(signal, task_id, triggered):
        raise dash.exceptions.PreventUpdate
    with svc.db.reading() as session:
        rows = calls.task_calls(session, task_id)
        found = calls.matching_calls(session, task_id, search) if search and search.strip() else None
    if found is None:
        return calltree.tree_table(calls.nest(rows))
    if not found:
        return html.Div(f"No call of this task mentions {search!r}.", className="text-muted small")
    return calltree.tree_table(calls.nest(calls.with_ancestors(rows, found)), matches=found)


def open_call(svc: Services, call_id: str) -> tuple[Any, bool]:
    with svc.db.reading() as session:
        found = history.invocation(session, call_id, lines=0)
    if found is not None and found["completed_at"] is not None:
        found["duration_s"] = (found["completed_at"] - found["started_at"]).total_seconds()
    return calltree.message_view(found), True


def conversation(svc: Services, task_id: int) -> dict[str, Any]:
    with svc.db.reading() as session:
        t = task_record(session, task_id)
        found = calls.conversation(session, task_id)
    title = t.title if t is not None else ""
    text = calltree.conversation_markdown(title, task_id, found)
    return {"content": text, "filename": f"task-{task_id}-conversation.md", "type": "text/markdown"}


def stream(
    svc: Services,
    signal: dict[str, Any] | None,
    task_id: int,
    paused: bool,
    cursor: dict[str, Any] | None,
    triggered: str | None,
) -> tuple[Any, dict[str, Any]]:
    """Appends activity lines (a Patch) after a first load from the database; each line once, none lost.

    A push only says that something changed up to its seq: the lines come from the event log, every one of
    this task's after the cursor up to that seq. A push's own lines would not do: Dash drops the result of a
    callback still running when a newer push fires it again, and the newer push carries only its own lines.
    The cursor is a seq the change feed has read past, never merely the highest seq (on PostgreSQL a lower
    seq can commit after a higher one); `seen` holds the lines past it that the first load already drew."""
    if paused:
        raise dash.exceptions.PreventUpdate
    if cursor and triggered == ids.SIGNAL and signal and 0 < cursor["count"] < MAX_LINES:
        if _untouched(signal, task_id, triggered) and not _has_activity(signal, task_id):
            raise dash.exceptions.PreventUpdate
        seen = set(cursor.get("seen") or ())
        with svc.db.reading() as session:
            upto = signal.get("seq") or svc.read_past(session)
            if upto <= cursor["seq"]:
                raise dash.exceptions.PreventUpdate
            found = history.activity_events(session, task_id, cursor["seq"], upto, MAX_LINES)
        fresh = [ev for ev in found if ev.seq not in seen]
        if len(found) == MAX_LINES:
            upto = found[-1].seq  # the rest on the next push
        moved = {"seq": upto, "count": cursor["count"] + len(fresh), "seen": [s for s in seen if s > upto]}
        if not fresh:
            return dash.no_update, moved
        patch = Patch()
        patch.extend([_line(ev) for ev in fresh])
        return patch, moved
    # First load, resume after a pause, or too many lines: the newest lines from the database.
    with svc.db.reading() as session:
        history.one_snapshot(session)  # the lines and `seen` from the same commits
        seq = svc.read_past(session)
        drawn = history.activity_seqs(session, task_id, seq)
        frame = history.latest_activity(session, task_id, INITIAL_LINES)
    lines: list[Any] = detail.activity_lines(frame)
    if not lines:
        lines = [html.Div("no activity yet", className="text-muted small activity-empty")]
    return lines, {"seq": seq, "count": len(frame), "seen": drawn}


def _line(ev: FeedEvent) -> Any:
    return detail.activity_line(iso(ev.at), ev.payload.get("type"), ev.payload.get("message"))


def _has_activity(signal: dict[str, Any], task_id: int) -> bool:
    return any(a.get("task_id") == task_id for a in signal.get("activity") or [])


def act(svc: Services, action: str | None, task_id: int) -> Any:
    if action not in (ids.CANCEL, ids.RETRY):
        raise dash.exceptions.PreventUpdate
    denied = access.dashboard_denied(svc, "operator")
    if denied:
        return dbc.Alert(denied, color="danger", dismissable=True, className="py-2")
    who = access.dashboard_actor(svc)
    try:
        if action == ids.CANCEL:
            status = svc.recorder.cancel(task_id, actor=who)
            text = "Cancelled." if status == "cancelled" else "Cancel requested; the worker stops it now."
        else:
            svc.recorder.retry(task_id, actor=who)
            text = "Sent back to the queue."
    except (IllegalTransition, TaskNotFound) as exc:
        return dbc.Alert(str(exc), color="warning", dismissable=True, className="py-2")
    access.audit(svc, who, "task.cancel" if action == ids.CANCEL else "task.retry", f"task:{task_id}")
    return dbc.Alert(text, color="info", dismissable=True, duration=4000, className="py-2")


def register(app: dash.Dash, svc: Services) -> None:
    celery_panel.register_task(app, svc, ids.DETAIL_ID)

    @app.callback(
        Output(ids.DETAIL_HEADER, "children"),
        Output(ids.DETAIL_USER, "children"),
        Output(ids.DETAIL_SYSTEM, "children"),
        Output(ids.DETAIL_DATABASE, "children"),
        Output(ids.DETAIL_TIMELINE, "figure"),
        Output(ids.DETAIL_INVOCATIONS, "children"),
        Output(ids.DETAIL_PANELS, "style"),
        Input(ids.SIGNAL, "data"),
        Input(ids.DETAIL_ID, "data"),
        Input(ids.THEME, "data"),
        State(ids.DETAIL_HEADER, "children"),
    )
    def _refresh(signal: dict[str, Any] | None, task_id: int, theme: str | None, shown: Any) -> Any:
        return refresh(svc, signal, task_id, theme, shown, dash.ctx.triggered_id)

    @app.callback(
        Output(ids.ACTIVITY, "children"),
        Output(ids.ACTIVITY_CURSOR, "data"),
        Input(ids.SIGNAL, "data"),
        Input(ids.DETAIL_ID, "data"),
        Input(ids.ACTIVITY_PAUSE, "value"),
        State(ids.ACTIVITY_CURSOR, "data"),
    )
    def _stream(
        signal: dict[str, Any] | None, task_id: int, paused: bool, cursor: dict[str, int] | None
    ) -> Any:
        return stream(svc, signal, task_id, paused, cursor, dash.ctx.triggered_id)

    @app.callback(
        Output(CALLS, "children"),
        Input(ids.SIGNAL, "data"),
        Input(ids.DETAIL_ID, "data"),
        Input(CALL_SEARCH, "value"),
        State(CALLS, "children"),
    )
    def _calls(signal: dict[str, Any] | None, task_id: int, search: str | None, shown: Any) -> Any:
        return call_panel(svc, signal, task_id, dash.ctx.triggered_id, shown, search)

    @app.callback(
        Output(CALL_MESSAGES, "children"),
        Output(CALL_MODAL, "is_open"),
        Input({"type": calltree.CALL_OPEN, "id": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )
    def _open(_clicks: list[int | None]) -> Any:
        if not dash.ctx.triggered or not dash.ctx.triggered[0].get("value"):
            raise dash.exceptions.PreventUpdate  # the buttons were (re)drawn, not clicked
        return open_call(svc, str(dash.ctx.triggered_id["id"]))

    @app.callback(
        Output(DOWNLOAD_MD, "data"),
        Input(EXPORT_MD, "n_clicks"),
        State(ids.DETAIL_ID, "data"),
        prevent_initial_call=True,
    )
    def _export(clicks: int | None, task_id: int) -> Any:
        if not clicks:
            raise dash.exceptions.PreventUpdate
        return conversation(svc, task_id)

    app.clientside_callback(
        js(
            """
            function(children, paused) {
                const el = document.getElementById($panel);
                if (el && !paused) { el.scrollTop = el.scrollHeight; }
                return window.dash_clientside.no_update;
            }
            """,
            panel=ids.ACTIVITY,
        ),
        Output(ids.ACTIVITY, "className"),
        Input(ids.ACTIVITY, "children"),
        State(ids.ACTIVITY_PAUSE, "value"),
    )

    @app.callback(
        Output(ids.ACTION_RESULT, "children"),
        Input(ids.CANCEL, "n_clicks"),
        Input(ids.RETRY, "n_clicks"),
        State(ids.DETAIL_ID, "data"),
        prevent_initial_call=True,
    )
    def _act(_cancel: int | None, _retry: int | None, task_id: int) -> Any:
        if not dash.ctx.triggered or not dash.ctx.triggered[0].get("value"):
            raise dash.exceptions.PreventUpdate  # the buttons were (re)rendered, not clicked
        return act(svc, dash.ctx.triggered_id, task_id)


def _untouched(signal: dict[str, Any] | None, task_id: int, triggered: str | None) -> bool:
    """A push about other tasks only: nothing on this page changed."""
    if triggered != ids.SIGNAL or not signal or signal.get("reason") != "events":
        return False
    return task_id not in (signal.get("tasks") or [])
