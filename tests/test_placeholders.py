"""Tests: filter and form placeholders fit their boxes — short enough for the box's width at 1440 px (a search
box of md=2, ~200 px) or at 390 px (a phone), with the whole hint kept in the field's title (a tooltip)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from dashboard import ids
from dashboard.components.reports import schedule_card
from dashboard.pages import alerts, calls, tasks
from db.reporting.schedules import Schedule

pytestmark = pytest.mark.usefixtures("layout_alone")  # the layouts alone, not another test's database

# About what ~200 px shows at Bootstrap's 16 px, with room to spare: "name or model contain…" (22) was cut.
FITS = 18


def _path(node: Any, ident: Any) -> list[Any]:
    """The components from `node` down to the one with `ident`, or [] when there is none."""
    if getattr(node, "id", None) == ident:
        return [node]
    children = getattr(node, "children", None)
    for child in children if isinstance(children, list | tuple) else [children]:
        if hasattr(child, "to_plotly_json"):
            found = _path(child, ident)
            if found:
                return [node, *found]
    return []


def _schedule() -> Schedule:
    now = datetime(2026, 1, 5, tzinfo=UTC)
    return Schedule(
        id=1, name="weekly", period="weekly", enabled=True, hour=8, minute=0, weekday=0, day_of_month=None,
        timezone="UTC", formats=("html",), kinds=(), tags=(), recipients=(), webhook_url=None,
        enabled_at=now, last_fire_at=None, created_at=now, updated_at=now,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("layout", "ident", "hint"),
    [
        (tasks.layout, ids.F_TEXT, "title, creator, #id, address or external id"),
        (calls.layout, calls.F_NAME, "name or model contains"),
        (alerts.layout, alerts.NOTE, "acknowledgement or silence"),
        (
            lambda: schedule_card(_schedule(), None),
            {"type": ids.SCHED_RECIPIENTS, "id": 1},
            "Comma-separated",
        ),
    ],
)
def test_placeholder_fits_and_the_title_says_it_all(layout: Any, ident: Any, hint: str) -> None:
    path = _path(layout(), ident)
    assert path, ident
    assert len(path[-1].placeholder) <= FITS, path[-1].placeholder
    # The whole hint: the field's own title (a Textarea has one) or its wrapper's (components/hinted.py).
    titles = [getattr(node, "title", None) or "" for node in path[-2:]]
    assert any(hint in t for t in titles), titles
