"""Tests: dashboard/bundles.py — which heavy bundle each page preloads, the grid's bundle kept out of every
page's scripts but still served, under the app's path prefix too; Dash's polyfill only behind a feature test;
the page's scripts and stylesheets joined into a few responses served from memory: the same bytes as the
files, in order, with their content type, compressed, cached for a year, 304 when the browser has them."""

from __future__ import annotations

import re
import sqlite3

import pytest
from flask.testing import FlaskClient
from flask_compress.flask_compress import _uncompress_data

from dashboard import bundles
from dashboard.server import create_app
from dashboard.services import Services


@pytest.mark.parametrize(
    ("path", "grid"),
    [("/", False), ("/tasks", True), ("/tasks/", True), ("/tasks/42", False), ("/costs", False)],
)
def test_a_page_on_a_grid_preloads_its_bundle(path: str, grid: bool) -> None:
    links = bundles.preloads(path)
    assert ("/dash_ag_grid/" in links) is grid, links
    # No page preloads plotly.js: the overview's chart is SVG drawn by the server.
    assert "plotly" not in links and "async-graph" not in links, links
    assert ("/dash_ag_grid/async-community.js" in links) is grid, links
    # Every page asks early for what the renderer will fetch first, with the renderer's fetch mode.
    for name in ("_dash-layout", "_dash-dependencies"):
        assert f'<link rel="preload" as="fetch" crossorigin href="/{name}">' in links, links


def test_paths_under_a_prefix() -> None:
    assert "/dash_ag_grid/" in bundles.preloads("/tl/tasks", "/tl/")
    assert "/dash_ag_grid/" not in bundles.preloads("/tasks", "/tl/")  # outside the prefix: not its page
    assert 'href="/tl/_dash-layout"' in bundles.preloads("/tl/tasks", "/tl/")
    assert bundles.grid_url("/tl/").startswith("/tl/_dash-component-suites/dash_ag_grid/dash_ag_grid.v")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_grid_bundle_is_served_but_not_on_every_page(svc: Services) -> None:
    client = create_app(svc).server.test_client()
    page = client.get("/").get_data(as_text=True)
    url = bundles.grid_url()
    assert f'src="{url}"' not in page  # not one of every page's scripts
    assert "/dash_table/bundle" not in page  # nor dash_table's: no page has a DataTable
    assert (
        bundles.FAVICON in page and "_favicon.ico" not in page
    )  # the icon in the page: no request after load
    assert f'name="{bundles.GRID_META}" content="{url}"' in page  # but named for the stand-in
    served = client.get(url)
    assert served.status_code == 200 and b"dash_ag_grid" in served.get_data()
    assert "max-age=31536000" in served.headers.get("Cache-Control", "")
    assert f'<link rel="preload" as="script" href="{url}">' in client.get("/tasks").get_data(as_text=True)


def test_the_polyfill_is_written_only_when_a_feature_is_missing() -> None:
    tag = '<script src="/_dash-component-suites/dash/deps/polyfill@7.v4_4_1m1.12.1.min.js"></script>'
    out = bundles.polyfill_if_needed(f'<script src="/a.js"></script>\n{tag}\n')
    assert tag not in out and out.startswith('<script src="/a.js"></script>')
    test = re.search(r"<script>(.*?)</script>", out)
    assert test and test.group(1).startswith(bundles.MODERN + "||document.write(")
    assert "polyfill@7.v4_4_1m1.12.1.min.js" in test.group(1) and "<\\/script>" in test.group(1)


def _page_files(client: FlaskClient, path: str = "/") -> tuple[list[str], list[str]]:
    page = client.get(path).get_data(as_text=True)
    scripts = re.findall(rf'<script type="{bundles.LATER}" src="([^"]+)"', page)
    return scripts, re.findall(r'<link rel="stylesheet" href="([^"]+)"', page)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_scripts_and_stylesheets_are_joined(svc: Services) -> None:
    app = create_app(svc)
    client = app.server.test_client()
    scripts, styles = _page_files(client)
    # One stylesheet: Bootstrap's, then the app's own (their order kept: the app's rules come last).
    assert len(styles) == 1 and re.fullmatch(r"/_tasklens/styles\.[0-9a-f]{16}\.css", styles[0]), styles
    css = client.get(styles[0])
    assert css.status_code == 200 and css.mimetype == "text/css"
    body = css.get_data()
    bootstrap = (bundles.BOOTSTRAP_DIR / "bootstrap.min.css").read_bytes().split(b"/*# sourceMappingURL")[0]
    assert body.startswith(bootstrap) and b".tl-chart-frame" in body and b".tasklens-snapshot" in body
    assert body.index(b".tasklens-snapshot") > len(bootstrap)
    # The scripts: React to the renderer and the app's assets in one; dcc (which finds its chunks by its own
    # address), its shared chunk ("use strict" first) and dash-html-components after it as Dash wrote them.
    assert re.fullmatch(r"/_tasklens/scripts-dash-renderer\.[0-9a-f]{16}\.js", scripts[0]), scripts
    assert [s.split("/")[-1].split(".")[0] for s in scripts[1:]] == [
        "dash_core_components",
        "dash_core_components-shared",
        "dash_html_components",
    ], scripts
    js = client.get(scripts[0])
    assert js.status_code == 200 and js.mimetype == "text/javascript"
    text = js.get_data()
    order = [
        text.index(marker)
        for marker in (
            b"react.production.min.js",
            b"dash_bootstrap_components",
            b"tasklens.Static",
            b"DashRenderer",
        )
    ]
    assert order == sorted(order), order
    assert b"sourceMappingURL=dash_" not in text  # the files' map comments would point nowhere from here
    # Every page names the same bundles.
    assert _page_files(client, "/costs") == (scripts, styles)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_joined_bundle_is_cached_compressed_and_revalidated(svc: Services) -> None:
    client = create_app(svc).server.test_client()
    scripts, _ = _page_files(client)
    url = scripts[0]
    plain = client.get(url, headers={"Accept-Encoding": "identity"})
    etag = plain.headers["ETag"]
    assert etag == f'"{url.split(".")[-2]}"'  # the address names the content
    assert plain.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "Content-Encoding" not in plain.headers and plain.headers["Vary"] == "Accept-Encoding"
    for encoding in ("zstd", "br", "gzip"):
        packed = client.get(url, headers={"Accept-Encoding": encoding})
        assert packed.headers["Content-Encoding"] == encoding
        assert packed.headers["ETag"] == etag and "immutable" in packed.headers["Cache-Control"]
        assert _uncompress_data(packed.get_data(), encoding) == plain.get_data()
        assert len(packed.get_data()) < len(plain.get_data()) / 3
    again = client.get(url, headers={"If-None-Match": etag, "Accept-Encoding": "br"})
    assert again.status_code == 304 and again.get_data() == b"" and again.headers["ETag"] == etag
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    assert client.get("/_tasklens/scripts.0123456789abcdef.js").status_code == 404


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_overview_names_no_plotly_and_no_polyfill_script(svc: Services) -> None:
    page = create_app(svc).server.test_client().get("/").get_data(as_text=True)
    assert "plotly.min.js" not in page and "async-graph" not in page
    assert '<script src="/_dash-component-suites/dash/deps/polyfill' not in page
    assert "||document.write(" in page


def test_early_scripts_load_in_order_without_holding_the_page() -> None:
    scripts = '<script>inline()</script>\n<script src="/a.js"></script>\n<script src="/b.js"></script>\n'
    head, start = bundles.early_scripts(scripts, "var renderer = new DashRenderer();")
    preloaded = '<link rel="preload" as="script" href="/a.js"><link rel="preload" as="script" href="/b.js">'
    assert head.startswith(preloaded + "<script>inline()</script>")  # preloaded, then the inline scripts
    named = re.findall(rf'<script type="{bundles.LATER}" src="([^"]+)"></script>', head)
    assert named == ["/a.js", "/b.js"]  # listed for the loader, in order, neither fetched nor run as such
    assert "s.async=false" in head and "document.head.appendChild" in head  # run in order, parsing not held
    assert "eval" not in head  # the page's CSP allows none
    assert '"var renderer = new DashRenderer();"' in head
    assert start == '<script id="_dash-renderer" type="application/javascript">tasklensStart()</script>'


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_head_is_sent_before_the_first_view_is_drawn(svc: Services) -> None:
    app = create_app(svc)
    assert isinstance(app, bundles.Dash)
    drawn: list[str] = []
    real = app.first_view
    assert real is not None

    def first_view() -> str:
        drawn.append("now")
        return str(real())

    app.first_view = first_view
    response = app.server.test_client().get("/", buffered=False)
    assert response.status_code == 200 and response.is_streamed
    chunks = iter(response.response)
    head = next(chunks)
    head = head.decode() if isinstance(head, bytes) else head
    assert drawn == [], "the first view was drawn before the head was sent"
    assert "/_tasklens/scripts-dash-renderer." in head and "tasklensStart" in head and "</head>" in head
    rest = "".join(c.decode() if isinstance(c, bytes) else c for c in chunks)
    assert drawn == ["now"] and "tasklens-snapshot" in rest and rest.rstrip().endswith("</html>")
    response.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_known_outage_answers_503_not_a_page_begun(svc: Services) -> None:
    app = create_app(svc)
    assert isinstance(app, bundles.Dash)

    def first_view() -> str:
        raise sqlite3.OperationalError("unable to open database file")

    app.first_view = first_view
    app.first_view_streams = lambda: False  # what server.py says while the database is known to be away
    response = app.server.test_client().get("/")
    assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0
