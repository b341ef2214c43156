"""Tests: the renderers over the hand-built week of tests/test_reports.py — HTML that opens offline and shows
hostile text as text, a PDF read back with poppler's pdftotext and pdfinfo, JSON in its documented schema —
and write_report's file names."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from db.core.engine import Database
from reports.render_html import render_html
from reports.render_json import SCHEMA, render_json
from reports.render_pdf import render_pdf
from reports.write import write_report
from tests.test_reports import HOSTILE_ERROR, HOSTILE_MODEL, HOSTILE_TITLE, build, seed

# Rendering does not depend on the database: one is enough here (test_reports covers both).
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


class Elements(HTMLParser):
    """Start tags, script bodies and visible text of a page, as a browser's parser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[str] = []
        self.text: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False if tag == "script" else self._in_script

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts[-1] += data
        else:
            self.text.append(data)


def parse(page: bytes) -> Elements:
    parser = Elements()
    parser.feed(page.decode("utf-8"))
    parser.close()
    return parser


def test_html_is_self_contained_and_shows_hostile_text_as_text(db: Database) -> None:
    seed(db)
    page = render_html(build(db))
    doc = parse(page)
    tags = [t for t, _ in doc.tags]
    # Only our own elements: no <img> or extra <script> smuggled in by a title, error or model name.
    assert "img" not in tags
    charts = [a["id"] for t, a in doc.tags if t == "div" and (a.get("class") or "") == "chart"]
    assert len(charts) == 6 and tags.count("script") == 1 + len(charts)
    assert not any(a.get("src") or a.get("href") for _, a in doc.tags)  # nothing loaded from elsewhere
    assert "Plotly" in doc.scripts[0] and len(doc.scripts[0]) > 1_000_000  # plotly.js itself, inlined
    text = " ".join(doc.text)
    assert HOSTILE_TITLE in text and HOSTILE_ERROR in text
    assert "&lt;script&gt;alert(&quot;t&quot;)&lt;/script&gt; &amp; co" in page.decode()
    # In chart data a model name is escaped twice over: as HTML for plotly's labels, and '<' as \u003c for the
    # script element, so the parser never sees a tag in it.
    assert HOSTILE_MODEL not in page.decode() and "\\u0026lt;img src=x" in page.decode()
    for script in doc.scripts[1:]:
        assert script.startswith("Plotly.newPlot(") and "<" not in script


def test_html_summary_and_recommendations(db: Database) -> None:
    seed(db)
    page = render_html(build(db)).decode()
    assert "<title>TaskLens weekly report — week 47 of 2026 (16 Nov – 22 Nov 2026)</title>" in page
    card = re.search(r'data-kpi="total_cost">(.*?)</div></div>', page)
    assert card and "$5.50" in card.group(1) and "+266.7% vs previous" in card.group(1)
    assert re.search(r'data-kpi="success_rate">.*?50.0%.*?−50.0 pts vs previous', page)
    assert page.count('data-rule="') == 6 and 'class="warning" data-rule="budget_over"' in page


def pdf_text(path: Path) -> str:
    tool = shutil.which("pdftotext")
    assert tool, "poppler-utils is needed (apt-get install poppler-utils)"
    return subprocess.run(
        [tool, "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def pdf_pages(path: Path) -> int:
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    match = re.search(r"^Pages:\s+(\d+)$", info, re.MULTILINE)
    assert match, info
    return int(match.group(1))


def test_pdf_has_the_same_content(db: Database, tmp_path: Path) -> None:
    seed(db)
    report = build(db)
    path = tmp_path / "r.pdf"
    path.write_bytes(render_pdf(report))
    assert path.read_bytes().startswith(b"%PDF-")
    assert 3 <= pdf_pages(path) <= 8
    text = pdf_text(path)
    flat = " ".join(text.split())
    for expected in (
        "TaskLens weekly report — week 47 of 2026",
        "Executive summary",
        "$5.50",  # total cost
        "+266.7% vs previous",
        "50.0%",  # success rate
        "Recommendations",
        "Budget alpha weekly (tag alpha) is over its weekly limit",
        "Task completion",
        "Tasks per day",  # a chart title, drawn with reportlab.graphics
        "Spend per day by model",
        "Cost breakdown",
        "Agents and roles",
        "Failures and notable events",
        "alpha weekly",
        "OVER",
        "projected over",
    ):
        assert expected in flat, expected
    assert 'alert("t")' in flat and "onerror=alert(1)" in flat  # user text printed as written
    assert "reviewer" in flat and "claude" in flat and "agent-1" in flat


def test_json_schema(db: Database) -> None:
    ids = seed(db)
    doc = json.loads(render_json(build(db)))
    assert doc["schema"] == SCHEMA
    assert list(doc) == [
        "schema", "title", "generated_at", "as_of", "period", "previous_period", "filters", "summary", "tasks",
        "costs", "agents", "failures", "alerting",
    ]  # fmt: skip
    assert doc["period"] == {
        "kind": "weekly",
        "label": "week 47 of 2026 (16 Nov – 22 Nov 2026)",
        "start": "2026-11-16T00:00:00.000Z",
        "end": "2026-11-23T00:00:00.000Z",
    }
    kpis = {k["key"]: k for k in doc["summary"]["kpis"]}
    assert kpis["total_cost"]["value"] == pytest.approx(5.5) and kpis["total_cost"]["unit"] == "usd"
    assert kpis["success_rate"]["delta"] == pytest.approx(-0.5) and kpis["success_rate"]["trend"] == "bad"
    assert kpis["tasks_created"] == {
        "key": "tasks_created", "label": "Tasks created", "unit": "count", "value": 7, "previous": 2,
        "delta": 5, "change": 2.5, "trend": "neutral",
    }  # fmt: skip
    assert set(doc["costs"]) == {"by_model", "by_role", "by_kind", "by_tag", "over_time", "top_tasks"}
    assert doc["costs"]["by_model"][0] == {
        "key": "claude", "cost": pytest.approx(2.9), "share": pytest.approx(2.9 / 5.5), "calls": 2,
        "input": 200, "output": 20, "cache": 0,
    }  # fmt: skip
    assert doc["tasks"]["volume"]["unit"] == "day" and len(doc["tasks"]["volume"]["buckets"]) == 7
    [b] = [t for t in doc["failures"]["tasks"] if t["id"] == ids["b"]]
    assert b["title"] == HOSTILE_TITLE and b["error"] == HOSTILE_ERROR
    assert b["completed_at"] == "2026-11-18T10:02:10.000Z"
    assert {x["rule"] for x in doc["summary"]["recommendations"]} >= {"budget_over", "stuck"}

    def times(node: Any, key: str = "") -> list[str]:
        if isinstance(node, dict):
            return [t for k, v in node.items() for t in times(v, k)]
        if isinstance(node, list):
            return [t for v in node for t in times(v, key)]
        at_key = key in ("start", "end", "bucket", "period_start", "period_end") or key.endswith("_at")
        return [node] if at_key and node is not None else []

    found = times(doc)
    assert len(found) > 20
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", t) for t in found), found


def test_write_report_names_files_by_period(db: Database, tmp_path: Path) -> None:
    seed(db)
    written = write_report(build(db), ["json", "html", "pdf"], tmp_path / "new" / "dir")
    assert [p.name for p in written] == [
        "tasklens-weekly-2026-11-16.json",
        "tasklens-weekly-2026-11-16.html",
        "tasklens-weekly-2026-11-16.pdf",
    ]
    assert json.loads(written[0].read_text())["schema"] == SCHEMA
    assert sorted(p.name for p in (tmp_path / "new" / "dir").iterdir()) == sorted(p.name for p in written)
