"""Dashboard layer: builds the Dash app — the shell every page shares (navigation, live indicator, theme,
toasts, the live-signal store that assets/live.js writes) — and mounts the HTTP surface (routes.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import dash
import dash_bootstrap_components as dbc
import flask
from dash import Input, Output, State, dcc, html

from dashboard import access, alertbell, bundles, firstpage, ids, navigation, shortcuts, snapshot, unavailable
from dashboard import toasts as finish
from dashboard.bundles import BOOTSTRAP_CSS
from dashboard.clientside import js
from dashboard.routes import mount
from dashboard.services import Services
from db.read.tasks import detail
from db.read.tasks.filters import find_task_id
from reports.fmt import browser_rules

FORMATS_META = "tasklens-formats"


def create_app(svc: Services) -> dash.Dash:
    app = bundles.Dash(
        __name__,
        title="TaskLens",
        use_pages=True,
        pages_folder="",
        external_stylesheets=[BOOTSTRAP_CSS],
        suppress_callback_exceptions=True,
        update_title="",  # no "Updating…" flicker in the tab title on every push
    )
    bundles.install(app)  # the grid's and plotly's bundles where a page needs them, and early there
    # What assets/formats.js applies (live.js clocks, the grid's cost): reports/fmt.py's rules, not a JS copy.
    app.config.meta_tags.append({"name": FORMATS_META, "content": browser_rules()})
    mount(app, svc)
    unavailable.install(app.server)  # 503/507 + Retry-After, not a 500, while the database is away
    # Served per page load with the feed's cursor at that moment (None before the feed has read it).
    # With the page being opened already in it (dashboard/firstpage.py): no routing round trip first.
    app.layout = lambda: shell(
        svc.feed.cursor if svc.feed.started else None,
        firstpage.opening(app),
        _links(svc),
        alertbell.start(svc),
    )
    app.first_view = lambda: first_view(app, svc)
    app.first_view_streams = lambda: svc.db.health.outage is None  # else 503 at once, not a page begun
    _register_shell_callbacks(app, svc)
    alertbell.register(app, svc)
    return app


def _links(svc: Services) -> list[navigation.Link]:
    """The pages registered with a navbar entry, less those the signed-in role may not use."""
    return navigation.visible(
        navigation.registered(), lambda role: access.dashboard_denied(svc, role) is None
    )


def first_view(app: dash.Dash, svc: Services) -> str:
    """The snapshot drawn into the HTML of a page that asked for one (dashboard/snapshot.py), else ""."""
    with snapshot.drawing():
        first = firstpage.page_at(app, flask.request.url, snapshot_only=True)
    if first is None:
        return ""
    return snapshot.render(shell(None, first, _links(svc), alertbell.start(svc)), first.pathname) or ""


def shell(
    live_since: int | None = None,
    first: firstpage.FirstPage | None = None,
    links: Sequence[navigation.Link] = (),
    alerts: alertbell.Start | None = None,
) -> html.Div:
    # The connection badge stays in sight at every width; the links and controls fold behind a toggler below
    # Bootstrap's xxl breakpoint (1400 px) (a phone gets a menu button instead of ten links stacked over the page).
    status = html.Span(
        # role=status (a polite live region): screen readers hear the connection change; the badge's text
        # says it, not only its colour.
        dbc.Badge(
            "connecting…",
            id=ids.STATUS,
            color="light",
            text_color="dark",
            title="live: pushed over a websocket · polling: the socket is down",
        ),
        role="status",
        className="me-auto me-xxl-3",
    )
    controls = html.Div(
        [
            # A task's #id, address or external id opens it; other text searches the tasks table.
            html.Label("Go to task", htmlFor=ids.JUMP, className="visually-hidden"),
            dbc.Input(
                id=ids.JUMP,
                type="search",
                placeholder="Task #id…",  # the hidden label says "Go to task"; ids and external ids both work
                size="sm",
                className="me-2 jump-to-task",
                debounce=False,
                autoComplete="off",
            ),
            # Times in the browser's zone instead of UTC (assets/localtime.js); exports stay UTC.
            dbc.Switch(
                id=ids.LOCAL_TIME_SWITCH,
                label="local time",
                value=False,
                className="mb-0 me-2",
                label_class_name="text-light text-nowrap",
            ),
            dbc.Switch(
                id=ids.THEME_SWITCH,
                label="dark",
                value=False,
                className="mb-0",
                label_class_name="text-light",
            ),
        ],
        className="d-flex flex-wrap flex-xxl-nowrap align-items-center row-gap-2 ms-xxl-auto py-2 py-xxl-0",
    )
    nav = dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand("TaskLens", href="/"),
                alertbell.layout(alerts),  # in sight at every width, like the connection badge
                status,
                dbc.NavbarToggler(id=ids.NAV_TOGGLE, className="ms-2"),
                dbc.Collapse(
                    [
                        dbc.Nav(
                            [dbc.NavLink(link.label, href=link.href, active="exact") for link in links],
                            navbar=True,
                        ),
                        controls,
                    ],
                    id=ids.NAV_COLLAPSE,
                    is_open=False,
                    navbar=True,
                ),
            ],
            fluid=True,
        ),
        color="dark",
        dark=True,
        expand="xxl",
        className="border-bottom mb-3",
    )
    return html.Div(
        [
            # callback-nav: a callback changing the URL (a clicked row, new analytics filters) navigates
            # inside the app, without reloading the page.
            dcc.Location(id=ids.URL, refresh="callback-nav", **(first.location_props() if first else {})),
            dcc.Store(id=ids.SIGNAL),
            dcc.Store(id=ids.LIVE_SINCE, data=live_since),
            # data=None, not left out: a store with no data replaces it with what localStorage holds even when
            # that is nothing, and that "change" re-ran every callback drawn in the theme on every load.
            dcc.Store(id=ids.THEME, storage_type="local", data=None),
            dcc.Store(id=ids.LOCAL_TIME, storage_type="local"),
            html.A("Skip to content", href=f"#{ids.MAIN}", className="visually-hidden-focusable"),
            nav,
            # Bottom right, over no filter; at most three toasts, a burst is one summary (dashboard/toasts.py).
            dcc.Store(id=ids.TOAST_PLAN),
            html.Div(id=ids.TOASTS, className="toast-stack"),
            alertbell.toast_stack(alerts),
            *shortcuts.layout(),
            html.Main(
                dbc.Container(firstpage.container(first), fluid=True, className="pb-4"),
                id=ids.MAIN,
                tabIndex=-1,
            ),
        ]
    )


def toasts(svc: Services, plan: dict[str, Any] | None) -> list[dbc.Toast]:
    """The "task finished" toasts that assets/live.js's plan asks for (dashboard/toasts.py)."""
    singles = finish.singles_of(plan)
    if not singles and not finish.counts_of(plan):
        raise dash.exceptions.PreventUpdate
    titles: dict[int, str] = {}
    if singles:
        with svc.db.reading() as session:
            titles = detail.titles(session, [s.task_id for s in singles])
    return finish.render(plan, titles)


def jump_target(svc: Services, text: str | None) -> str:
    """Where the navbar's box goes: the task that `text` names (#id, address, external id), else the tasks
    table searched for it."""
    text = (text or "").strip()
    if not text:
        raise dash.exceptions.PreventUpdate
    with svc.db.reading() as session:
        task_id = find_task_id(session, text)
    return f"/tasks/{task_id}" if task_id is not None else f"/tasks?{urlencode({'text': text})}"


def _register_shell_callbacks(app: dash.Dash, svc: Services) -> None:
    # The phone menu: the toggler opens and closes it; following a link closes it again.
    app.clientside_callback(
        js(
            """
            function(clicks, path, open) {
                const trig = dash_clientside.callback_context.triggered_id;
                return trig === $toggle ? !open : false;
            }
            """,
            toggle=ids.NAV_TOGGLE,
        ),
        Output(ids.NAV_COLLAPSE, "is_open"),
        Input(ids.NAV_TOGGLE, "n_clicks"),
        Input(ids.URL, "pathname"),
        State(ids.NAV_COLLAPSE, "is_open"),
        prevent_initial_call=True,
    )

    @app.callback(
        Output(ids.URL, "href", allow_duplicate=True),
        Output(ids.JUMP, "value"),
        Input(ids.JUMP, "n_submit"),
        State(ids.JUMP, "value"),
        prevent_initial_call=True,
    )
    def _jump(_n: Any, text: str | None) -> tuple[str, str]:
        return jump_target(svc, text), ""

    @app.callback(Output(ids.TOASTS, "children"), Input(ids.TOAST_PLAN, "data"), prevent_initial_call=True)
    def _toasts(plan: dict[str, Any] | None) -> Any:
        return toasts(svc, plan)

    # The theme is remembered per browser (localStorage) and applied to Bootstrap's colour mode.
    app.clientside_callback(
        js(
            """
            function(dark, stored) {
                const trig = dash_clientside.callback_context.triggered_id;
                const switched = trig === $switch;
                const theme = switched ? (dark ? "dark" : "light") : (stored || "light");
                document.documentElement.setAttribute("data-bs-theme", theme);
                // Written only when switched: on load the store already holds what the browser remembers,
                // and writing it again would re-run every callback that draws in the theme (the overview's
                // chart, drawn into its layout, would cost a round trip on every load).
                return [switched ? theme : dash_clientside.no_update, theme === "dark"];
            }
            """,
            switch=ids.THEME_SWITCH,
        ),
        Output(ids.THEME, "data"),
        Output(ids.THEME_SWITCH, "value"),
        Input(ids.THEME_SWITCH, "value"),
        State(ids.THEME, "data"),
    )

    # The time zone, remembered per browser like the theme: "utc" (the default) or "local".
    app.clientside_callback(
        js(
            """
            function(on, stored) {
                const trig = dash_clientside.callback_context.triggered_id;
                const zone = trig === $switch ? (on ? "local" : "utc") : (stored || "utc");
                if (window.tasklensTime) { window.tasklensTime.set(zone === "local"); }
                else { document.documentElement.setAttribute("data-tz", zone); }
                return [zone, zone === "local"];
            }
            """,
            switch=ids.LOCAL_TIME_SWITCH,
        ),
        Output(ids.LOCAL_TIME, "data"),
        Output(ids.LOCAL_TIME_SWITCH, "value"),
        Input(ids.LOCAL_TIME_SWITCH, "value"),
        State(ids.LOCAL_TIME, "data"),
    )
