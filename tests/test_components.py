"""Tests: pure figure and component builders, and the form/grid helpers (no browser, no database)."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from dash.exceptions import PreventUpdate

from dashboard import figures
from dashboard.components import board, detail, fmt, status
from dashboard.components.overview import kpi_cards, workers_summary
from dashboard.pages import submit, tasks
from db.domain.ops import SpecError
from db.read.overview import Kpis

NOW = datetime(2026, 5, 1, 12, 0, 0)
XSS = "<img src=x onerror=alert(1)>"


def texts(component: Any) -> list[str]:
    """Every string in a component tree, as Dash would send it to React (which renders them as text); and a
    line of text with its values in nowrap spans (a KPI card's, fmt.value_runs) also as the one string it reads."""
    found: list[str] = []

    def line(children: Any) -> str | None:
        if not isinstance(children, list) or not children:
            return None
        if not any("text-nowrap" in (getattr(c, "className", None) or "") for c in children):
            return None
        parts = [c if isinstance(c, str) else getattr(c, "children", None) for c in children]
        return "".join(parts) if all(isinstance(p, str) for p in parts) else None  # type: ignore[arg-type]

    def walk(node: Any) -> None:
        if isinstance(node, str):
            found.append(node)
        elif isinstance(node, list | tuple):
            for item in node:
                walk(item)
        elif hasattr(node, "to_plotly_json"):
            children = node.to_plotly_json().get("props", {}).get("children")
            joined = line(children)
            if joined is not None:
                found.append(joined)
            walk(children)

    walk(component)
    return found


def types(component: Any) -> set[str]:
    seen: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, list | tuple):
            for item in node:
                walk(item)
        elif hasattr(node, "to_plotly_json"):
            seen.add(type(node).__name__)
            walk(node.to_plotly_json().get("props", {}).get("children"))

    walk(component)
    return seen


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "–"),
        (0.25, "250 ms"),
        (5.04, "5.0 s"),
        (65, "1m 05s"),
        (3 * 3600 + 120, "3h 02m"),
        (50 * 3600, "2d 02h"),
    ],
)
def test_duration(seconds: float | None, text: str) -> None:
    assert fmt.duration(seconds) == text


def test_formatters() -> None:
    assert fmt.money(0.123456) == "$0.12" and fmt.money(1234.5) == "$1,234.50" and fmt.money(None) == "–"
    assert fmt.percent(0.5) == "50.0%" and fmt.count(1234567) == "1,234,567"
    assert fmt.missing(pd.NaT) and fmt.missing(float("nan")) and not fmt.missing("x") and not fmt.missing(0)


def test_stuck_marker_and_liveness() -> None:
    assert status.stuck_marker(10, 60) is None
    marker = status.stuck_marker(125, 60)
    assert marker is not None and "possibly stuck" in texts(marker)[0] and "2m 05s" in texts(marker)[0]
    live = status.liveness(3, 60, NOW)
    props = live.to_plotly_json()["props"]
    assert props["data-activity-at"] == "2026-05-01T12:00:00.000Z" and props["data-stuck-after"] == "60"
    assert any("active 3.0 s ago" in t for t in texts(live))
    assert any("possibly stuck" in t for t in texts(status.liveness(61, 60, NOW)))


def card_row(**over: Any) -> pd.Series:
    row = {
        "id": 7,
        "title": XSS,
        "kind": "demo",
        "status": "running",
        "priority": 0,
        "attempt": 1,
        "max_attempts": 1,
        "progress": 40.0,
        "current_iteration": 2,
        "max_iterations": 5,
        "worker_id": "w",
        "created_at": NOW - timedelta(minutes=5),
        "started_at": NOW - timedelta(minutes=4),
        "completed_at": pd.NaT,
        "last_activity_at": NOW - timedelta(minutes=3),
        "cost_usd": 0.5,
        "error_message": None,
        "cancel_requested": False,
    }
    row.update(over)
    return pd.Series(row)


def test_running_card_shows_progress_elapsed_and_stuck() -> None:
    card = board.task_card(card_row(), NOW, stuck_after_s=60)
    strings = texts(card)
    assert XSS in strings  # the title is a text child, never parsed as HTML
    assert "iteration 2 of 5 · 40%" in strings  # the label says the bar's number
    assert any(s.startswith("elapsed 4m") for s in strings)
    assert any("possibly stuck" in s and "3m 00s" in s for s in strings)
    assert "Markdown" not in types(card) and "Iframe" not in types(card)


def test_cancel_requested_badge_reads_in_both_themes() -> None:
    """A "dark" badge was #212529 on the dark theme's #212529 card: invisible."""
    card = board.task_card(card_row(cancel_requested=True), NOW, 60)
    found = json.loads(json.dumps(card.to_plotly_json(), default=lambda c: c.to_plotly_json()))

    def badges(node: Any) -> list[dict[str, Any]]:
        if isinstance(node, list):
            return [b for n in node for b in badges(n)]
        if not isinstance(node, dict):
            return []
        here = [node["props"]] if node.get("type") == "Badge" else []
        return here + badges(node.get("props", {}).get("children"))

    (cancel,) = [b for b in badges(found) if b.get("children") == "cancel requested"]
    assert cancel["color"] == "warning" and cancel["text_color"] == "dark"


def test_cancelled_has_a_colour_of_its_own_in_both_themes() -> None:
    """Cancelled was Bootstrap's "dark", #212529: the dark theme's background, so its badge read as bare text
    and a cancelled card lost its coloured edge. Now a colour of its own, set per theme in tasklens.css."""
    assert all(c != "dark" for c in fmt.STATUS_COLORS.values())
    badge = status.status_badge("cancelled")
    assert badge.color == fmt.CANCELLED == "var(--tl-cancelled)"
    assert "status-badge-cancelled" in badge.className  # its text colour, per theme
    css = (Path(__file__).resolve().parent.parent / "dashboard/assets/tasklens.css").read_text()
    assert re.search(r":root \{ --tl-cancelled: #\w+; --tl-cancelled-text: #\w+; \}", css)
    assert re.search(r'\[data-bs-theme="dark"\] \{ --tl-cancelled: #\w+; --tl-cancelled-text: #\w+; \}', css)
    assert ".task-card.status-cancelled { border-left: 4px solid var(--tl-cancelled); }" in css


def test_a_kpi_line_keeps_each_value_whole() -> None:
    """A value with its unit, a date-time, a range or a count with its noun is one nowrap span; the words
    between wrap ("p95 4m / 50s", "2026- / 11-30 10:33" and "last 60 / s" were seen in 1440 px cards)."""

    def runs(text: str) -> list[str]:
        return [p.children for p in fmt.value_runs(text) if not isinstance(p, str)]

    assert runs("p50 ≈4m 05s · p95 4m 50s") == ["p50 ≈4m 05s", "p95 4m 50s"]
    assert runs("p50 12.0 s · p95 33.4 s") == ["p50 12.0 s", "p95 33.4 s"]
    assert runs("274–646, day of 12-04 00:00") == ["274–646,", "12-04 00:00"]
    assert runs("busiest minute, 2026-11-30 10:33") == ["2026-11-30 10:33"]
    assert runs("this process · last 60 s · 54 commits") == ["60 s", "54 commits"]
    assert runs("no commits measured yet") == []
    for text in ("p50 ≈4m 05s · p95 4m 50s", "WAL 3.2 MB · free 1.0 KB", "1, 2", "a b"):
        assert "".join(p if isinstance(p, str) else p.children for p in fmt.value_runs(text)) == text
    card = kpi_cards(
        Kpis(
            queued=0,
            running=0,
            stuck=0,
            completed_today=0,
            failed_today=0,
            success_rate=None,
            avg_duration_s=None,
            p95_duration_s=None,
            throughput_per_hour=0,
            cost_today=0.0,
        )
    )
    value = card.children[0].children.children.children[1]  # Active's value: "0", whole
    assert value.children == "0" and "text-nowrap" in value.className
    assert "0/h" in texts(card)


def test_zero_rates_read_alike() -> None:
    assert fmt.per_hour(0) == fmt.per_hour(0.0) == "0/h"
    assert fmt.per_hour(21) == "21/h" and fmt.per_hour(1.7345) == "1.73/h"


def test_finished_cards() -> None:
    done = board.task_card(card_row(status="completed", completed_at=NOW), NOW, 60)
    assert any(s.startswith("took 4m 00s") for s in texts(done))
    failed = board.task_card(card_row(status="failed", completed_at=NOW, error_message=XSS), NOW, 60)
    assert XSS in texts(failed)
    queued = board.task_card(card_row(status="queued", started_at=pd.NaT), NOW, 60)
    assert any(s.startswith("waiting 5m") for s in texts(queued))


def test_board_lanes() -> None:
    frames = {lane: pd.DataFrame([card_row(id=i)]) for i, lane in enumerate(board.LANE_TITLES)}
    frames["failed"] = frames["failed"].iloc[0:0]
    row = board.board(frames, {"queued": 12, "failed": 0, "timed_out": 0, "cancelled": 0}, NOW, 60)
    strings = texts(row)
    assert "Queued" in strings and "12" in strings and "nothing here" in strings and "0 today" in strings


def test_kpis_and_workers() -> None:
    k = Kpis(
        queued=2,
        running=3,
        stuck=1,
        completed_today=10,
        failed_today=2,
        success_rate=10 / 12,
        avg_duration_s=61,
        p95_duration_s=300,
        throughput_per_hour=4,
        cost_today=1.5,
    )
    strings = texts(kpi_cards(k))
    for expected in ("5", "1 possibly stuck", "83.3%", "1m 01s", "5m 00s", "4/h", "$1.50"):
        assert expected in strings, expected
    empty = workers_summary(pd.DataFrame(), NOW)
    assert "No worker has registered yet" in texts(empty)[0]


def test_detail_views_render_user_text_as_text() -> None:
    from db.core.models import Task

    t = Task(
        id=3,
        title=XSS,
        kind="command",
        status="failed",
        attempt=2,
        max_attempts=2,
        progress=50.0,
        current_iteration=1,
        max_iterations=2,
        result={"html": "<b>x</b>"},
        error_message=XSS,
        created_at=NOW - timedelta(minutes=2),
        started_at=NOW - timedelta(minutes=1),
        completed_at=NOW,
        last_updated_at=NOW,
        last_activity_at=NOW,
        update_count=12,
        activity_count=3,
        invocation_count=0,
        input_tokens=10,
        output_tokens=5,
        cache_read_tokens=0,
        cost_usd=0.01,
        cancel_requested=False,
        worker_id="w1",
    )
    strings = texts(detail.header(t)) + texts(detail.user_view(t, NOW, 60))
    assert XSS in " ".join(strings)
    assert json.dumps({"html": "<b>x</b>"}, indent=2) in strings
    db_view = " ".join(texts(detail.database_view(t, NOW, (1.5, 7.25))))
    assert "p50 1.5 ms · p95 7.2 ms" in db_view and "6.0 / min" in db_view
    line = detail.activity_line(NOW, "error", XSS)
    assert texts(line) == ["12:00:00", "[error]", XSS]


def test_timeline_figure() -> None:
    inv = pd.DataFrame(
        {
            "role": ["planner", "builder", "planner"],
            "model": ["m1", "m2", "m1"],
            "status": ["completed"] * 3,
            "started_at": [NOW, NOW + timedelta(seconds=5), NOW + timedelta(seconds=9)],
            "completed_at": [NOW + timedelta(seconds=4), NOW + timedelta(seconds=8), pd.NaT],
        }
    )
    moves = pd.DataFrame(
        {
            "at": [NOW, NOW + timedelta(seconds=10)],
            "from_status": [None, "queued"],
            "to_status": ["queued", "running"],
        }
    )
    fig = figures.task_timeline(inv, moves, NOW + timedelta(seconds=11), None)
    bars = [t for t in fig.data if t.type == "bar"]
    assert [b.name for b in bars] == ["planner", "builder"]
    assert list(bars[0].x) == [4000.0, 2000.0]  # the open call runs until "now"
    marks = next(t for t in fig.data if t.type == "scatter")
    assert list(marks.text) == ["queued", "running"] and list(marks.hovertext) == [
        "new → queued",
        "queued → running",
    ]


def test_build_spec_from_form() -> None:
    spec = submit.build_spec("command", " hi ", "echo 1", "", "3", "a, b,", "", "2", "30")
    assert (spec.title, spec.payload, spec.priority, spec.tags, spec.max_attempts, spec.timeout_seconds) == (
        "hi",
        {"command": "echo 1"},
        3,
        ("a", "b"),
        2,
        30.0,
    )
    for args, field in [
        (("command", "t", "", "", 0, "", "", 1, None), "payload.command"),
        (("python", "t", "", "{bad", 0, "", "", 1, None), "payload"),
        (("python", "t", "", "[1]", 0, "", "", 1, None), "payload"),
        (("demo", "", "", "", 0, "", "", 1, None), "title"),
        (("demo", "t", "", "", "1.5", "", "", 1, None), "priority"),
        (("demo", "t", "", "", 0, "", "0", 1, None), "max_iterations"),
    ]:
        with pytest.raises(SpecError) as info:
            submit.build_spec(*args)
        assert info.value.field == field


def test_task_href() -> None:
    assert tasks.task_href({"rowId": "12"}) == "/tasks/12"
    for bad in (None, {}, {"rowId": "undefined"}, {"rowId": None}):
        with pytest.raises(PreventUpdate):
            tasks.task_href(bad)


def test_grid_filter_and_rows() -> None:
    f = tasks.filter_from(["running"], None, "", " tag ", "", "24h")
    assert f.statuses == ("running",) and f.tag == "tag" and f.worker is None and f.created_from is not None
    frame = pd.DataFrame([{"id": 1, "tags": ["a", "b"], "created_at": NOW, "completed_at": pd.NaT}])
    out = tasks.rows_response(frame, None)
    assert out["rowCount"] == -1
    assert out["rowData"][0] == {
        "id": 1,
        "tags": "a, b",
        "created_at": "2026-05-01 12:00:00",
        "completed_at": None,
    }


def test_every_page_is_routed_and_in_the_navbar() -> None:
    """A page module that exists is served and linked (a forgotten registration is a 404 for users)."""
    import pkgutil

    import dashboard.pages
    from dashboard.navigation import SHELL
    from dashboard.routes import NAV_LINKS, PAGES

    modules = {m.name for m in pkgutil.iter_modules(dashboard.pages.__path__)}
    assert {p.__name__.rsplit(".", 1)[1] for p in PAGES} == modules
    linked = {link.href for link in NAV_LINKS} | {SHELL}
    for page in PAGES:
        assert hasattr(page, "NAV"), f"{page.__name__} says neither its navbar entry nor NAV = None"
        if page.NAV is None:  # linked from another page (the navbar is full at 1400 px)
            assert page.LINKED_FROM in linked, page.__name__
        else:
            assert page.PATH in linked, page.__name__


def test_the_navbar_is_the_pages_declarations_in_their_order() -> None:
    """The links, their order and roles come from the page modules; the set is the one that fits 1400 px."""
    from dashboard.navigation import Link, NavEntry, links, visible
    from dashboard.routes import NAV_LINKS

    assert [(link.label, link.href) for link in NAV_LINKS] == [
        *(("Overview", "/"), ("Tasks", "/tasks"), ("Costs", "/costs"), ("Budgets", "/budgets")),
        *(("Agents", "/agents"), ("Performance", "/performance"), ("Database", "/database")),
        *(("Reports", "/reports"), ("Schedules", "/schedules"), ("Audit", "/audit"), ("Submit", "/submit")),
    ]
    roles = {link.href: link.role for link in NAV_LINKS}
    assert roles.pop("/audit") == "admin" and roles.pop("/submit") == "operator"
    assert set(roles.values()) == {"viewer"}
    # Order is the declared one, not the order the pages were given in.
    assert links([("/b", NavEntry("B", 2)), ("/x", None), ("/a", NavEntry("A", 1))]) == (
        Link("A", "/a", "viewer"),
        Link("B", "/b", "viewer"),
    )
    assert [link.href for link in visible(NAV_LINKS, lambda role: role == "viewer")] == [
        link.href for link in NAV_LINKS if link.href not in ("/audit", "/submit")
    ]
