"""Tests: the tasks and calls grids' columns (components/gridcolumns.py) as people read them — every header
named in sentence case, counts with thousands separators — and the calls grid's Name for LLM rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dashboard.components.firstrows import first_rows
from dashboard.components.gridcolumns import FITS, column_defs, least_width
from dashboard.components.infinitegrid import filtered
from dashboard.pages import calls, tasks
from db.read.call_view import CALLS
from db.read.task_view import TASKS
from db.read.views import Fmt, View

pytestmark = pytest.mark.usefixtures("layout_alone")  # the layouts alone, not another test's database

FORMATS_JS = Path(__file__).resolve().parent.parent / "dashboard/assets/formats.js"


@pytest.mark.parametrize("view", [TASKS, CALLS], ids=["tasks", "calls"])
def test_headers_are_named_in_sentence_case(view: View) -> None:
    """AG Grid names an unnamed column from its field ("Input_tokens", cut to "Input_toke…") and capitalises
    it, so labelled ones ("worker", "created (UTC)", "task", "cost") stood lower-case beside "Title", "Kind"."""
    for col in column_defs(view):
        header = col.get("headerName", "")
        assert header and not header[0].islower() and "_" not in header, (col["field"], header)


@pytest.mark.parametrize("view", [TASKS, CALLS], ids=["tasks", "calls"])
def test_counts_have_thousands_separators(view: View) -> None:
    """Token counts read "29518": they take reports/fmt.count's format, in the browser as in the first rows."""
    counted = [f.name for f in view.grid_fields if f.fmt in (Fmt.COUNT, Fmt.TOKENS)]
    assert counted
    cols = {c["field"]: c for c in column_defs(view)}
    for name in counted:
        assert cols[name]["valueFormatter"] == {"function": "tasklensCount(params.value)"}
    assert "fns.tasklensCount = function" in FORMATS_JS.read_text()


def test_first_rows_show_counts_and_headers_as_the_grid() -> None:
    columns = column_defs(CALLS)
    record = {c["field"]: None for c in columns} | {"input_tokens": 29518, "task_id": 7, "id": "c1"}
    markup = str(first_rows(calls.GRID, columns, [record], CALLS).to_plotly_json())
    assert "29,518" in markup and "Input tokens" in markup and "Input_tokens" not in markup


def test_an_llm_call_is_named_by_its_model() -> None:
    """Only tools and agents report a name: the Name column stood empty on every LLM row."""
    assert calls.named({"kind": "llm", "name": None, "model": "gpt-4.1"})["name"] == "gpt-4.1"
    assert calls.named({"kind": "llm", "name": "", "model": "gpt-4.1"})["name"] == "gpt-4.1"
    assert calls.named({"kind": "tool", "name": "search", "model": None})["name"] == "search"
    assert calls.named({"kind": "agent", "name": "planner", "model": "gpt-4.1"})["name"] == "planner"
    assert calls.named({"kind": "tool", "name": None, "model": None})["name"] is None


def _no_rows(grid: Any) -> str:
    """The grid's no-rows overlay as the browser gets it (a JS string expression: dash-ag-grid drops HTML)."""
    found = _find(grid, lambda c: getattr(c, "rowModelType", None) == "infinite")
    return str(json.loads(found.dashGridOptions["overlayNoRowsTemplate"]["function"]))


def _find(node: Any, match: Any) -> Any:
    if match(node):
        return node
    children = getattr(node, "children", None)
    for child in children if isinstance(children, list | tuple) else [children]:
        if hasattr(child, "to_plotly_json"):
            found = _find(child, match)
            if found is not None:
                return found
    return None


@pytest.mark.parametrize(
    ("page", "noun", "query"), [(tasks, "tasks", {"tag": "x"}), (calls, "calls", {"name": "x"})]
)
def test_an_empty_grid_says_why_and_what_to_do(page: Any, noun: str, query: dict[str, str]) -> None:
    """AG Grid's stock "No Rows To Show" in a blank 560 px box: on an empty database how to get some (the Submit
    page linked), with filters that match nothing just that. The browser switches between them as filters
    change (SET_EMPTY_STATE)."""
    none = _no_rows(page.layout())
    assert f"No {noun} yet" in none and "python app.py --demo" in none and "submit a task" in none
    assert (
        "<a " not in none
    )  # inside role="grid" a link breaks aria-required-children (test_accessibility.py)
    assert (
        _no_rows(page.layout(**query)) == f'<span class="tasklens-empty">No {noun} match these filters</span>'
    )
    assert filtered([[], None, " "]) is False and filtered([["failed"]]) is True and filtered(["x"]) is True


@pytest.mark.parametrize("view", [TASKS, CALLS], ids=["tasks", "calls"])
def test_the_columns_fit_a_desktop_window_and_flex_from_a_least_width(view: View) -> None:
    """At 1440 px the tasks grid's columns came to ~1,790 px in a ~1,415 px grid: "Ended (UT", the Cost and
    Error columns off-screen behind a scrollbar at the grid's foot (the calls grid's Error and # too). At their
    least widths they fit a 1400 px window; a column that flexes says how narrow it may go (a phone scrolls the
    grid sideways rather than squash a title to a few letters), and the title takes the most of what is left."""
    columns = column_defs(view)
    assert least_width(columns) <= FITS, least_width(columns)
    flexible = [c for c in columns if c.get("flex")]
    assert flexible and all(c.get("minWidth", 0) >= 60 for c in flexible), flexible
    assert all(c.get("width") or c.get("flex") for c in columns)  # none left at AG Grid's 200 px
    assert all(c["tooltipField"] == c["field"] for c in flexible)  # what a narrow window cuts, on hover
    if view is TASKS:
        title = next(c for c in columns if c["field"] == "title")
        assert title["minWidth"] >= 180 and title["flex"] == max(c["flex"] for c in flexible)
