"""Tests: the "task finished" toasts drawn from assets/live.js's plan (dashboard/toasts.py, pure) — singles with
what is left of their time, a burst as one summary with counts by outcome and a link to the table filtered by
those outcomes."""

from __future__ import annotations

from dashboard import toasts as finish
from tests.test_components import texts


def test_singles_keep_their_key_and_remaining_time() -> None:
    plan = {
        "finished": [
            {"task_id": 1, "to": "completed", "key": "1-10", "ms_left": 2500},
            {"task_id": 2, "to": "timed_out", "key": "2-11", "ms_left": 6000},
        ]
    }
    out = finish.render(plan, {1: "one", 2: "two"})
    assert [t.header for t in out] == ["Task #1 completed", "Task #2 timed out"]
    assert [t.id for t in out] == ["finish-1-10", "finish-2-11"]
    assert [t.duration for t in out] == [2500, 6000]
    assert "one" in texts(out) and "two" in texts(out)


def test_a_burst_is_one_summary_with_counts_and_a_filtered_link() -> None:
    out = finish.render({"counts": {"failed": 2, "completed": 9, "timed_out": 1}}, {})
    assert len(out) == 1 and out[0].header == "12 tasks finished"
    assert "9 completed · 2 failed · 1 timed out" in texts(out)
    assert out[0].children[1].href == "/tasks?status=completed&status=failed&status=timed_out"
    assert out[0].icon == "danger"
    # Each new count is a new id: the toast remounts, so it stays up SHOW_MS after the latest finish.
    assert finish.render({"counts": {"completed": 13}}, {})[0].id != out[0].id


def test_malformed_plans_are_left_out() -> None:
    plan = {
        "finished": [{"task_id": "x"}, {"task_id": True}, {"task_id": 7, "to": "completed", "ms_left": -5}]
    }
    assert finish.singles_of(plan) == [finish.Single(7, "completed", "7", finish.SHOW_MS)]
    assert finish.singles_of(None) == [] and finish.counts_of({"counts": {"failed": "2"}}) == {}
