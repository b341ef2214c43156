"""Dashboard layer: dash-ag-grid's bundle loads where a page needs it, and early there.

Dash puts every component library's bundle on every page. Here dash-ag-grid's 1.3 MB bundle is left out of
pages and loaded by a stand-in `AgGrid` (assets/lazygrid.js) when a grid is first drawn; a page opened on a
grid has the server name that bundle in a <link rel=preload> at the top of its HTML, so it is fetched with
the page's own scripts instead of after the app has rendered. Its address and paths also travel in a <meta>
tag for the stand-in. Every page also preloads the two answers Dash's renderer asks for first (the layout and
the callback graph), so the server works on them while the browser compiles the scripts."""

from __future__ import annotations

import os
import re
from collections.abc import Callable

import dash
import dash_ag_grid
import flask
from dash import dash_table
from dash.fingerprint import build_fingerprint

from dashboard import snapshot

GRID_BUNDLE = "dash_ag_grid.min.js"
TABLE_BUNDLE = "dash_table/bundle.js"
GRID_CHUNK = "async-community.js"
GRID_META = "tasklens-ag-grid"  # read by assets/lazygrid.js
# Paths (after the app's prefix) whose page opens on a grid.
GRID_PATHS = r"(?:tasks|calls)/?"
APP_FETCHES = ("_dash-layout", "_dash-dependencies")
# The tab's icon in the page itself: Dash's /_favicon.ico is fetched after the load event, one more request on
# every cold page open (measured: the overview's last request, ~0.1 s after its load event).
FAVICON = (
    '<link rel="icon" href="data:image/svg+xml,%3Csvg xmlns=%27http://www.w3.org/2000/svg%27 viewBox=%270 0 16 16%27%3E'
    "%3Crect width=%2716%27 height=%2716%27 rx=%273%27 fill=%27%23212529%27/%3E"
    '%3Cpath d=%27M3 4h10v2H9v7H7V6H3z%27 fill=%27%23fff%27/%3E%3C/svg%3E">'
)
# Paths whose page opens on a chart and is drawn into its HTML (the overview), and what a chart loads.
GRAPH_PATHS = r""
GRAPH_SCRIPTS = ("dash/dcc/async-graph.js", "plotly/package_data/plotly.min.js")


def defer_grid() -> None:
    """Keeps the grid's bundle out of every page's scripts; Dash still registers and serves it (a `dynamic`
    resource is one a page loads itself). Idempotent: the resource list is the package's, shared by apps.
    Likewise dash_table's bundle, which Dash puts on every page and no page here uses (a DataTable would
    need it back)."""
    deferred = ((dash_ag_grid._js_dist, GRID_BUNDLE), (dash_table._js_dist, TABLE_BUNDLE))  # type: ignore[attr-defined]
    for dist, name in deferred:
        for resource in dist:
            if resource.get("relative_package_path") == name:
                resource["dynamic"] = True


def grid_url(prefix: str = "/") -> str:
    """The grid bundle's address as Dash would put it in a page: fingerprinted, so it is cached for a year."""
    path = os.path.join(os.path.dirname(dash_ag_grid.__file__), GRID_BUNDLE)
    fingerprint = build_fingerprint(GRID_BUNDLE, dash_ag_grid.__version__, int(os.stat(path).st_mtime))
    return f"{prefix}_dash-component-suites/dash_ag_grid/{fingerprint}"


def _paths(prefix: str, pattern: str) -> str:
    return f"^{re.escape(prefix)}{pattern}$"


def preloads(path: str, prefix: str = "/") -> str:
    """<link rel=preload> tags for the bundles the page at `path` opens on (none for other pages: a preload
    left unused is a console warning, and bytes spent for nothing). plotly.js only where the page's first view
    is in its HTML (dashboard/snapshot.py): Graph runs it as soon as it is there, and 4.7 MB of script then
    held the first cards of a page drawn by the app back (measured: the overview's KPIs at 2.1 s instead of
    1.0 s); drawn by the server, nothing waits for it, and fetched after the render it was the last request
    of the overview's load by ~0.5–1 s."""
    wanted = []
    if re.match(_paths(prefix, GRID_PATHS), path):
        # The bundle, and the chunk it loads on a grid's first render (AG Grid itself, ~850 KB).
        wanted += [grid_url(prefix), f"{prefix}_dash-component-suites/dash_ag_grid/{GRID_CHUNK}"]
    if re.match(_paths(prefix, GRAPH_PATHS), path):
        # dcc.Graph's chunk and plotly.js, as Graph asks for them (unfingerprinted, as Dash serves them).
        wanted += [f"{prefix}_dash-component-suites/{name}" for name in GRAPH_SCRIPTS]
    tags = [f'<link rel="preload" as="script" href="{url}">' for url in wanted]
    # Dash's renderer asks for the layout and the callback graph only once its ~1 MB of scripts has run;
    # asked for here, the server answers them while those scripts compile. `crossorigin` gives the preload
    # the renderer's fetch mode (cors, same-origin credentials), so its fetch takes the preloaded answer.
    tags += [f'<link rel="preload" as="fetch" crossorigin href="{prefix}{name}">' for name in APP_FETCHES]
    return "".join(tags)


class Dash(dash.Dash):
    """Dash whose page names, in its <head>, the heavy bundles that page is about to need, and whose page
    may carry a first view drawn by the server (`first_view`: dashboard/snapshot.py)."""

    first_view: Callable[[], str] | None = None  # set by dashboard/server.py

    def interpolate_index(self, **parts: str) -> str:  # type: ignore[override]
        prefix = self.config.requests_pathname_prefix
        parts["css"] = preloads(flask.request.path, prefix) + parts.get("css", "")
        parts["favicon"] = FAVICON
        if self.first_view is not None:
            first = self.first_view()
            if first:
                # The theme first, before the stylesheets (an inline script after them waits for them all).
                parts["css"] = snapshot.THEME_FIRST + parts["css"]
                parts["app_entry"] = first + parts.get("app_entry", "")
        return str(super().interpolate_index(**parts))


def install(app: dash.Dash) -> None:
    defer_grid()
    prefix = app.config.requests_pathname_prefix
    app.config.meta_tags.append(
        {"name": GRID_META, "content": grid_url(prefix), "data-paths": _paths(prefix, GRID_PATHS)}
    )
