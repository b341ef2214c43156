"""Dashboard layer: dash-ag-grid's 1.3 MB bundle loads only on a page that shows a grid. Dash puts every
component library's bundle on every page; here the grid's is left out of the page and its fingerprinted
address given to assets/lazygrid.js, which stands in for `dash_ag_grid.AgGrid` and loads the real bundle
when a grid is first rendered (or at once when the page opened on one)."""

from __future__ import annotations

import os
from typing import Any

import dash
import dash_ag_grid
from dash.fingerprint import build_fingerprint

BUNDLE = "dash_ag_grid.min.js"
META_NAME = "tasklens-ag-grid"  # <meta name=… content=address> read by assets/lazygrid.js


def defer() -> None:
    """Keeps the grid's bundle out of every page's scripts; Dash still registers and serves it (a `dynamic`
    resource is one a page loads itself). Idempotent: the resource list is the package's, shared by apps."""
    dist: list[dict[str, Any]] = dash_ag_grid._js_dist
    for resource in dist:
        if resource.get("relative_package_path") == BUNDLE:
            resource["dynamic"] = True


def bundle_url(prefix: str = "/") -> str:
    """The bundle's address as Dash would put it in a page: fingerprinted, so it is cached for a year."""
    path = os.path.join(os.path.dirname(dash_ag_grid.__file__), BUNDLE)
    fingerprint = build_fingerprint(BUNDLE, dash_ag_grid.__version__, int(os.stat(path).st_mtime))
    return f"{prefix}_dash-component-suites/dash_ag_grid/{fingerprint}"


def meta_tag(prefix: str = "/") -> dict[str, str]:
    return {"name": META_NAME, "content": bundle_url(prefix)}


def install(app: dash.Dash) -> None:
    defer()
    app.config.meta_tags.append(meta_tag(app.config.requests_pathname_prefix))
