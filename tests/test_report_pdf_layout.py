"""Tests: the PDF report's chart layout — a legend of many series sits in rows of its own above the bars and
inside the page (no database: the chart is built from plain data)."""

from __future__ import annotations

from reportlab.graphics.charts.barcharts import BarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing

from reports.charts import Chart, ChartKind, Series
from reports.model import Unit
from reports.render_pdf import WIDTH, _chart, _fonts, _styles


def test_pdf_chart_legends_sit_above_the_bars_and_inside_the_page() -> None:
    """Seven models in one stacked chart: the legend used to be one row running off the page, drawn over the
    tallest bars."""
    models = [f"claude-sonnet-4-5-{i}-long-model-name" for i in range(7)]
    days = tuple(f"Nov {d:02d}" for d in range(1, 31))
    chart = Chart(
        "cost_by_model",
        "Cost by model",
        ChartKind.STACKED,
        days,
        tuple(Series(m, tuple(float(10 + i) for _ in days), "#336699") for i, m in enumerate(models)),
        Unit.USD,
    )
    _fonts()  # as render_pdf does first
    drawing = _chart(chart, _styles())[0]
    assert isinstance(drawing, Drawing)
    [bars] = [c for c in drawing.contents if isinstance(c, BarChart)]
    [legend] = [c for c in drawing.contents if isinstance(c, Legend)]
    _, legend_bottom, legend_right, legend_top = legend.getBounds()
    _, _, _, bars_top = bars.getBounds()
    assert legend_bottom >= bars_top, (legend_bottom, bars_top)  # above the bars, not over them
    assert legend_right <= WIDTH and legend_top <= drawing.height  # inside the page and the drawing
