"""Tests: the analytics scope (URL round trip) and the cost queries against hand-computed answers, on SQLite
and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import plotly.graph_objects as go
import pytest

from dashboard.services import Services
from db.analytics import costs
from db.core.engine import Database
from db.domain.states import TaskKind, TaskStatus
from db.read.scope import ScopeError, parse_scope
from tests.builders import make_task

NOW = datetime(2026, 3, 10, 12, 0)


def test_scope_round_trip_and_errors() -> None:
    s = parse_scope("?range=30d&model=gpt-4.1&model=m2&kind=demo&tag=", NOW)
    assert (s.start, s.end, s.unit) == (NOW - timedelta(days=30), NOW, "day")
    assert s.model == ("gpt-4.1", "m2") and s.kind == ("demo",) and s.tag == ()
    assert parse_scope(s.to_query(), NOW) == s
    custom = parse_scope("?from=2026-03-01&to=2026-03-02T06:00", NOW)
    assert (custom.range_key, custom.unit, custom.span) == ("custom", "hour", timedelta(hours=30))
    assert parse_scope(custom.to_query(), NOW) == custom
    assert custom.previous().end == custom.start and custom.previous().span == custom.span
    assert parse_scope("", NOW).range_key == "7d"
    for bad in (
        "?range=2y",
        "?from=yesterday",
        "?from=2026-03-02&to=2026-03-01",
        "?from=2020-01-01&to=2026-01-01",
        "?from=2026-03-01T00:00+02:00",
    ):
        with pytest.raises(ScopeError):
            parse_scope(bad, NOW)


@pytest.fixture
def spend(db: Database) -> dict[str, int]:
    """Two days ago: a completed demo task (planner gpt-4.1 $1, builder claude $2, tagged a).
    Yesterday: a failed command task (tester haiku $0.5, tagged a and b). 20 days ago: a task costing $4."""
    return {
        "done": make_task(
            db,
            created=NOW - timedelta(days=2),
            tags=("a",),
            calls=(("planner", "gpt-4.1", 1.0), ("builder", "claude", 2.0)),
        ),
        "failed": make_task(
            db,
            created=NOW - timedelta(days=1),
            status=TaskStatus.FAILED,
            kind=TaskKind.COMMAND,
            tags=("a", "b"),
            calls=(("tester", "haiku", 0.5),),
        ),
        "old": make_task(db, created=NOW - timedelta(days=20), calls=(("planner", "gpt-4.1", 4.0),)),
    }


def test_totals_and_previous_period(db: Database, spend: dict[str, int]) -> None:
    week = parse_scope("?range=7d", NOW)
    with db.reading() as s:
        t = costs.totals(s, week)
        before = costs.totals(s, parse_scope("?from=2026-02-01&to=2026-03-03", NOW))
    assert t.cost == pytest.approx(3.5) and t.calls == 3 and t.tasks == 2 and t.completed_tasks == 1
    assert (t.input_tokens, t.output_tokens) == (300, 30)
    assert t.per_task == pytest.approx(1.75) and t.per_success == pytest.approx(3.5)
    assert before.cost == pytest.approx(4.0) and before.completed_tasks == 1


@pytest.mark.parametrize(
    ("query", "dim", "expected"),
    [
        ("?range=7d", "model", {"claude": 2.0, "gpt-4.1": 1.0, "haiku": 0.5}),
        ("?range=7d", "role", {"builder": 2.0, "planner": 1.0, "tester": 0.5}),
        ("?range=7d", "kind", {"demo": 3.0, "command": 0.5}),
        ("?range=7d", "tag", {"a": 3.5, "b": 0.5}),
        ("?range=30d", "model", {"gpt-4.1": 5.0, "claude": 2.0, "haiku": 0.5}),
        ("?range=30d&role=planner", "model", {"gpt-4.1": 5.0}),
        ("?range=7d&tag=b", "role", {"tester": 0.5}),
        # By tag under a tag filter: the tasks tagged b, and every tag they carry.
        ("?range=7d&tag=b", "tag", {"a": 0.5, "b": 0.5}),
        ("?range=7d&kind=demo&model=claude", "role", {"builder": 2.0}),
    ],
)
def test_breakdowns(
    db: Database, spend: dict[str, int], query: str, dim: str, expected: dict[str, float]
) -> None:
    with db.reading() as s:
        frame = costs.breakdown(s, parse_scope(query, NOW), dim)
    assert dict(zip(frame["key"], frame["cost"].round(6), strict=True)) == expected
    assert list(frame["cost"]) == sorted(frame["cost"], reverse=True)


def test_over_time_and_tops(db: Database, spend: dict[str, int]) -> None:
    scope = parse_scope("?range=30d", NOW)
    with db.reading() as s:
        daily = costs.over_time(s, scope)
        weekly = costs.over_time(s, scope, "week")
        tasks = costs.top_tasks(s, scope, limit=2)
        calls = costs.top_invocations(s, scope, limit=1)
        with pytest.raises(ValueError):
            costs.breakdown(s, scope, "password")
    assert daily["cost"].sum() == pytest.approx(7.5) and daily["bucket"].nunique() == 3
    assert set(weekly["bucket"].dt.day_of_week) == {0}  # weeks start on Monday
    assert list(tasks["task_id"]) == [spend["old"], spend["done"]] and list(tasks["cost"]) == [4.0, 3.0]
    assert calls.iloc[0]["cost"] == 4.0 and calls.iloc[0]["task_id"] == spend["old"]


def test_costs_page_callbacks(db: Database, svc: Services) -> None:
    from dashboard import scopebar
    from dashboard.pages import costs as page
    from db.core.timeutil import utcnow
    from tests.test_components import texts

    make_task(
        db, created=utcnow() - timedelta(hours=3), title="<b>pricey</b>", calls=(("planner", "gpt-4.1", 2.5),)
    )
    cards, spend, _tokens, bars, top_tasks, top_calls = page.refresh(
        svc, "?range=24h", "auto", "model", "dark"
    )
    assert "$2.50" in texts(cards) and "no spend in the previous period" in texts(cards)
    assert [t.name for t in spend.data] == ["gpt-4.1"] and list(spend.data[0].y) == [2.5]
    assert list(bars.data[0].y) == ["gpt-4.1"]
    assert "<b>pricey</b>" in texts(top_tasks)  # a title stays text
    assert "planner" in texts(top_calls)
    ids_ = [{"type": "scope-dim", "dim": "model"}, {"type": "scope-dim", "dim": "tag"}]
    assert scopebar.scope_query("30d", None, None, [["gpt-4.1"], []], ids_) == "?range=30d&model=gpt-4.1"
    assert scopebar.scope_query("custom", "2026-03-01", "2026-03-05", [[], ["x"]], ids_) == (
        "?from=2026-03-01&to=2026-03-05&tag=x"
    )


def test_an_empty_range_shows_one_empty_state_in_the_cost_card(db: Database, svc: Services) -> None:
    """On an empty database the cost chart and the tokens chart under it drew the same "no data" placeholder
    twice in one card: the tokens chart is hidden while it is empty, and shown again when there is data."""
    import dash

    from dashboard import figures, ids
    from dashboard.pages import costs as page

    _cards, spend, tokens, *_ = page.refresh(svc, "?range=24h", "auto", "model", None)
    assert figures.is_empty(spend) and figures.is_empty(tokens)
    assert page.tokens_style(tokens) == {"display": "none"}
    assert page.tokens_style(go.Figure(go.Scatter(x=[1], y=[1]))) == {}
    app = dash.Dash(__name__)
    page.register(app, svc)
    assert any(f"{ids.COST_TOKENS}.style" in outputs for outputs in app.callback_map)
