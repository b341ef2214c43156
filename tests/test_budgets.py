"""Tests: budgets — periods, validation, spend and projection against hand-computed answers (SQLite and
PostgreSQL), the page's add/delete as plain functions, and the overview card."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update

from dashboard import ids
from dashboard.components.budgets import budget_card
from dashboard.pages import budgets as page
from dashboard.services import Services
from db.analytics import budgets
from db.core.engine import Database
from db.core.models import Task
from tests.builders import make_task
from tests.test_components import texts

NOW = datetime(2026, 3, 11, 12, 0)  # a Wednesday


def test_period_bounds() -> None:
    assert budgets.period_bounds("day", NOW) == (datetime(2026, 3, 11), datetime(2026, 3, 12))
    assert budgets.period_bounds("week", NOW) == (datetime(2026, 3, 9), datetime(2026, 3, 16))
    assert budgets.period_bounds("month", NOW) == (datetime(2026, 3, 1), datetime(2026, 4, 1))
    assert budgets.period_bounds("month", datetime(2026, 12, 31, 23)) == (
        datetime(2026, 12, 1),
        datetime(2027, 1, 1),
    )
    with pytest.raises(budgets.BudgetError):
        budgets.period_bounds("year", NOW)


def test_validation(db: Database) -> None:
    with db.writing() as s:
        for args, field in [
            (("", "day", 1.0), "name"),
            (("x", "year", 1.0), "period"),
            (("x", "day", 0.0), "limit_usd"),
            (("x", "day", 5e-324), "limit_usd"),  # spent / limit would overflow to infinity
            (("x", "day", 5.0, "team"), "scope_kind"),
            (("x", "day", 5.0, "tag", "  "), "scope_value"),
        ]:
            with pytest.raises(budgets.BudgetError) as info:
                budgets.add_budget(s, *args)  # type: ignore[arg-type]
            assert info.value.field == field


def test_spend_and_projection(db: Database) -> None:
    # Today: $3 tagged "research" by alice, $1 untagged by bob. Last week: $10 (outside every period but month).
    make_task(db, created=NOW - timedelta(hours=6), tags=("research",), calls=(("planner", "m", 3.0),))
    t2 = make_task(db, created=NOW - timedelta(hours=2), calls=(("planner", "m", 1.0),))
    make_task(db, created=NOW - timedelta(days=8), calls=(("planner", "m", 10.0),))
    with db.writing() as s:
        s.execute(update(Task).where(Task.id == t2).values(created_by="bob"))
        budgets.add_budget(s, "all daily", "day", 8.0, now=NOW)
        budgets.add_budget(s, "research weekly", "week", 2.0, "tag", "research", now=NOW)
        budgets.add_budget(s, "bob monthly", "month", 100.0, "created_by", "bob", now=NOW)
        budgets.add_budget(s, "all monthly", "month", 12.0, now=NOW)
    with db.reading() as s:
        by_name = {b.name: b for b in budgets.statuses(s, NOW)}
    daily = by_name["all daily"]
    assert daily.spent == pytest.approx(4.0) and not daily.over
    assert daily.projected == pytest.approx(8.0)  # $4 by noon: $8 by midnight
    assert not daily.projected_over
    research = by_name["research weekly"]
    assert research.spent == pytest.approx(3.0) and research.over and research.used == pytest.approx(1.5)
    assert by_name["bob monthly"].spent == pytest.approx(1.0)
    monthly = by_name["all monthly"]
    assert monthly.spent == pytest.approx(14.0) and monthly.over
    card = budget_card(list(by_name.values()))
    assert "2 over" in texts(card)


def test_page_add_and_delete(db: Database, svc: Services) -> None:
    feedback, added = page.add(svc, "<b>team</b>", "week", "50", "all", None)
    assert added and "Budget <b>team</b> added." in texts(feedback)
    feedback, added = page.add(svc, "bad", "week", "lots", "all", None)
    assert not added and texts(feedback) == ["limit must be a number"]
    feedback, added = page.add(svc, "bad", "week", "-5", "all", None)
    assert not added and "limit_usd" in texts(feedback)[0]
    listing = texts(page.listing(svc))
    assert "<b>team</b>" in listing and "on track" in listing
    with db.reading() as s:
        [status] = budgets.statuses(s, NOW)
    feedback, removed = page.remove(svc, status.id)
    assert removed and texts(feedback) == ["Budget deleted."]
    assert "No budgets yet. Add one below." in texts(page.listing(svc))
    feedback, removed = page.remove(svc, status.id)  # a second tab's click on the same row
    assert not removed and texts(feedback) == ["That budget was already deleted."]


def test_download_csv_at_the_page_edge() -> None:
    """The page's 72rem reading width held its title row too: Download CSV stood mid-page (x ≈ 1120 at 1440 px)
    instead of at the right edge, where every other page has it. Only the list and the form are narrowed."""

    def narrowed_above(node: Any, target: str, narrowed: bool = False) -> bool | None:
        if getattr(node, "id", None) == target:
            return narrowed
        narrowed = narrowed or "maxWidth" in (getattr(node, "style", None) or {})
        children = getattr(node, "children", None)
        for child in children if isinstance(children, list) else [children]:
            found = narrowed_above(child, target, narrowed) if hasattr(child, "to_plotly_json") else None
            if found is not None:
                return found
        return None

    layout = page.layout()
    assert narrowed_above(layout, ids.EXPORT_BUDGETS) is False
    assert narrowed_above(layout, ids.BUDGET_LIST) is True  # the list and the form keep their width
