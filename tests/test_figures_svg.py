"""Tests: dashboard/figures_svg.py — the overview's 24 h chart drawn by the server as SVG: bars stacked by
outcome and the created line scaled to the data, hours of the window on the x axis (UTC), an empty state with
no axes, colours of text and lines from CSS classes (both themes), a title and description for screen readers,
every label escaped."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from dashboard import figures_svg
from dashboard.figures import PARTIAL_OPACITY, START_HINT, STATUS_HEX

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)
WINDOW = (NOW - timedelta(hours=24), NOW + timedelta(minutes=30))
SVG = "{http://www.w3.org/2000/svg}"


def _parse(markup: str) -> ET.Element:
    return ET.fromstring(markup.replace("<svg ", f'<svg xmlns="{SVG[1:-1]}" ', 1))


def _frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    ended = pd.DataFrame(
        {
            # naive UTC, as the database hands buckets back
            "bucket": pd.to_datetime(["2026-12-03 09:00", "2026-12-03 09:00", "2026-12-03 10:00"]),
            "status": ["completed", "failed", "completed"],
            "count": [30, 10, 20],
        }
    )
    made = pd.DataFrame(
        {"bucket": pd.to_datetime(["2026-12-03 09:00", "2026-12-03 10:00"]), "count": [45, 5]}
    )
    return ended, made


def _rects(root: ET.Element) -> list[ET.Element]:
    return [r for r in root.iter(f"{SVG}rect") if "tl-bar" in (r.get("class") or "")]


def test_bars_stack_by_outcome_and_scale_to_the_data() -> None:
    ended, made = _frames()
    root = _parse(figures_svg.throughput(ended, made, WINDOW))
    bars = _rects(root)
    assert [b.get("fill") for b in bars] == [
        STATUS_HEX["completed"],
        STATUS_HEX["failed"],
        STATUS_HEX["completed"],
    ]
    heights = [float(b.get("height") or 0) for b in bars]
    assert heights[0] == pytest.approx(3 * heights[1], rel=0.02)  # 30 against 10
    assert heights[2] == pytest.approx(2 * heights[1], rel=0.02)  # 20 against 10
    # Stacked: the failed part sits on top of the completed part of the same hour.
    first, second = bars[0], bars[1]
    assert first.get("x") == second.get("x")
    assert float(second.get("y") or 0) + float(second.get("height") or 0) == pytest.approx(
        float(first.get("y") or 0), abs=0.2
    )
    # The y axis reaches the highest value (45 created) with round ticks, and the tallest thing drawn fits.
    ticks = [t.text for t in root.iter(f"{SVG}text") if t.get("text-anchor") == "end"]
    assert ticks == ["0", "10", "20", "30", "40", "50"]
    # The hour 10:00 is to the right of 09:00 by one hour's share of the window's width.
    x9, x10 = float(bars[0].get("x") or 0), float(bars[2].get("x") or 0)
    plot = figures_svg.WIDTH - figures_svg.MARGIN_LEFT - figures_svg.MARGIN_RIGHT
    assert x10 - x9 == pytest.approx(plot / 24.5, rel=0.01)
    # Each bar says what it is on hover.
    assert [b.find(f"{SVG}title").text for b in bars][1] == "2026-12-03 09:00 UTC · failed: 10"  # type: ignore[union-attr]


def test_the_created_line_and_its_points() -> None:
    ended, made = _frames()
    root = _parse(figures_svg.throughput(ended, made, WINDOW))
    line = next(root.iter(f"{SVG}polyline"))
    assert line.get("class") == "tl-created"  # its colour from CSS, per theme
    points = [tuple(map(float, p.split(","))) for p in (line.get("points") or "").split()]
    assert len(points) == 2 and points[0][1] < points[1][1]  # 45 is drawn higher than 5
    top = figures_svg.MARGIN_TOP
    bottom = figures_svg.HEIGHT - figures_svg.MARGIN_BOTTOM
    assert points[1][1] == pytest.approx(bottom - (bottom - top) * 5 / 50, abs=0.1)
    assert len(list(root.iter(f"{SVG}circle"))) == 2


def test_time_axis_says_utc_and_marks_hours() -> None:
    ended, made = _frames()
    root = _parse(figures_svg.throughput(ended, made, WINDOW))
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert "UTC" in labels and "tasks" in labels
    hours = [x for x in labels if x and re.fullmatch(r"\d\d:00", x)]
    assert hours[0] == "15:00" and hours[-1] == "12:00" and len(hours) == 8  # every 3 h over the 24 h


def test_aware_and_naive_windows_draw_alike() -> None:
    ended, made = _frames()
    naive = tuple(w.replace(tzinfo=None) for w in WINDOW)
    assert figures_svg.throughput(ended, made, WINDOW) == figures_svg.throughput(ended, made, naive)  # type: ignore[arg-type]


def test_accessible_name_and_summary() -> None:
    ended, made = _frames()
    markup = figures_svg.throughput(ended, made, WINDOW, ident="c1")
    root = _parse(markup)
    assert root.get("role") == "img" and root.get("aria-labelledby") == "c1-t c1-d"
    assert root.find(f"{SVG}title").text == "Tasks ended per hour, last 24 hours (UTC)"  # type: ignore[union-attr]
    assert root.find(f"{SVG}desc").text == "50 completed, 10 failed; 50 created."  # type: ignore[union-attr]
    legend = next(g for g in root.iter(f"{SVG}g") if g.get("class") == "tl-legend")
    assert legend.get("aria-hidden") == "true"  # the description says it already
    assert [t.text for t in legend.iter(f"{SVG}text")] == ["completed", "failed", "created"]


def test_text_and_lines_take_their_colour_from_css() -> None:
    """No colour is fixed but the data's: text, grid and axes have classes (assets/tasklens.css gives them
    currentColor, which follows the theme)."""
    ended, made = _frames()
    root = _parse(figures_svg.throughput(ended, made, WINDOW))
    for node in root.iter():
        tag = node.tag.removeprefix(SVG)
        if tag in ("text", "line", "polyline", "circle"):
            assert node.get("class"), ET.tostring(node)
            assert node.get("fill") in (None, "none") and node.get("stroke") is None, ET.tostring(node)


def test_empty_state_has_no_axes() -> None:
    none = pd.DataFrame
    markup = figures_svg.throughput(
        none(columns=["bucket", "status", "count"]), none(columns=["bucket", "count"]), WINDOW
    )
    root = _parse(markup)
    assert "tl-chart-empty" in (root.get("class") or "")
    texts = [t.text for t in root.iter(f"{SVG}text")]
    assert texts == [figures_svg.EMPTY_24H, START_HINT]
    assert not list(root.iter(f"{SVG}line")) and not _rects(root)
    assert root.find(f"{SVG}title").text == figures_svg.EMPTY_24H  # type: ignore[union-attr]


def test_labels_are_escaped() -> None:
    markup = figures_svg.empty("<script>x</script> & more", "e")
    assert "<script>" not in markup and "&lt;script&gt;x&lt;/script&gt; &amp; more" in markup
    _parse(markup)  # well-formed


@pytest.mark.parametrize(
    ("top", "ticks"),
    [(0, [0, 1]), (1, [0, 0.2, 0.4, 0.6, 0.8, 1]), (7, [0, 2, 4, 6, 8]), (1234, [0, 500, 1000, 1500])],
)
def test_nice_ticks(top: float, ticks: list[float]) -> None:
    assert figures_svg.nice_ticks(top) == ticks


def _drawings(markup: str) -> list[ET.Element]:
    """The <svg> elements of markup holding several, in order."""
    root = ET.fromstring("<div>" + markup.replace("<svg ", f'<svg xmlns="{SVG[1:-1]}" ') + "</div>")
    return list(root)


def test_a_phone_gets_its_own_drawing_with_larger_text() -> None:
    """The desktop's 720 units shrunk to a phone's ~334 px drew the labels ~5 px high: the pair adds a drawing
    of half the units across (its text twice as large on screen), fewer ticks, the legend kept inside it; the
    phone's first, as the stylesheet picks it by what precedes the desktop's (assets/tasklens.css)."""
    ended, made = _frames()
    narrow, wide = _drawings(figures_svg.throughput_pair(ended, made, WINDOW, ident="c"))
    assert "tl-chart-narrow" in (narrow.get("class") or "") and "tl-chart-wide" in (wide.get("class") or "")
    assert wide.get("viewBox") == "0 0 720 300"
    width = figures_svg.NARROW.width
    assert narrow.get("viewBox") == f"0 0 {width} 300" and width <= 720 / 2
    labels = [t.text for t in narrow.iter(f"{SVG}text")]
    assert [x for x in labels if x and re.fullmatch(r"\d\d:00", x)] == ["18:00", "00:00", "06:00", "12:00"]
    assert "UTC" in labels and "tasks" in labels
    # The legend wraps onto a second row rather than past the drawing's right edge.
    legend = next(g for g in narrow.iter(f"{SVG}g") if g.get("class") == "tl-legend")
    names = list(legend.iter(f"{SVG}text"))
    assert [t.text for t in names] == ["completed", "failed", "created"]
    for t in names:
        assert float(t.get("x") or 0) + figures_svg.NARROW.char * len(t.text or "") <= width
    # The same data: as many bars, the same summary for screen readers.
    assert len(_rects(narrow)) == len(_rects(wide)) == 3
    assert narrow.find(f"{SVG}desc").text == wide.find(f"{SVG}desc").text  # type: ignore[union-attr]


def test_the_pairs_ids_are_unique_and_each_names_its_own_title() -> None:
    ended, made = _frames()
    markup = figures_svg.throughput_pair(ended, made, WINDOW, ident="c")
    ids = re.findall(r'\sid="([^"]*)"', markup)
    assert sorted(ids) == ["c-d", "c-narrow-d", "c-narrow-t", "c-t"]
    for drawing in _drawings(markup):
        own = {node.get("id") for node in drawing.iter() if node.get("id")}
        assert set((drawing.get("aria-labelledby") or "").split()) == own


def test_a_phones_empty_state_wraps_its_hint() -> None:
    none = pd.DataFrame
    markup = figures_svg.throughput_pair(
        none(columns=["bucket", "status", "count"]), none(columns=["bucket", "count"]), WINDOW
    )
    narrow, wide = _drawings(markup)
    assert [t.text for t in wide.iter(f"{SVG}text")] == [figures_svg.EMPTY_24H, START_HINT]
    message, *hint = [t.text or "" for t in narrow.iter(f"{SVG}text")]
    assert message == figures_svg.EMPTY_24H and len(hint) == 2 and " ".join(hint) == START_HINT
    most = (figures_svg.NARROW.width - 24) / figures_svg.NARROW.char
    assert all(len(line) <= most for line in hint)


def test_the_first_hours_bar_is_cut_at_the_axis() -> None:
    """The window starts inside an hour: that hour's bar began left of the y axis, over its labels."""
    ended = pd.DataFrame(
        {"bucket": pd.to_datetime(["2026-12-02 12:00"]), "status": ["completed"], "count": [4]}
    )
    root = _parse(figures_svg.throughput(ended, pd.DataFrame(columns=["bucket", "count"]), WINDOW))
    (bar,) = _rects(root)
    assert float(bar.get("x") or 0) == figures_svg.MARGIN_LEFT


def test_the_hour_the_window_starts_in_is_not_drawn() -> None:
    """The window ("now - 24 h") starts at 12:40: its 12:00 hour is read from 12:40 only (2 created against 26)
    and lies left of the y axis. Its created point was drawn in the axis gutter, the line falling from 26 to 2
    at the left edge as if volume had dropped."""
    window = (datetime(2026, 12, 2, 12, 40), datetime(2026, 12, 3, 13, 10))
    hours = pd.to_datetime(["2026-12-02 12:00", "2026-12-02 13:00", "2026-12-02 14:00"])
    made = pd.DataFrame({"bucket": hours, "count": [2, 26, 25]})
    ended = pd.DataFrame({"bucket": hours, "status": ["completed"] * 3, "count": [1, 20, 22]})
    for frame in (figures_svg.WIDE, figures_svg.NARROW):
        root = _parse(figures_svg.throughput(ended, made, window, frame=frame))
        line = next(root.iter(f"{SVG}polyline"))
        xs = [float(p.split(",")[0]) for p in (line.get("points") or "").split()]
        assert len(xs) == 2 and min(xs) > frame.left  # 13:00 and 14:00, right of the axis
        tips = [c.find(f"{SVG}title").text or "" for c in root.iter(f"{SVG}circle")]  # type: ignore[union-attr]
        assert [t.split(" · ")[1] for t in tips] == ["created: 26", "created: 25"]
        assert len(_rects(root)) == 2 and all(float(b.get("x") or 0) >= frame.left for b in _rects(root))


def test_the_hour_in_progress_is_drawn_as_partial() -> None:
    """At 14:20 the 14:00 hour holds 20 minutes: its 7 created against 25 an hour drew the line falling at the
    right edge. Its bars are faded, the line to it dashed, and its hover text says "so far"."""
    now = datetime(2026, 12, 3, 14, 20)
    window = (now - timedelta(hours=24), now + timedelta(minutes=30))
    hours = pd.to_datetime(["2026-12-03 12:00", "2026-12-03 13:00", "2026-12-03 14:00"])
    made = pd.DataFrame({"bucket": hours, "count": [26, 25, 7]})
    ended = pd.DataFrame({"bucket": hours, "status": ["completed"] * 3, "count": [20, 22, 5]})
    root = _parse(figures_svg.throughput(ended, made, window, now=now))
    solid, dashed = list(root.iter(f"{SVG}polyline"))
    assert len((solid.get("points") or "").split()) == 2 and solid.get("stroke-dasharray") is None
    assert len((dashed.get("points") or "").split()) == 2 and dashed.get("stroke-dasharray")
    joined = (dashed.get("points") or "").split()[0], (solid.get("points") or "").split()[-1]
    assert joined[0] == joined[1]  # at 13:00
    tips = [c.find(f"{SVG}title").text or "" for c in root.iter(f"{SVG}circle")]  # type: ignore[union-attr]
    assert ["so far" in t for t in tips] == [False, False, True]
    assert [b.get("opacity") for b in _rects(root)] == [None, None, str(PARTIAL_OPACITY)]
    # Without `now` (or once the hour is over) every hour is drawn whole.
    later = _parse(figures_svg.throughput(ended, made, window, now=now + timedelta(hours=1)))
    assert len(list(later.iter(f"{SVG}polyline"))) == 1
    assert all(b.get("opacity") is None for b in _rects(later))
    pair = figures_svg.throughput_pair(ended, made, window, now=now)
    assert pair.count('stroke-dasharray="') == 2  # the phone's drawing and the desktop's
