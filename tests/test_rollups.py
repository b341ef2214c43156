"""Tests: the usage_hourly rollup — cost analytics read through it give the same answers as reading the calls,
refreshes are idempotent, and usage recorded late on an old call is folded in (recording it touches the task,
so the next refresh redoes the call's hour); events_hourly's busiest minute, whatever order the rows come in.
SQLite and PostgreSQL. Every rollup declared as a spec, its generated reads and folds: test_rollup_spec.py."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

import pytest
from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from db.analytics import costs, rollup_tables, rollups
from db.core.engine import Database
from db.core.models import EventsHourly, JobLease, UsageHourly
from db.domain.ops import ActivityLine, TaskSpec, Usage
from db.domain.states import TaskKind, TaskStatus
from db.read.scope import parse_scope
from db.write.writes import apply_ops, insert_tasks
from tests.builders import make_task
from tests.rollup_data import at

NOW = datetime(2026, 3, 10, 12, 30)


@pytest.fixture
def calls(db: Database) -> dict[str, int]:
    return {
        "a": make_task(
            db,
            created=NOW - timedelta(days=3, minutes=20),
            tags=("x",),
            calls=(("planner", "gpt-4.1", 1.0), ("builder", "claude", 2.0)),
        ),
        "b": make_task(db, created=NOW - timedelta(hours=5, minutes=10), calls=(("tester", "haiku", 0.5),)),
        "c": make_task(
            db,
            created=NOW - timedelta(minutes=10),
            status=TaskStatus.RUNNING,
            calls=(("planner", "gpt-4.1", 0.25),),
        ),  # after the rollup's cut: read from the calls
    }


def answers(db: Database, query: str) -> tuple[Any, ...]:
    scope = parse_scope(query, NOW)
    with db.reading() as s:
        t = costs.totals(s, scope)
        series = costs.over_time(s, scope, "day")
        by_model = costs.breakdown(s, scope, "model")
        by_role = costs.breakdown(s, scope, "role")
        cut = costs.rollup_cut(s, scope)
    return (
        (round(t.cost, 6), t.input_tokens, t.output_tokens, t.calls),
        sorted(
            (str(b.date()), m, round(c, 6))
            for b, m, c in series[["bucket", "model", "cost"]].itertuples(index=False)
        ),
        dict(zip(by_model["key"], by_model["cost"].round(6), strict=True)),
        dict(zip(by_role["key"], by_role["calls"], strict=True)),
        cut,
    )


def test_rollup_answers_equal_the_calls(db: Database, calls: dict[str, int]) -> None:
    raw = {q: answers(db, q) for q in ("?range=7d", "?range=30d&model=gpt-4.1", "?range=7d&kind=demo")}
    assert all(r[4] is None for r in raw.values())  # no rollup yet: the calls are read
    with db.writing() as s:
        rollups.refresh(s, NOW)
        assert s.scalar(select(func.count()).select_from(UsageHourly)) == 4  # one row per hour and call shape
    for query, expected in raw.items():
        got = answers(db, query)
        assert got[4] == datetime(2026, 3, 10, 12, 0), query  # the rollup served everything before 12:00
        assert got[:4] == expected[:4], query
    assert raw["?range=7d"][0][0] == pytest.approx(3.75)


def test_refresh_is_idempotent_and_folds_in_late_usage(db: Database, calls: dict[str, int]) -> None:
    def total() -> float:
        with db.reading() as s:
            return float(s.scalar(select(func.sum(UsageHourly.cost_usd))) or 0.0)

    def rows() -> list[tuple[Any, ...]]:
        with db.reading() as s:
            return sorted(
                tuple(r)
                for r in s.execute(
                    select(UsageHourly.hour, UsageHourly.model, UsageHourly.role, UsageHourly.calls)
                ).all()
            )

    def late_usage(cost: float, at: datetime) -> None:
        """More usage on the call of task "b", which started about five hours before NOW."""
        with db.writing() as s:
            apply_ops(s, calls["b"], [Usage("haiku", 10, 0, 0, cost, f"{calls['b']}-0")], actor="t", now=at)

    with db.writing() as s:
        rollups.refresh(s, NOW)  # first run: everything
    first, first_rows = total(), rows()
    with db.writing() as s:
        rollups.refresh(s, NOW)  # then the hours since the last refresh and the touched ones, recomputed
    assert total() == pytest.approx(first) == pytest.approx(3.75)
    assert rows() == first_rows
    # Late usage on the old call bumps the task's last_updated_at, so the next refresh finds the call's hour
    # (07:00, long before the last whole hour) among the touched ones and redoes it.
    late_usage(1.0, NOW + timedelta(minutes=5))
    with db.writing() as s:
        rollups.refresh(s, NOW + timedelta(minutes=10))
    assert total() == pytest.approx(4.75)
    with db.reading() as s:
        hour_b = s.scalar(select(UsageHourly.cost_usd).where(UsageHourly.role == "tester"))
        assert hour_b == pytest.approx(1.5)
        assert costs.totals(s, parse_scope("?range=7d", NOW + timedelta(minutes=10))).cost == pytest.approx(
            4.75
        )
    # A change stamped before the last refresh (less the clock-skew allowance) is not looked for...
    late_usage(0.5, NOW + timedelta(minutes=10) - rollups.SKEW - timedelta(seconds=1))
    with db.writing() as s:
        rollups.refresh(s, NOW + timedelta(minutes=20))
    assert total() == pytest.approx(4.75)
    # ...until a full rebuild (what the first run of a fresh database, or `rebuild(None)`, does).
    with db.writing() as s:
        rollups.rebuild(s, None)
    assert total() == pytest.approx(5.25)


def test_tag_filters_read_the_calls(db: Database, calls: dict[str, int]) -> None:
    with db.writing() as s:
        rollups.refresh(s, NOW)
        s.execute(delete(UsageHourly))  # an empty rollup cannot be what answers a tag filter
    scope = parse_scope("?range=7d&tag=x", NOW)
    with db.reading() as s:
        assert costs.rollup_cut(s, scope) is None
        assert costs.totals(s, scope).cost == pytest.approx(3.0)
        assert s.get(JobLease, rollups.JOB) is not None


def test_the_hour_a_range_starts_in_is_not_read_whole_from_the_rollup(db: Database) -> None:
    start = NOW - timedelta(days=7)  # 03-03 12:30
    make_task(db, created=start - timedelta(minutes=20), calls=(("planner", "gpt-4.1", 1.0),))  # 12:10
    make_task(db, created=start + timedelta(minutes=10), calls=(("planner", "gpt-4.1", 2.0),))  # 12:40
    raw = answers(db, "?range=7d")
    assert raw[0] == (2.0, 100, 10, 1)  # the calls alone: only the one at 12:40 is in the range
    with db.writing() as s:
        rollups.refresh(s, NOW)
    assert answers(db, "?range=7d")[:4] == raw[:4]


def test_filter_choices_are_the_same_through_the_rollup(db: Database, calls: dict[str, int]) -> None:
    make_task(db, created=NOW - timedelta(minutes=5), tags=("y",), calls=(("reviewer", "o3", 0.1),))
    make_task(db, created=NOW - timedelta(days=40), tags=("old",), calls=(("analyst", "ancient", 0.1),))

    def choices() -> dict[str, list[str]]:
        with db.reading() as s:
            return costs.dimension_values(s, since=NOW - timedelta(days=30))

    raw = choices()
    with db.writing() as s:
        rollups.refresh(s, NOW)
    rolled = choices()
    assert rolled == raw
    # Calls of the last 30 days only (the one after the rollup's last hour included); every tag ever used.
    assert rolled["role"] == ["builder", "planner", "reviewer", "tester"]
    assert rolled["model"] == ["claude", "gpt-4.1", "haiku", "o3"]
    assert rolled["tag"] == ["old", "x", "y"]


class AnyOrder:
    """A session whose SELECTs without ORDER BY return their rows in reverse: SQL promises no order then, and
    PostgreSQL's hash aggregation really does return groups in an order that changes with the rows around."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def execute(self, statement: Any, *args: Any, **kwargs: Any) -> Any:
        result = self.session.execute(statement, *args, **kwargs)
        if not isinstance(statement, Select) or statement._order_by_clauses:
            return result
        rows = list(result.all())[::-1]

        class Rows:
            def all(self) -> list[Any]:
                return rows

        return Rows()


def test_busiest_minute_tie_is_broken_by_time(db: Database) -> None:
    """Two minutes with three events each: the earlier is the busiest minute, whatever order the rows come in."""
    with db.writing() as s:
        [task_id] = insert_tasks(
            s, [TaskSpec(title="t", kind=TaskKind.DEMO)], actor="t", now=at("2026-03-10 11:22:05")
        )
        for when in ("2026-03-10 11:22:10", "2026-03-10 11:22:20", "2026-03-10 11:50:01"):
            apply_ops(s, task_id, [ActivityLine("x")], actor="t", now=at(when))
        for when in ("2026-03-10 11:50:02", "2026-03-10 11:50:03"):
            apply_ops(s, task_id, [ActivityLine("y")], actor="t", now=at(when))
    window = (at("2026-03-10 11:00"), at("2026-03-10 12:00"))
    for session_of in (lambda s: s, AnyOrder):
        with db.writing() as s:
            rollup_tables.events(cast(Session, session_of(s)), window)
            row = s.execute(
                select(EventsHourly.events, EventsHourly.peak_minute, EventsHourly.peak_events)
            ).one()
        assert tuple(row) == (6, at("2026-03-10 11:22"), 3)
