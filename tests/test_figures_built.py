"""Tests: a figure built in one step (dashboard/figures.built, two_rows) is the figure plotly's step-by-step API
builds — make_subplots, add_trace, update_layout and _layout's finish — property for property."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import plotly.graph_objects as go
import pytest
from plotly.subplots import make_subplots

from dashboard.figures import _layout, built, two_rows

T0 = datetime(2026, 3, 1, 12)


def as_json(fig: go.Figure) -> dict[str, Any]:
    """The figure as the browser receives it (arrays encoded as plotly encodes them)."""
    return json.loads(fig.to_json())  # type: ignore[no-any-return]


@pytest.mark.parametrize(("top", "spacing"), [(0.5, 0.1), (0.6, 0.08), (0.7, 0.05)])
def test_two_rows_lays_out_what_make_subplots_does(top: float, spacing: float) -> None:
    grid = make_subplots(
        rows=2, cols=1, shared_xaxes=True, row_heights=[top, 1 - top], vertical_spacing=spacing
    ).layout.to_plotly_json()
    grid.pop("template")
    assert two_rows(top, spacing) == grid


@pytest.mark.parametrize("theme", [None, "dark"])
def test_a_stacked_time_chart_built_in_one_step_equals_the_step_by_step_one(theme: str | None) -> None:
    """Times on x (a filtered Series whose index does not start at 0): every x axis says UTC in the hover, and
    the one under the tick labels as its title, as _layout finishes a figure."""
    times = pd.Series([T0 + timedelta(hours=h) for h in range(4)], index=[7, 8, 9, 10])
    old = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.6, 0.4], vertical_spacing=0.08)
    old.add_scatter(x=times, y=[1, 2, 3, 4], name="rate", row=1, col=1)
    old.add_bar(x=times, y=[0, 1, 0, 2], name="failures", marker_color="#dc3545", row=2, col=1)
    old.update_layout(barmode="stack")
    old.update_yaxes(title_text="rate", row=1, col=1)
    old = _layout(old, theme, height=420)

    axes = two_rows(top=0.6, spacing=0.08)
    axes["yaxis"]["title"] = {"text": "rate"}
    new = built(
        [
            {"type": "scatter", "x": times, "y": [1, 2, 3, 4], "name": "rate", "xaxis": "x", "yaxis": "y"},
            {
                "type": "bar",
                "x": times,
                "y": [0, 1, 0, 2],
                "name": "failures",
                "marker": {"color": "#dc3545"},
                "xaxis": "x2",
                "yaxis": "y2",
            },
        ],
        {**axes, "barmode": "stack"},
        theme,
        height=420,
    )
    assert as_json(new) == as_json(old)
    assert [new.layout[a].title.text for a in ("xaxis", "xaxis2")] == [None, "UTC"]  # under the ticks only
    assert new.layout.xaxis2.hoverformat.endswith("UTC")


def test_a_chart_without_times_gets_no_utc_axis_and_keeps_its_own_title() -> None:
    old = _layout(go.Figure(go.Bar(x=["a", "b"], y=[1, 2])).update_layout(xaxis_title="tool"), "dark")
    new = built(
        [{"type": "bar", "x": ["a", "b"], "y": [1, 2]}], {"xaxis": {"title": {"text": "tool"}}}, "dark"
    )
    assert as_json(new) == as_json(old)
    assert new.layout.xaxis.hoverformat is None and new.layout.xaxis.title.text == "tool"
    titled = built([{"type": "bar", "x": [T0], "y": [1]}], {"xaxis": {"title": {"text": "when"}}}, None)
    assert titled.layout.xaxis.title.text == "when" and titled.layout.xaxis.hoverformat.endswith("UTC")
