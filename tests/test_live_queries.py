"""Tests: the live dashboard's read queries against hand-computed answers, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from db.core.engine import Database
from db.domain.states import TaskKind, TaskStatus
from db.read import overview
from db.read.tasks import board, history, listing
from db.read.tasks.detail import task_record
from db.read.tasks.filters import TaskFilter
from tests.builders import make_task

NOW = datetime(2026, 3, 4, 15, 30, 0)
TODAY = datetime(2026, 3, 4)


@pytest.fixture
def fixed(db: Database) -> dict[str, int]:
    """Yesterday: 1 completed. Today: 3 completed (60/120/600 s), 1 failed, 1 timed out, 1 running silent for
    10 min, 1 running active, 2 queued."""
    ids = {
        "old": make_task(db, created=TODAY - timedelta(hours=5), ran_for=30),
        "c60": make_task(
            db,
            created=TODAY + timedelta(hours=9),
            ran_for=60,
            tags=("a",),
            calls=(("planner", "gpt-4.1", 0.5), ("builder", "gpt-4.1", 0.25)),
        ),
        "c120": make_task(db, created=TODAY + timedelta(hours=10), ran_for=120, title="Fix the 50% bug"),
        "c600": make_task(db, created=NOW - timedelta(minutes=40), ran_for=600, kind=TaskKind.COMMAND),
        "failed": make_task(
            db, created=TODAY + timedelta(hours=11), status=TaskStatus.FAILED, tags=("a", "b")
        ),
        "timeout": make_task(db, created=TODAY + timedelta(hours=12), status=TaskStatus.TIMED_OUT),
        "silent": make_task(
            db, created=NOW - timedelta(minutes=30), status=TaskStatus.RUNNING, worker="w2", started_after=0
        ),
        "active": make_task(
            db, created=NOW - timedelta(seconds=20), status=TaskStatus.RUNNING, started_after=0
        ),
        "q1": make_task(db, created=NOW - timedelta(minutes=2), status=TaskStatus.QUEUED),
        "q2": make_task(db, created=NOW - timedelta(minutes=1), status=TaskStatus.QUEUED),
    }
    return ids


def test_kpis(db: Database, fixed: dict[str, int]) -> None:
    with db.reading() as s:
        k = overview.kpis(s, NOW, timedelta(minutes=5))
    assert (k.queued, k.running, k.active) == (2, 2, 4)
    assert k.stuck == 1  # "silent": its last activity is 30 min old; "active" is 20 s old
    assert (k.completed_today, k.failed_today) == (3, 2)  # timed out counts as failed
    assert k.success_rate == pytest.approx(3 / 5)
    assert k.avg_duration_s == pytest.approx((60 + 120 + 600) / 3, abs=0.01)
    assert k.p95_duration_s == pytest.approx(120, abs=0.01)  # offset int(0.95 * 2) = 1 of [60, 120, 600]
    assert k.throughput_per_hour == 1  # only c600 ended within the last hour
    assert k.cost_today == pytest.approx(0.75)


def test_finished_and_created_series(db: Database, fixed: dict[str, int]) -> None:
    with db.reading() as s:
        ended = overview.finished_series(s, NOW, hours=24)
        made = overview.started_series(s, NOW, hours=24)
    got = {(b.hour, st): n for b, st, n in ended.itertuples(index=False)}
    # c60 ended 09:01:10, c120 10:02:10, failed 11:01:10, timeout 12:01:10, c600 15:00:10; "old" at 19:00:40
    assert got == {
        (19, "completed"): 1,
        (9, "completed"): 1,
        (10, "completed"): 1,
        (11, "failed"): 1,
        (12, "timed_out"): 1,
        (15, "completed"): 1,
    }
    assert int(made["count"].sum()) == 10


def test_board_lanes_and_order(db: Database, fixed: dict[str, int]) -> None:
    with db.reading() as s:
        lanes = board.lane_cards(s, per_lane=10)
        counts = board.lane_counts(s, NOW)
    assert list(lanes["queued"]["id"]) == [fixed["q1"], fixed["q2"]]
    assert set(lanes["running"]["id"]) == {fixed["silent"], fixed["active"]}
    assert list(lanes["completed"]["id"])[:1] == [fixed["c600"]]  # newest end first
    assert set(lanes["failed"]["status"]) == {"failed", "timed_out"}
    # The finished statuses count today's (UTC) tasks, not the cards shown: "old" ended yesterday.
    assert counts == {
        "queued": 2,
        "running": 2,
        "completed": 3,
        "failed": 1,
        "timed_out": 1,
        "cancelled": 0,
    }


@pytest.mark.parametrize(
    ("filt", "expected"),
    [
        (TaskFilter(statuses=("queued",)), {"q1", "q2"}),
        (TaskFilter(kinds=("command",)), {"c600"}),
        (TaskFilter(worker="w2"), {"silent"}),
        (TaskFilter(tag="a"), {"c60", "failed"}),
        (TaskFilter(text="50%"), {"c120"}),  # LIKE wildcards in the search are literal
        (
            TaskFilter(created_from=NOW - timedelta(hours=1)),
            {"c600", "silent", "active", "q1", "q2"},
        ),
    ],
)
def test_task_page_filters(db: Database, fixed: dict[str, int], filt: TaskFilter, expected: set[str]) -> None:
    with db.reading() as s:
        frame, total = listing.task_page(s, filt)
    names = {k for k, v in fixed.items() if v in set(frame["id"])}
    assert names == expected
    assert total == len(expected)


def test_task_page_sorts_and_pages(db: Database, fixed: dict[str, int]) -> None:
    with db.reading() as s:
        first, total1 = listing.task_page(s, TaskFilter(), [("created_at", "asc")], 0, 4)
        rest, total2 = listing.task_page(s, TaskFilter(), [("created_at", "asc")], 4, 100)
        with pytest.raises(ValueError):
            listing.task_page(s, TaskFilter(), [("error_message; drop table", "asc")])
    assert total1 is None and total2 == 10  # the total is known only on the last page
    created = list(first["created_at"]) + list(rest["created_at"])
    assert created == sorted(created) and len(created) == 10
    assert first.iloc[0]["id"] == fixed["old"]
    with pytest.raises(ValueError):
        TaskFilter(statuses=("bogus",))


def test_task_detail_queries(db: Database, fixed: dict[str, int]) -> None:
    task_id = fixed["c60"]
    with db.reading() as s:
        moves = history.transitions(s, task_id)
        inv = history.invocations(s, task_id)
        t = task_record(s, task_id)
    assert list(moves["to_status"]) == ["queued", "running", "completed"]
    assert list(inv["role"]) == ["planner", "builder"]
    assert inv["cost_usd"].sum() == pytest.approx(0.75)
    assert list(inv["duration_s"].round(3)) == [0.0, 0.0]  # started and finished in one write here
    assert t is not None and t.update_count == 1 + 1 + 2 * 3 + 1
