"""Tests: dashboard/bundles.py — which heavy bundle each page preloads, the grid's bundle kept out of every
page's scripts but still served, under the app's path prefix too."""

from __future__ import annotations

import pytest

from dashboard import bundles
from dashboard.server import create_app
from dashboard.services import Services


@pytest.mark.parametrize(
    ("path", "grid", "chart"),
    [
        ("/", False, True),
        ("/tasks", True, False),
        ("/tasks/", True, False),
        ("/tasks/42", False, False),
        ("/costs", False, False),
    ],
)
def test_a_page_on_a_grid_preloads_its_bundle(path: str, grid: bool, chart: bool) -> None:
    links = bundles.preloads(path)
    assert ("/dash_ag_grid/" in links) is grid, links
    # plotly.js only on the overview, whose first view is in its HTML: on a page the app draws, the script
    # run as soon as it is there would hold the first cards back.
    assert ("/plotly/package_data/plotly.min.js" in links) is chart, links
    assert ("/dash/dcc/async-graph.js" in links) is chart, links
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
