"""Tests: client times on POST /api/v1/events on SQLite and PostgreSQL — an agent's own `at` becomes the
task's and calls' times (so durations and queue waits are its real ones), a time outside the skew window is
a 422 naming `events[i].at` that stores nothing, and an event without `at` is stamped when recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from dashboard.services import Services
from db.core.engine import Database
from db.core.timeutil import utcnow
from db.domain.clientclock import OutOfWindow, SkewWindow
from tests.api_support import api_client, call, ev, row_counts


@pytest.fixture
def client(svc: Services) -> FlaskClient:
    return api_client(svc)


def iso(moment: datetime, offset_hours: int = 0) -> str:
    """`moment` (aware) written with the given UTC offset, as another machine's clock would."""
    return moment.astimezone(UTC).astimezone(_zone(offset_hours)).isoformat()


def _zone(hours: int) -> Any:
    from datetime import timezone

    return timezone(timedelta(hours=hours))


def parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_durations_and_queue_wait_are_the_agents_own(client: FlaskClient) -> None:
    t0 = datetime.now(UTC) - timedelta(hours=2)
    events = [
        ev("task", "1", title="timed run", at=iso(t0, 2)),
        ev("transition", "2", to="running", worker="far-agent", at=iso(t0 + timedelta(seconds=3))),
        ev("invocation.started", "3", id="c1", model="gpt-4.1", at=iso(t0 + timedelta(seconds=4), -5)),
        ev("activity", "4", message="tool ran", invocation_id="c1", at=iso(t0 + timedelta(seconds=5))),
        ev("invocation.completed", "5", id="c1", output_tokens=10, at=iso(t0 + timedelta(seconds=6.5))),
        ev("transition", "6", to="completed"),  # no `at`: when the server records it
    ]
    before = utcnow()
    out = call(client, "POST", "/events", {"events": events})
    [state] = out["tasks"]
    task = call(client, "GET", f"/tasks/{state['task_id']}")
    created, started = parse(task["created_at"]), parse(task["started_at"])
    assert created == t0.replace(microsecond=t0.microsecond // 1000 * 1000)  # the API writes milliseconds
    assert (started - created).total_seconds() == pytest.approx(3, abs=0.002)  # the queue wait
    assert parse(task["completed_at"]).replace(tzinfo=None) >= before.replace(microsecond=0)
    inv = call(client, "GET", f"/invocations/t{state['task_id']}a1-c1")
    duration = parse(inv["completed_at"]) - parse(inv["started_at"])
    assert duration.total_seconds() == pytest.approx(2.5, abs=0.002)
    assert parse(inv["activity"][0]["at"]) - parse(inv["started_at"]) == timedelta(seconds=1)


@pytest.mark.parametrize(
    ("shift", "words"),
    [(timedelta(days=8), "in the past"), (timedelta(minutes=-10), "in the future")],
)
def test_a_time_outside_the_skew_window_is_refused_by_field(
    client: FlaskClient, db: Database, shift: timedelta, words: str
) -> None:
    before = row_counts(db)
    events = [
        ev("task", "1", title="late"),
        ev("transition", "2", to="running"),
        ev("progress", "3", message="x", at=iso(datetime.now(UTC) - shift)),
    ]
    err = call(client, "POST", "/events", {"events": events}, status=422)["error"]
    assert err["details"]["field"] == "events[2].at"
    assert words in err["message"] and "nothing of this batch was stored" in err["message"]
    assert row_counts(db) == before


def test_a_time_without_an_offset_is_refused(client: FlaskClient) -> None:
    err = call(
        client,
        "POST",
        "/events",
        {"events": [ev("task", "1", title="t", at="2026-12-03T07:00:00")]},
        status=422,
    )["error"]
    assert err["details"]["field"] == "events[0].at"


def test_the_window_is_a_setting() -> None:
    now = datetime(2026, 12, 3, 7, 0)
    window = SkewWindow(past_seconds=60, future_seconds=0)
    assert window.check(datetime(2026, 12, 3, 8, 59, 30, tzinfo=_zone(2)), now) == datetime(
        2026, 12, 3, 6, 59, 30
    )
    with pytest.raises(OutOfWindow, match="TASKLENS_CLOCK_SKEW_PAST_SECONDS"):
        window.check(datetime(2026, 12, 3, 6, 58, tzinfo=UTC), now)
    with pytest.raises(OutOfWindow, match="TASKLENS_CLOCK_SKEW_FUTURE_SECONDS"):
        window.check(datetime(2026, 12, 3, 7, 0, 1, tzinfo=UTC), now)
