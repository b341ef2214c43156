"""Reports layer: the report as one self-contained HTML page — plotly.js inlined so it opens offline, charts
interactive, every value from a user or an agent escaped, so a title like <script> is shown, never run."""

from __future__ import annotations

import json
from functools import cache
from html import escape

import plotly.offline
from plotly.utils import PlotlyJSONEncoder

from reports import fmt
from reports.charts import Chart, charts
from reports.figures import figure
from reports.model import Report
from reports.tables import SECTIONS, Table, tables

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#212529;background:#f8f9fa}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:1.6rem;margin:0 0 4px}h2{font-size:1.25rem;margin:32px 0 12px;border-bottom:1px solid #dee2e6}
h3{font-size:1rem;margin:20px 0 8px}.meta{color:#6c757d;margin:0 0 16px}
.kpis{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:12px}
.kpi{background:#fff;border:1px solid #dee2e6;border-radius:8px;padding:12px}
.kpi .label{color:#6c757d;font-size:.85rem}.kpi .value{font-size:1.5rem;font-weight:600}
.kpi .change{font-size:.85rem}.good{color:#198754}.bad{color:#dc3545}.neutral{color:#6c757d}
.recs li{margin:4px 0}.warning{color:#842029}.notice{color:#055160}
.chart{background:#fff;border:1px solid #dee2e6;border-radius:8px;margin:12px 0;min-height:260px}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.85rem;margin-bottom:8px}
th,td{border:1px solid #dee2e6;padding:4px 8px;text-align:left;vertical-align:top;overflow-wrap:anywhere}
th{background:#e9ecef}td.n{text-align:right;white-space:nowrap}.empty{color:#6c757d;font-style:italic}
"""


@cache
def _plotly_js() -> str:
    # Inside a <script> element only "</script" can end it early; plotly.js has none, but make sure.
    return str(plotly.offline.get_plotlyjs()).replace("</script", "<\\/script")


def _json(value: object) -> str:
    """JSON safe inside a <script> element: no '<', '>' or '&' that the HTML parser could read."""
    text = json.dumps(value, cls=PlotlyJSONEncoder, separators=(",", ":"))
    for raw, safe in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                      ("\u2029", "\\u2029")):  # fmt: skip
        text = text.replace(raw, safe)
    return text


def _chart(chart: Chart) -> str:
    if chart.empty:
        return f'<h3>{escape(chart.title)}</h3><p class="empty">No data in this period.</p>'
    spec = figure(chart).to_plotly_json()
    data, layout = _json(spec["data"]), _json(spec["layout"])
    element = f"chart-{chart.key}"
    return (
        f'<div class="chart" id="{element}"></div><script>Plotly.newPlot("{element}",{data},{layout},'
        '{"responsive":true,"displaylogo":false});</script>'
    )


def _table(table: Table) -> str:
    out = [f"<h3>{escape(table.title)}</h3>"]
    if not table.rows:
        return out[0] + f'<p class="empty">{escape(table.empty_text)}</p>'
    out.append("<table><thead><tr>")
    out += [f"<th>{escape(h)}</th>" for h in table.headers]
    out.append("</tr></thead><tbody>")
    for row in table.rows:
        cells = (f'<td class="n">{escape(c)}</td>' if n else f"<td>{escape(c)}</td>"
                 for c, n in zip(row, table.numeric, strict=True))  # fmt: skip
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _summary(report: Report) -> str:
    cards = "".join(
        f'<div class="kpi" data-kpi="{escape(k.key)}"><div class="label">{escape(k.label)}</div>'
        f'<div class="value">{escape(fmt.value(k))}</div>'
        f'<div class="change {k.trend}">{escape(fmt.versus(k))}</div></div>'
        for k in report.kpis
    )
    recs = "".join(
        f'<li class="{r.severity.value}" data-rule="{escape(r.rule)}">{escape(r.message)}</li>'
        for r in report.recommendations
    )
    found = f'<ul class="recs">{recs}</ul>' if recs else '<p class="empty">Nothing stands out.</p>'
    return f'<h2>Executive summary</h2><div class="kpis">{cards}</div><h3>Recommendations</h3>{found}'


def render_html(report: Report) -> bytes:
    chart_specs, table_specs = charts(report), tables(report)
    body = [_summary(report)]
    for section in SECTIONS:
        body.append(f'<h2 id="{section.key}">{escape(section.title)}</h2>')
        for item in section.items:
            kind, key = item.split(":", 1)
            body.append(_chart(chart_specs[key]) if kind == "chart" else _table(table_specs[key]))
    meta = (
        f"{escape(report.period.label)} · {escape(fmt.timestamp(report.period.start))} to "
        f"{escape(fmt.timestamp(report.period.end))} · compared with {escape(fmt.timestamp(report.previous.start))} to "
        f"{escape(fmt.timestamp(report.previous.end))} · {escape(report.filters.description)} · generated "
        f"{escape(fmt.timestamp(report.generated_at))}"
    )
    page = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(report.title)}</title><style>{CSS}</style>"
        f"<script>{_plotly_js()}</script></head><body><main>"
        f'<h1>{escape(report.title)}</h1><p class="meta">{meta}</p>{"".join(body)}</main></body></html>'
    )
    return page.encode("utf-8")
