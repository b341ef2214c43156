"""Card grids of the analytics pages, checked on the component tree: cards side by side end level (h-100 cards in
the stretching columns of a row), and a row of seven KPIs stays one row at 1440 px."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import dash_bootstrap_components as dbc
import pandas as pd
from dash import html

from dashboard.pages import agents, data, database, performance
from db.analytics import insights


def _rows(node: Any) -> Iterator[dbc.Row]:
    if isinstance(node, list | tuple):
        for item in node:
            yield from _rows(item)
    elif hasattr(node, "to_plotly_json"):
        if isinstance(node, dbc.Row):
            yield node
        yield from _rows(getattr(node, "children", None))


def _side_by_side(layout: Any) -> list[list[dbc.Card]]:
    """The cards of every row that holds two or more, each row's in order."""
    found = []
    for row in _rows(layout):
        cols = row.children if isinstance(row.children, list) else [row.children]
        cards = [c.children for c in cols if isinstance(c, dbc.Col) and isinstance(c.children, dbc.Card)]
        if len(cards) >= 2:
            found.append(cards)
    return found


def _level(cards: list[dbc.Card]) -> bool:
    # h-100 fills the column; a bottom margin on the card itself would push it out of it by that much.
    classes = [str(getattr(c, "className", "") or "").split() for c in cards]
    return all("h-100" in names and "mb-3" not in names for names in classes)


def test_cards_side_by_side_are_level() -> None:
    """Before: "Tasks created" beside "Cost and failure spikes", "Tool calls" beside "Peak hours" (Performance),
    "Busiest running tasks" beside "Connection pools" (Database), "Cost per role" beside "Failure rate…"
    (Agents) ended at different heights, leaving holes under the shorter card."""
    for page, rows in (
        (performance, 3),
        (database, 3),
        (agents, 1),
    ):
        found = _side_by_side(page.layout())
        assert len(found) == rows, page.__name__
        assert all(_level(cards) for cards in found), page.__name__


def test_data_page_written_per_day_beside_sizes_only_with_days() -> None:
    """Empty, "Written per day" was a one-line card beside a 1,000 px table: now it spans the row above it."""
    note = html.Div("Nothing written in the last 30 days.")
    empty = data.written_and_sizes(
        dbc.Card(note, className="mb-3"), dbc.Card("sizes", className="mb-3"), False
    )
    assert [c.lg for c in empty.children] == [12, 12]
    filled = data.written_and_sizes(
        dbc.Card("days", className="mb-3"), dbc.Card("sizes", className="mb-3"), True
    )
    assert [c.lg for c in filled.children] == [5, 7] and _level([c.children for c in filled.children])


def test_seven_kpis_share_one_row() -> None:
    """kpi_card is xl=2 (six a row): the seventh KPI ("Pool in use", "Forecast, tasks created") sat alone on a
    second row at 1440 px. Each now takes an equal share (col-xl); below 1200 px kpi_card's widths stand."""
    snap = insights.LiveSnapshot(2.5, 1_234, None, insights.DatabaseSize(10 * 1024**2, 0, 4096))
    pools = pd.DataFrame({"checked_out": [1], "capacity": [48]})
    row = database.kpis(snap, None, pools, None)
    assert len(row.children) == 7 and all(c.xl is True and c.md == 4 and c.xs == 6 for c in row.children)
