"""Reports layer: a chart spec as a plotly figure (pure), for the HTML report."""

from __future__ import annotations

import html

import plotly.graph_objects as go

from reports import fmt
from reports.charts import Chart, ChartKind


def label(text: str) -> str:
    """Plotly reads a little HTML in labels (<b>, <a href>); escaped, a name is shown exactly as written."""
    return html.escape(text, quote=False)


def figure(chart: Chart) -> go.Figure:
    horizontal = chart.kind in (ChartKind.HBARS, ChartKind.HSTACKED)
    stacked = chart.kind in (ChartKind.STACKED, ChartKind.HSTACKED)
    categories = [label(c) for c in chart.categories]
    fig = go.Figure()
    for s in chart.series:
        values = list(s.values)
        fig.add_bar(
            name=label(s.name),
            x=values if horizontal else categories,
            y=categories if horizontal else values,
            orientation="h" if horizontal else "v",
            marker_color=s.color,
        )
    value_axis = {"tickformat": fmt.AXIS[chart.unit], "rangemode": "tozero"}
    category_axis = {"type": "category", "automargin": True}
    rows = max(len(categories), 1)
    fig.update_layout(
        template="plotly_white",
        barmode="stack" if stacked else "group",
        height=max(260, 60 + 28 * rows) if horizontal else 320,
        margin={"l": 10, "r": 10, "t": 40, "b": 10},
        title={"text": label(chart.title), "x": 0.0, "font": {"size": 14}},
        legend={"orientation": "h", "y": -0.15, "traceorder": "normal"},
        showlegend=len(chart.series) > 1,
        xaxis=value_axis if horizontal else category_axis,
        yaxis={**category_axis, "autorange": "reversed"} if horizontal else value_axis,
    )
    return fig
