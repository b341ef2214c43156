"""Tests: dashboard/snapshot.py — the overview's first view (navbar, KPI cards, workers) is in the HTML the
server answers for `/`, drawn as React draws those components; pages that did not ask for one, and trees with
a component the snapshot cannot draw, get none."""

from __future__ import annotations

import re
from datetime import datetime

import dash_bootstrap_components as dbc
import pandas as pd
import pytest
from dash import dcc, html

from dashboard import figures_svg, ids, snapshot
from dashboard.components.static import Static
from dashboard.components.svg import Svg
from dashboard.server import create_app
from dashboard.services import Services
from tests.builders import external_task

SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _snapshot(page: str) -> str:
    found = re.search(rf'<div class="{snapshot.CLASS}">(.*)<div id="react-entry-point"', page, re.S)
    return found.group(1) if found else ""


@SQLITE
def test_the_overview_html_holds_its_cards(svc: Services) -> None:
    external_task(svc.recorder, "running now")
    client = create_app(svc).server.test_client()
    drawn = _snapshot(client.get("/").get_data(as_text=True))
    assert drawn, "no snapshot in the overview's HTML"
    running = re.search(
        r'id="snapshot-kpi-running".*?class="fs-4 fw-semibold kpi-value[^"]*">([^<]*)<', drawn, re.S
    )
    assert running and running.group(1) == "1"
    assert "0 queued · 1 running" in re.sub(r"<[^>]+>", "", drawn)  # each count in a nowrap span
    assert f'id="snapshot-{ids.WORKERS}"' in drawn and "No worker has registered yet" in drawn
    assert '<a href="/" class="nav-link active">Overview</a>' in drawn
    # The chart's frame at the chart's proportions, its data left out (read by the layout request instead).
    assert f'<div id="snapshot-{ids.THROUGHPUT}" class="tl-chart-frame"></div>' in drawn
    assert "data-bs-theme" in client.get("/").get_data(as_text=True)  # a remembered dark theme, before it


def _layout_ids(node: object) -> set[str]:
    if isinstance(node, list):
        return set().union(*map(_layout_ids, node)) if node else set()
    if not isinstance(node, dict):
        return set()
    props = node.get("props", node)
    found = {str(props["id"])} if isinstance(props.get("id"), str) else set()
    return found.union(*(_layout_ids(v) for v in props.values() if isinstance(v, list | dict)))


@SQLITE
def test_no_id_is_both_the_snapshots_and_the_apps(svc: Services) -> None:
    """Until the handover both are in the document: an id the app draws too would name two elements, and the
    live badge's script, a label's `for` and a locator would find the snapshot's copy (CI, 2026-12-04:
    "#live-status resolved to 2 elements")."""
    external_task(svc.recorder, "running now")
    client = create_app(svc).server.test_client()
    drawn = _snapshot(client.get("/").get_data(as_text=True))
    app_ids = _layout_ids(client.get("/_dash-layout", headers={"Referer": "http://localhost/"}).get_json())
    assert {ids.STATUS, ids.KPIS, ids.WORKERS, ids.THROUGHPUT} <= app_ids
    snapshot_ids = re.findall(r'\sid="([^"]*)"', drawn)
    assert "snapshot-" + ids.STATUS in snapshot_ids and len(snapshot_ids) == len(set(snapshot_ids))
    assert not app_ids & set(snapshot_ids)
    # What names an id in the snapshot names one of its own: its labels and the chart's title.
    for ref in re.findall(r'\s(?:for|aria-labelledby|aria-describedby)="([^"]*)"', drawn):
        assert set(ref.split()) <= set(snapshot_ids), ref


@SQLITE
def test_pages_without_a_snapshot_get_none(svc: Services) -> None:
    client = create_app(svc).server.test_client()
    for path in ("/tasks", "/costs", "/no-such-page"):
        assert snapshot.CLASS not in client.get(path).get_data(as_text=True), path


def test_bootstrap_and_html_as_react_draws_them() -> None:
    tree = html.Div(
        [
            dbc.Row(
                dbc.Col(dbc.Card(dbc.CardBody("x"), color="danger", outline=True), xs=6, xl=2),
                className="g-3",
            ),
            dbc.Badge("3", color="primary", pill=True),
            dcc.Link("go", href="/tasks", className="btn"),
            dcc.Store(id="s", data=1),
            Static(html.Span("<b>", title='a "b"', style={"zIndex": 2, "marginTop": 4})),
            Svg('<svg class="tl-chart"></svg>', id="c"),
        ],
        id={"type": "x", "i": 1},
    )
    assert snapshot.render(tree, "/") == (
        f'<div class="{snapshot.CLASS}">'
        '<div id="snapshot-{&quot;i&quot;:1,&quot;type&quot;:&quot;x&quot;}">'
        '<div class="g-3 row"><div class="col-xl-2 col-6"><div class="card border-danger">'
        '<div class="card-body">x</div></div></div></div>'
        '<span class="badge rounded-pill bg-primary">3</span>'
        '<a href="/tasks" class="btn">go</a>'
        '<span style="z-index: 2; margin-top: 4px" title="a &quot;b&quot;">&lt;b&gt;</span>'
        '<div id="snapshot-c" class="tl-svg"><svg class="tl-chart"></svg></div>'  # the server's markup
        "</div></div>"
    )


def test_the_charts_two_drawings_keep_unique_ids_in_a_snapshot() -> None:
    """The overview's chart is drawn twice (a phone's and a desktop's, figures_svg.throughput_pair): drawn
    into a snapshot, every id of both is the snapshot's own, none twice, and each names its own title."""
    empty = pd.DataFrame
    window = (datetime(2026, 12, 3), datetime(2026, 12, 4))
    markup = figures_svg.throughput_pair(
        empty(columns=["bucket", "status", "count"]), empty(columns=["bucket", "count"]), window
    )
    drawn = snapshot.render(html.Div(Svg(markup, id=ids.THROUGHPUT)), "/") or ""
    found = re.findall(r'\sid="([^"]*)"', drawn)
    assert len(found) == 3 and len(set(found)) == 3 and all(i.startswith(snapshot.ID_PREFIX) for i in found)
    refs = re.findall(r'\saria-labelledby="([^"]*)"', drawn)
    assert len(refs) == 2 and all(set(r.split()) <= set(found) for r in refs), refs


def test_a_component_it_cannot_draw_means_no_snapshot() -> None:
    assert snapshot.render(html.Div([html.P("ok"), dcc.Dropdown(id="d", options=[])]), "/") is None
