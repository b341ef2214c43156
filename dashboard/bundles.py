"""Dashboard layer: the two heavy browser bundles load where a page needs them, and early there.

Dash puts every component library's bundle on every page and fetches plotly.js only once a page has rendered
a graph. Here dash-ag-grid's 1.3 MB bundle is left out of the page and loaded by a stand-in `AgGrid`
(assets/lazygrid.js) when a grid is first drawn, and a page opened on a path that shows a grid or a chart
starts fetching that bundle with its own scripts instead of after the app has rendered (assets/preload.js
for plotly.js). Each bundle's address and paths travel in a <meta> tag."""

from __future__ import annotations

import os
import re
from typing import Any

import dash
import dash_ag_grid
from dash.fingerprint import build_fingerprint

GRID_BUNDLE = "dash_ag_grid.min.js"
GRID_META = "tasklens-ag-grid"  # read by assets/lazygrid.js
PLOTLY_META = "tasklens-plotly"  # read by assets/preload.js
# Paths (after the app's prefix) whose page opens on a grid, or on a chart.
GRID_PATHS = r"tasks/?"
CHART_PATHS = r"(costs|agents|performance|database|tasks/\d+)?/?"


def defer_grid() -> None:
    """Keeps the grid's bundle out of every page's scripts; Dash still registers and serves it (a `dynamic`
    resource is one a page loads itself). Idempotent: the resource list is the package's, shared by apps."""
    dist: list[dict[str, Any]] = dash_ag_grid._js_dist
    for resource in dist:
        if resource.get("relative_package_path") == GRID_BUNDLE:
            resource["dynamic"] = True


def grid_url(prefix: str = "/") -> str:
    """The grid bundle's address as Dash would put it in a page: fingerprinted, so it is cached for a year."""
    path = os.path.join(os.path.dirname(dash_ag_grid.__file__), GRID_BUNDLE)
    fingerprint = build_fingerprint(GRID_BUNDLE, dash_ag_grid.__version__, int(os.stat(path).st_mtime))
    return f"{prefix}_dash-component-suites/dash_ag_grid/{fingerprint}"


def plotly_url(prefix: str = "/") -> str:
    """Where dcc.Graph fetches plotly.js from when it is served locally (Dash registers it so)."""
    return f"{prefix}_dash-component-suites/plotly/package_data/plotly.min.js"


def meta_tags(prefix: str = "/") -> list[dict[str, str]]:
    def paths(pattern: str) -> str:
        return f"^{re.escape(prefix)}{pattern}$"

    return [
        {"name": GRID_META, "content": grid_url(prefix), "data-paths": paths(GRID_PATHS)},
        {"name": PLOTLY_META, "content": plotly_url(prefix), "data-paths": paths(CHART_PATHS)},
    ]


def install(app: dash.Dash) -> None:
    defer_grid()
    app.config.meta_tags.extend(meta_tags(app.config.requests_pathname_prefix))
