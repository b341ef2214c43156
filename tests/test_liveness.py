"""Tests: the "possibly stuck" rule is one rule (db/domain/liveness.py) — the overview's count, the report's table, the
stuck-task alert and the dashboard's marker agree on the same task at the same moment, on both databases,
including at the boundary (silent exactly the threshold: not yet stuck; a second more: stuck)."""

from __future__ import annotations

from datetime import datetime, timedelta

from dashboard.components.status import stuck_marker
from db.alerts import conditions as alert_conditions
from db.alerts.rules import list_rules
from db.core.engine import Database
from db.domain.states import TaskStatus
from db.read import overview
from db.read.scope import Scope
from db.reporting import queries as report_queries
from tests.builders import make_task

CREATED = datetime(2026, 11, 20, 12, 0, 0)
STARTED = CREATED + timedelta(seconds=10)  # make_task starts a task 10 s after creating it
AFTER = timedelta(seconds=60)
READERS = ("overview", "report", "alert", "page")


def verdicts(db: Database, now: datetime) -> dict[str, bool]:
    scope = Scope(start=CREATED - timedelta(days=1), end=now)
    with db.reading() as s:
        rule = next(r for r in list_rules(s) if r.kind == "stuck_task" and r.threshold is None)
        return {
            "overview": overview.kpis(s, now, AFTER).stuck == 1,
            "report": len(report_queries.stuck_tasks(s, scope, now, AFTER)) == 1,
            "alert": len(alert_conditions.stuck_tasks(s, rule, now, AFTER.total_seconds())) == 1,
            "page": stuck_marker((now - STARTED).total_seconds(), AFTER.total_seconds()) is not None,
        }


def test_every_reader_applies_the_same_stuck_rule(db: Database) -> None:
    make_task(db, created=CREATED, status=TaskStatus.RUNNING)
    assert verdicts(db, STARTED + AFTER - timedelta(seconds=1)) == dict.fromkeys(READERS, False)
    # Silent exactly the threshold: "longer than" is not met yet, everywhere (the page used to say stuck).
    assert verdicts(db, STARTED + AFTER) == dict.fromkeys(READERS, False)
    assert verdicts(db, STARTED + AFTER + timedelta(seconds=1)) == dict.fromkeys(READERS, True)
