"""Reports layer: the report as a PDF, drawn with reportlab (platypus for text and tables, reportlab.graphics
for the charts, from the same chart specs as the HTML), fully offline. Text is escaped for reportlab's
paragraph markup, so user text is printed as written."""

from __future__ import annotations

import io
from functools import cache
from typing import Any
from xml.sax.saxutils import escape

from reportlab.graphics.charts.barcharts import HorizontalBarChart, VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from reports import fmt
from reports.charts import Chart, ChartKind, charts
from reports.model import Report, Unit
from reports.tables import SECTIONS, tables
from reports.tables import Table as TableSpec

PAGE_W, PAGE_H = A4
MARGIN = 15 * mm
WIDTH = PAGE_W - 2 * MARGIN
LEGEND_COLUMNS = 4  # a legend entry: a swatch and a name of up to 22 characters at 7 pt
LEGEND_ROW = 11.0
FONT, BOLD = "Vera", "VeraBd"


@cache
def _fonts() -> None:
    # Bitstream Vera ships inside reportlab's wheel (found on its own font path) and is embedded in the file:
    # unlike the 14 standard fonts it has "−", "≥", "…" and most Latin, Greek and Cyrillic letters.
    pdfmetrics.registerFont(TTFont(FONT, "Vera.ttf"))
    pdfmetrics.registerFont(TTFont(BOLD, "VeraBd.ttf"))


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("body", fontName=FONT, fontSize=9, leading=12)
    return {
        "body": base,
        "title": ParagraphStyle("title", parent=base, fontName=BOLD, fontSize=17, leading=21, spaceAfter=4),
        "meta": ParagraphStyle("meta", parent=base, textColor=colors.HexColor("#6c757d"), spaceAfter=8),
        "h2": ParagraphStyle("h2", parent=base, fontName=BOLD, fontSize=13, leading=16, spaceBefore=12,
                             spaceAfter=6),
        "h3": ParagraphStyle("h3", parent=base, fontName=BOLD, fontSize=10, leading=13, spaceBefore=8,
                             spaceAfter=4),
        "cell": ParagraphStyle("cell", parent=base, fontSize=7.5, leading=9),
        "num": ParagraphStyle("num", parent=base, fontSize=7.5, leading=9, alignment=TA_RIGHT),
        "empty": ParagraphStyle("empty", parent=base, textColor=colors.HexColor("#6c757d")),
    }  # fmt: skip


def _p(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text), style)


def _axis_label(unit: Unit) -> str:
    return {Unit.USD: "%.2f", Unit.RATIO: "%.2f", Unit.COUNT: "%d"}.get(unit, "%g")


def _chart(chart: Chart, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    if chart.empty:
        return [KeepTogether([_p(chart.title, st["h3"]), _p("No data in this period.", st["empty"])])]
    horizontal = chart.kind in (ChartKind.HBARS, ChartKind.HSTACKED)
    n = len(chart.categories)
    height = max(120.0, 24.0 + 14.0 * n * (1 if chart.kind is ChartKind.HSTACKED else len(chart.series)))
    height = min(height, 380.0) if horizontal else 190.0
    # The legend gets rows of its own above the bars (one row of up to seven models ran off the page and over
    # the tallest bars).
    legend_rows = 0 if len(chart.series) < 2 else -(-len(chart.series) // LEGEND_COLUMNS)
    legend_height = legend_rows * LEGEND_ROW
    drawing = Drawing(WIDTH, height + 40 + legend_height)
    bars: HorizontalBarChart | VerticalBarChart = HorizontalBarChart() if horizontal else VerticalBarChart()
    bars.x, bars.y = (120, 30) if horizontal else (45, 45)
    bars.width = WIDTH - bars.x - 10
    bars.height = height - (10 if horizontal else 25)
    bars.data = [list(s.values) for s in chart.series]
    for i, s in enumerate(chart.series):
        bars.bars[i].fillColor = colors.HexColor(s.color)
        bars.bars[i].strokeColor = None
    if chart.kind in (ChartKind.STACKED, ChartKind.HSTACKED):
        bars.categoryAxis.style = "stacked"
    bars.categoryAxis.categoryNames = [_short(c, 22) for c in chart.categories]
    bars.categoryAxis.labels.fontName = FONT
    bars.categoryAxis.labels.fontSize = 6.5
    bars.valueAxis.labels.fontName = FONT
    bars.valueAxis.labels.fontSize = 6.5
    bars.valueAxis.valueMin = 0
    bars.valueAxis.labelTextFormat = _axis_label(chart.unit)
    if horizontal:
        bars.categoryAxis.reverseDirection = 1
        bars.categoryAxis.labels.boxAnchor = "e"
    else:
        step = max(1, n // 16)  # at most ~16 labels under a month of days
        bars.categoryAxis.categoryNames = [c if i % step == 0 else "" for i, c in enumerate(chart.categories)]
        bars.categoryAxis.labels.angle = 30
        bars.categoryAxis.labels.boxAnchor = "ne"
    drawing.add(bars)
    drawing.add(String(0, height + 28 + legend_height, chart.title, fontName=BOLD, fontSize=10))
    if legend_rows:
        legend = Legend()
        # Top-left of the first entry; entries fill LEGEND_COLUMNS columns a row at a time, rows downwards,
        # ending above the bars' top (y = height + 20).
        legend.x, legend.y = 0, height + 20 + legend_height
        legend.alignment = "right"
        legend.columnMaximum = legend_rows
        legend.fontName, legend.fontSize = FONT, 7
        legend.dx = legend.dy = 6
        legend.deltay = LEGEND_ROW
        legend.deltax = WIDTH / LEGEND_COLUMNS
        legend.colorNamePairs = [(colors.HexColor(s.color), _short(s.name, 22)) for s in chart.series]
        drawing.add(legend)
    return [drawing, Spacer(1, 4)]


def _short(text: str, size: int) -> str:
    return text if len(text) <= size else text[: size - 1] + "…"


def _table(spec: TableSpec, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    heading = _p(spec.title, st["h3"])
    if not spec.rows:
        return [KeepTogether([heading, _p(spec.empty_text, st["empty"])])]
    head = [Paragraph(f"<b>{escape(h)}</b>", st["cell"]) for h in spec.headers]
    body = [
        [_p(c, st["num"] if n else st["cell"]) for c, n in zip(row, spec.numeric, strict=True)]
        for row in spec.rows
    ]
    table = Table([head, *body], repeatRows=1, hAlign="LEFT", colWidths=_widths(spec))
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e9ecef")),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#ced4da")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    # A short table stays with its heading; a long one may break across pages (its header row repeats).
    return [KeepTogether([heading, table])] if len(body) < 15 else [heading, table]


def _widths(spec: TableSpec) -> list[float]:
    """Numeric columns as wide as their header or widest value; text columns at least a short word wide, and
    what is left shared by how much longer their text runs."""
    longest = [max(len(h), *(len(r[i]) for r in spec.rows)) for i, h in enumerate(spec.headers)]
    char, pad = 4.8, 14.0  # Vera at 7.5 pt, and the cell's padding
    widths = [pad + char * (n if spec.numeric[i] else min(n, 11)) for i, n in enumerate(longest)]
    extra = {i: min(n, 80) - 11 for i, n in enumerate(longest) if not spec.numeric[i] and n > 11}
    left = WIDTH - sum(widths)
    total = sum(extra.values())
    if left > 0 and total:
        for i, more in extra.items():
            widths[i] += left * more / total
    return widths


def _summary(report: Report, st: dict[str, ParagraphStyle]) -> list[Flowable]:
    trend = {"good": "#198754", "bad": "#dc3545", "neutral": "#6c757d"}
    cells = [
        Paragraph(
            f'<font size="7.5" color="#6c757d">{escape(k.label)}</font><br/>'
            f'<font name="{BOLD}" size="13">{escape(fmt.value(k))}</font><br/>'
            f'<font size="7.5" color="{trend[k.trend]}">{escape(fmt.versus(k))}</font>',
            ParagraphStyle("kpi", parent=st["body"], leading=15),
        )
        for k in report.kpis
    ]
    grid = [cells[i : i + 4] for i in range(0, len(cells), 4)]
    grid[-1] += [""] * (4 - len(grid[-1]))
    table = Table(grid, colWidths=[WIDTH / 4] * 4)
    table.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 0.25, colors.HexColor("#ced4da")),
                ("INNERGRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#ced4da")),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    out: list[Flowable] = [_p("Executive summary", st["h2"]), table, _p("Recommendations", st["h3"])]
    if not report.recommendations:
        out.append(_p("Nothing stands out.", st["empty"]))
    mark = {"warning": "#dc3545", "notice": "#0d6efd"}
    for r in report.recommendations:
        out.append(
            Paragraph(
                f'<font color="{mark[r.severity.value]}">●</font> {escape(r.message)}',
                ParagraphStyle("rec", parent=st["body"], leftIndent=10, firstLineIndent=-10, spaceAfter=3),
            )
        )
    return out


def render_pdf(report: Report) -> bytes:
    _fonts()
    st = _styles()
    chart_specs, table_specs = charts(report), tables(report)
    story: list[Flowable] = [
        _p(report.title, st["title"]),
        _p(
            f"{fmt.timestamp(report.period.start)} to {fmt.timestamp(report.period.end)}, compared with "
            f"{fmt.timestamp(report.previous.start)} to {fmt.timestamp(report.previous.end)} · "
            f"{report.filters.description} · generated {fmt.timestamp(report.generated_at)}",
            st["meta"],
        ),
        *_summary(report, st),
    ]
    for section in SECTIONS:
        story.append(_p(section.title, st["h2"]))
        for item in section.items:
            kind, key = item.split(":", 1)
            story += _chart(chart_specs[key], st) if kind == "chart" else _table(table_specs[key], st)

    def footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(FONT, 7)
        canvas.drawString(MARGIN, 8 * mm, _short(report.title, 120))
        canvas.drawRightString(PAGE_W - MARGIN, 8 * mm, f"page {doc.page}")
        canvas.restoreState()

    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=A4,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN,
        title=report.title,
        author="TaskLens",
        creator="TaskLens",
        invariant=1,
    )
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()
