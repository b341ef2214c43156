"""Dashboard layer: the page a browser opens is drawn into the layout it is served, not fetched afterwards.

Dash pages renders a page in a routing callback that fires only once the app has rendered and its
`Location` has reported the address: one more round trip and one more render before the page's own callbacks
can even start (measured: ~0.2 s of the tasks page's first row). The renderer asks for `/_dash-layout` from the
page it is opening, so the request's Referer names that page: the layout is served with the page's content,
its title and both `Location`s already set to that address, which they then find unchanged and do not report
(so the routing callback, whose first call Dash skips, has nothing to do). Without a usable Referer the layout
is the usual empty container and the routing callback draws the page as before. Later navigation inside the
app goes through the routing callback as always."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import dash
import flask
from dash import _pages, dcc, html
from dash.dash import _ID_CONTENT, _ID_DUMMY, _ID_LOCATION, _ID_STORE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FirstPage:
    """The page being opened: its content and title, and its address as `Location` reports it."""

    content: Any
    title: str
    pathname: str
    search: str
    href: str

    def location_props(self) -> dict[str, str]:
        # All four, so the Location finds nothing to report on mount (it reports each one left unset).
        return {"pathname": self.pathname, "search": self.search, "href": self.href, "hash": ""}


def opening(app: dash.Dash) -> FirstPage | None:
    """The page the current `/_dash-layout` request is for, drawn; None when that cannot be told for sure."""
    if not flask.has_request_context():
        return None
    return page_at(app, flask.request.referrer)


def page_at(app: dash.Dash, address: str | None, *, snapshot_only: bool = False) -> FirstPage | None:
    """The app's page at `address` (an absolute URL of this server), drawn; None when it is not one (or,
    `snapshot_only`, not one that asked for a snapshot: then it is not drawn at all)."""
    if not address:
        return None
    url = urlsplit(address)
    here = urlsplit(flask.request.host_url)
    if (url.scheme, url.netloc) != (here.scheme, here.netloc):
        return None  # another origin's page: not ours to draw
    search = f"?{url.query}" if url.query else ""
    page, variables = _pages._path_to_page(app.strip_relative_path(url.path))
    if not page:
        return None  # not a page of the app (a 404 is left to the routing callback)
    if snapshot_only and not page.get("snapshot"):
        return None
    layout, title = page.get("layout", ""), page["title"]
    try:
        if callable(layout):
            layout = layout(**(variables or {}), **_pages._parse_query_string(search))
        if callable(title):
            title = title(**(variables or {}))
    except Exception:  # a page that cannot draw from this address: the routing callback says why, as before
        log.debug("first page %s left to the routing callback", url.path, exc_info=True)
        return None
    href = f"{url.scheme}://{url.netloc}{url.path}{search}"
    return FirstPage(layout, str(title), url.path, search, href)


def container(first: FirstPage | None) -> html.Div:
    """`dash.page_container`, holding the first page when it is known."""
    if first is None:
        return dash.page_container  # type: ignore[no-any-return]
    return html.Div(
        [
            dcc.Location(id=_ID_LOCATION, refresh="callback-nav", **first.location_props()),
            html.Div(first.content, id=_ID_CONTENT, disable_n_clicks=True),
            dcc.Store(id=_ID_STORE, data={"title": first.title}),
            html.Div(id=_ID_DUMMY, disable_n_clicks=True),
        ]
    )
