"""Dashboard layer: dash-ag-grid's bundle loads where a page needs it, and early there.

Dash puts every component library's bundle on every page. Here dash-ag-grid's 1.3 MB bundle is left out of
pages and loaded by a stand-in `AgGrid` (assets/lazygrid.js) when a grid is first drawn; a page opened on a
grid has the server name that bundle in a <link rel=preload> at the top of its HTML, so it is fetched with
the page's own scripts instead of after the app has rendered. Its address and paths also travel in a <meta>
tag for the stand-in. Every page also preloads the two answers Dash's renderer asks for first (the layout and
the callback graph), so the server works on them while the browser compiles the scripts."""

from __future__ import annotations

import json
import logging
import os
import pkgutil
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dash
import dash_ag_grid
import flask
import flask_bootstrap
from dash import dash_table
from dash.fingerprint import build_fingerprint, check_fingerprint

from dashboard import compression, snapshot

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
# Bootstrap 5.3's CSS, served from the installed Bootstrap-Flask wheel (the dashboard works offline): alone at
# this address for the sign-in page, and joined with the app's own stylesheets on every other page.
BOOTSTRAP_DIR = Path(flask_bootstrap.__file__).parent / "static" / "bootstrap5" / "css"
BOOTSTRAP_CSS = "/vendor/bootstrap.min.css"
JOINED = "/_tasklens/"  # where the joined bundles are served (dashboard/routes.py)


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
    left unused is a console warning, and bytes spent for nothing). No page opens on plotly.js: the overview's
    chart is drawn by the server (dashboard/figures_svg.py); other pages' charts load it when drawn."""
    wanted = []
    if re.match(_paths(prefix, GRID_PATHS), path):
        # The bundle, and the chunk it loads on a grid's first render (AG Grid itself, ~850 KB).
        wanted += [grid_url(prefix), f"{prefix}_dash-component-suites/dash_ag_grid/{GRID_CHUNK}"]
    tags = [f'<link rel="preload" as="script" href="{url}">' for url in wanted]
    # Dash's renderer asks for the layout and the callback graph only once its ~1 MB of scripts has run;
    # asked for here, the server answers them while those scripts compile. `crossorigin` gives the preload
    # the renderer's fetch mode (cors, same-origin credentials), so its fetch takes the preloaded answer.
    tags += [f'<link rel="preload" as="fetch" crossorigin href="{prefix}{name}">' for name in APP_FETCHES]
    return "".join(tags)


# Babel's polyfill (core-js 2 and the regenerator runtime, ~97 KB), which Dash puts first on every page for
# browsers before ES2017, is written into the page only where one of what it provides and Dash uses is missing
# (a browser without them lacks Object.fromEntries too, which Dash's renderer needs and the polyfill does not
# give: Dash does not run there either way). The one global the libraries take from it, regeneratorRuntime
# (their lazy-component loader), dash-bootstrap-components defines itself when its bundle runs
# (tests/test_browser_bundles.py).
MODERN = "window.Promise&&window.Symbol&&window.Map&&Object.assign&&Object.entries&&Array.from&&[].includes"
_POLYFILL = re.compile(r'<script src="([^"]*/deps/polyfill@[^"]*)"></script>')


def polyfill_if_needed(scripts: str) -> str:
    """Dash's polyfill tag in `scripts` replaced by a test that writes it into the page on an old browser."""

    def test(found: re.Match[str]) -> str:
        tag = json.dumps(f'<script src="{found.group(1)}"></script>').replace("</", "<\\/")
        return f"<script>{MODERN}||document.write({tag})</script>"

    return _POLYFILL.sub(test, scripts)


# One response instead of one request per file: each run of consecutive <script src> (or stylesheet) tags the
# page names — Dash's React, its renderer, component libraries, the app's assets, Bootstrap's CSS — is joined
# into one body, kept compressed in memory and cached for a year under an address that names its content
# (compression.Fixed). A file stays on its own when it cannot share a response: a bundle that finds its own
# address to load its chunks (document.currentScript: dcc's, plotly's), one whose first statement is
# "use strict" (joined, it would make the files after it strict too), a stylesheet with a relative url(),
# or anything not this server's.
_TAGS = {
    "js": re.compile(r'<script src="([^"]+)"></script>'),
    "css": re.compile(r'<link rel="stylesheet" href="([^"]+)">'),
}
_MIMETYPES = {"js": "text/javascript", "css": "text/css"}
_NAMES = {"js": "scripts", "css": "styles"}
_LEADING_COMMENTS = re.compile(rb"^\s*(?:/\*.*?\*/\s*|//[^\n]*\n\s*)*", re.S)
_STRICT = re.compile(rb"""["']use strict["']""")  # matched where the leading comments end
_RELATIVE_URL = re.compile(rb"""url\(\s*(?!["']?data:)""")
_SOURCE_MAP = re.compile(rb"\n?(?://# sourceMappingURL=\S*|/\*# sourceMappingURL=\S* \*/)\s*$")
_joined: dict[str, compression.Fixed] = {}  # a joined body's file name -> the body (the same for every app)
_pages: dict[tuple[int, str, str], str] = {}  # (app, kind, a page's tags) -> the tags with runs joined
_lock = threading.Lock()


def joined(name: str) -> compression.Fixed | None:
    """A joined body by its file name (dashboard/routes.py serves it)."""
    return _joined.get(name)


def _file(app: dash.Dash, url: str, kind: str) -> bytes | None:
    """The bytes behind one address a page names, when they can share a response with others."""
    prefix = app.config.requests_pathname_prefix
    path = url.split("?")[0]
    data: bytes | None = None
    if path == BOOTSTRAP_CSS:
        data = (BOOTSTRAP_DIR / "bootstrap.min.css").read_bytes()
    elif path.startswith(f"{prefix}_dash-component-suites/"):
        package, _, name = path.removeprefix(f"{prefix}_dash-component-suites/").partition("/")
        data = pkgutil.get_data(package, check_fingerprint(name)[0])
    elif path.startswith(f"{prefix}assets/"):
        data = (Path(app.config.assets_folder) / path.removeprefix(f"{prefix}assets/")).read_bytes()
    if data is None:
        return None
    if kind == "js" and (b"currentScript" in data or _strict(data)):
        return None
    if kind == "css" and _RELATIVE_URL.search(data):
        return None
    return data


def _strict(script: bytes) -> bool:
    """Whether the script's first statement is a "use strict" directive."""
    comments = _LEADING_COMMENTS.match(script)
    return bool(_STRICT.match(script, comments.end() if comments else 0))


def _join(app: dash.Dash, kind: str, run: list[tuple[str, bytes]]) -> str:
    if len(run) == 1:
        return run[0][0]  # nothing to join: the tag as Dash wrote it
    # A newline and a semicolon between scripts: a file's last line may be a comment or lack its semicolon.
    glue = b"\n;\n" if kind == "js" else b"\n"
    body = glue.join(_SOURCE_MAP.sub(b"", data) for _, data in run) + b"\n"
    item = compression.fixed(body, _MIMETYPES[kind], app.server)
    # Dash checks that its page names a script with "dash-renderer" in its address: the joined one, when in it.
    renderer = any("dash-renderer" in tag for tag, _ in run)
    name = f"{_NAMES[kind]}{'-dash-renderer' if renderer else ''}.{item.etag}.{kind}"
    _joined.setdefault(name, item)
    url = f"{app.config.requests_pathname_prefix}{JOINED.lstrip('/')}{name}"
    return f'<script src="{url}"></script>' if kind == "js" else f'<link rel="stylesheet" href="{url}">'


def in_one(app: dash.Dash, kind: str, tags: str) -> str:
    """`tags` (a page's scripts or stylesheets) with each run of joinable files named by one tag. Worked out
    once per app and tag list: the files cannot change under a running process (their addresses carry their
    versions and modification times)."""
    key = (id(app), kind, tags)
    done = _pages.get(key)
    if done is not None:
        return done
    with _lock:
        if key in _pages:
            return _pages[key]
        out: list[str] = []
        run: list[tuple[str, bytes]] = []
        last = 0
        for found in _TAGS[kind].finditer(tags):
            gap = tags[last : found.start()]
            data = _file(app, found.group(1), kind)
            if run and (data is None or gap.strip()):
                out.append(_join(app, kind, run))
                run = []
            out.append(gap)
            if data is None:
                out.append(found.group(0))
            else:
                run.append((found.group(0), data))
            last = found.end()
        if run:
            out.append(_join(app, kind, run))
        out.append(tags[last:])
        _pages[key] = "".join(out)
        return _pages[key]


# Where the first view goes in the page, between the head (sent at once) and the rest (sent once it is drawn).
FIRST_VIEW_SLOT = "<!--tasklens-first-view-->"
_SCRIPT_SRC = re.compile(r'<script src="([^"]+)"></script>\s*')
LATER = "text/tasklens-later"
log = logging.getLogger(__name__)


def early_scripts(scripts: str, renderer: str) -> tuple[str, str]:
    """`scripts` (Dash's tags) for the page's <head>, and what then starts Dash's renderer at the page's end.

    The files are inserted by a small loader as scripts with async=false: fetched at once, run in their order
    as soon as each has arrived, and never holding the page's parsing (a <script src> in the head would hold
    the first view until they had all run; at the end of the body they would start only once it was drawn).
    Inline scripts (the polyfill's test, clientside callbacks) stay as they are, in the head. Dash's renderer
    (`renderer`, run as an inline script in the global scope, as Dash's own tag) starts when the scripts have
    run (or failed, as a page with Dash's own tags would go on) and the page has been parsed up to its end."""
    # Named as tags of a type the browser neither fetches nor runs (Dash checks that its page names its
    # renderer's script), which the loader right after them turns into scripts.
    urls = _SCRIPT_SRC.findall(scripts)
    named = "".join(f'<script type="{LATER}" src="{url}"></script>' for url in urls)
    # Preloaded too: the browser's preload scanner asks for them as it reads the head, before the loader runs.
    fetched = "".join(f'<link rel="preload" as="script" href="{url}">' for url in urls)
    inline = _SCRIPT_SRC.sub("", scripts)
    start = json.dumps(renderer).replace("</", "<\\/")
    loader = (
        f"<script>(function(){{var tags=document.querySelectorAll('script[type=\"{LATER}\"]'),"
        "left=tags.length+1;window.tasklensStart=function(){if(--left)return;"
        # An inline script, not eval (the CSP allows no eval): run in the global scope, as Dash's tag was.
        "var r=document.createElement('script');r.text=" + start + ";document.head.appendChild(r)};"
        "for(var i=0;i<tags.length;i++){var s=document.createElement('script');"
        "s.src=tags[i].getAttribute('src');s.async=false;s.onload=s.onerror=window.tasklensStart;"
        "document.head.appendChild(s)}})()</script>"
    )
    return (
        fetched + inline + named + loader,
        '<script id="_dash-renderer" type="application/javascript">tasklensStart()</script>',
    )


class Dash(dash.Dash):
    """Dash whose page names, in its <head>, the heavy bundles that page is about to need, and whose page
    may carry a first view drawn by the server (`first_view`: dashboard/snapshot.py).

    With a first view the page is streamed: its <head> — stylesheet, preloads, and the loader of its scripts
    (early_scripts) — goes out before the first view is drawn, so the browser fetches and runs Dash's ~1.6 MB of
    scripts while the server reads the page's data (the overview's cards: 0.1–0.4 s on a busy machine), instead
    of after; the first view shows as soon as it arrives."""

    first_view: Callable[[], str] | None = None  # set by dashboard/server.py
    # Whether to stream: not while the database is known to be away (the page then answers 503 at once).
    first_view_streams: Callable[[], bool] = staticmethod(lambda: True)

    def interpolate_index(self, **parts: str) -> str:  # type: ignore[override]
        prefix = self.config.requests_pathname_prefix
        scripts = in_one(self, "js", polyfill_if_needed(parts.get("scripts", "")))
        early = preloads(flask.request.path, prefix)
        css = in_one(self, "css", parts.get("css", ""))
        parts["favicon"] = FAVICON
        if self.first_view is None:
            parts["scripts"], parts["css"] = scripts, early + css
        else:
            head, parts["renderer"] = early_scripts(scripts, str(self.renderer))
            # The theme, the preloads, then the scripts' loader, all before the stylesheet: an inline script
            # after a stylesheet waits for it (measured: the scripts asked for 0.1 s later, once the CSS had
            # come).
            parts["css"] = snapshot.THEME_FIRST + early + head + css
            parts["scripts"] = ""
            parts["app_entry"] = FIRST_VIEW_SLOT + parts.get("app_entry", "")
        return str(super().interpolate_index(**parts))

    def index(self, *args: Any, **kwargs: Any) -> Any:
        page = str(super().index(*args, **kwargs))
        draw = self.first_view
        if draw is None or FIRST_VIEW_SLOT not in page:
            return page
        head, rest = page.split(FIRST_VIEW_SLOT, 1)
        if not self.first_view_streams():
            return head + draw() + rest  # an outage raises here: 503 + Retry-After (dashboard/unavailable.py)

        def parts() -> Iterator[str]:
            yield head
            try:
                yield draw()
            except Exception:  # the response has begun: the page loads without its first view
                log.warning("the first view could not be drawn", exc_info=True)
            yield rest

        return compression.streamed(parts(), "text/html", flask.request)


def install(app: dash.Dash) -> None:
    defer_grid()
    prefix = app.config.requests_pathname_prefix
    app.config.meta_tags.append(
        {"name": GRID_META, "content": grid_url(prefix), "data-paths": _paths(prefix, GRID_PATHS)}
    )
