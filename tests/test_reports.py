"""Tests: a report over a hand-built week (SQLite and PostgreSQL) against hand-computed answers — KPIs and the
change against the previous week, completion by kind, costs, roles, workers, failures, stuck tasks, budgets
and the recommendations drawn from them — the CSV exports streamed from the database, and `python app.py
report` end to end."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from db.analytics.budgets import add_budget
from db.core.engine import Database
from db.core.models import Worker
from db.domain.ops import InvocationFinished, InvocationStarted, TaskSpec, Transition, Usage
from db.domain.states import TaskKind, TaskStatus
from db.write.writes import apply_ops, insert_tasks
from reports.build import build_report
from reports.model import Filters, Report
from reports.period import PeriodKind, period_for
from reports.write import write_report
from tests.builders import make_task
from tests.helpers import run_cli

NOW = datetime(2026, 11, 24, 9, 0)  # a Tuesday: the last complete week is Mon 16 – Sun 22 November
WEEK = period_for(PeriodKind.WEEKLY, NOW)
DAY = timedelta(days=1)
HOSTILE_TITLE = '<script>alert("t")</script> & co'
HOSTILE_ERROR = '=HYPERLINK("http://x") <img src=x onerror=alert(1)>'
HOSTILE_MODEL = "<img src=x onerror=alert(2)>"


def failed_command(db: Database, created: datetime) -> int:
    """A command task (priority -2, tags alpha and beta) whose one reviewer call fails and which then fails
    with a hostile title and error; it ran 120 s on worker w1."""
    with db.writing() as session:
        spec = TaskSpec(
            HOSTILE_TITLE, TaskKind.COMMAND, {"command": "false"}, priority=-2, tags=("alpha", "beta")
        )
        [task_id] = insert_tasks(session, [spec], actor="test", now=created)
        start = created + timedelta(seconds=10)
        apply_ops(
            session,
            task_id,
            [Transition(TaskStatus.RUNNING, worker_id="w1", lease_until=start + timedelta(hours=1))],
            actor="t",
            now=start,
        )
        inv = f"{task_id}-0"
        apply_ops(
            session,
            task_id,
            [
                InvocationStarted(inv, role="reviewer", provider="p", model="claude"),
                Usage("claude", 100, 10, 0, 0.5, inv),
                InvocationFinished(inv, ok=False, error="-rate limited"),
            ],
            actor="t",
            now=start + timedelta(seconds=1),
        )
        apply_ops(
            session,
            task_id,
            [Transition(TaskStatus.FAILED, error=HOSTILE_ERROR, reason="exit_code")],
            actor="t",
            now=start + timedelta(seconds=120),
        )
    return task_id


def seed(db: Database) -> dict[str, int]:
    """The week of 16 November and the week before it, plus spend on either side that no figure may count."""
    mon = WEEK.start
    ids = {
        "outside_before": make_task(db, created=datetime(2026, 11, 1, 10), calls=(("planner", "gpt-4.1", 0.4),)),
        "p1": make_task(db, created=mon - 6 * DAY, ran_for=40, calls=(("reviewer", "claude", 1.0),)),
        "p2": make_task(db, created=mon - 5 * DAY, ran_for=50, calls=(("planner", "gpt-4.1", 0.5),)),
        "a": make_task(
            db,
            created=mon + DAY + timedelta(hours=10),
            tags=("alpha",),
            calls=(("planner", "gpt-4.1", 1.0), ("reviewer", "claude", 2.4)),
        ),
        "b": failed_command(db, mon + 2 * DAY + timedelta(hours=10)),
        "c": make_task(
            db,
            created=mon + 3 * DAY + timedelta(hours=10),
            status=TaskStatus.TIMED_OUT,
            ran_for=300,
            calls=(("builder", "gpt-4.1", 0.25),),
        ),
        "d": make_task(
            db, created=mon + 4 * DAY + timedelta(hours=10), title="=1+1", ran_for=30,
            calls=(("planner", "gpt-4.1", 1.25),),
        ),
        "e": make_task(db, created=mon + 5 * DAY + timedelta(hours=10), title="+cmd", status=TaskStatus.CANCELLED),
        "f": make_task(db, created=mon + 6 * DAY + timedelta(hours=10), title="-2", status=TaskStatus.QUEUED),
        "g": make_task(
            db, created=mon + 5 * DAY + timedelta(hours=12), title="@SUM(A1)", status=TaskStatus.RUNNING,
            calls=(("tester", HOSTILE_MODEL, 0.1),),
        ),
        "outside_after": make_task(db, created=WEEK.end + timedelta(hours=12), calls=(("planner", "gpt-4.1", 5.0),)),
    }  # fmt: skip
    with db.writing() as session:
        session.add(
            Worker(id="w1", name="agent-1", host="h", pid=1, status="online", concurrency=2,
                   started_at=mon - 10 * DAY, last_seen_at=NOW)
        )  # fmt: skip
        add_budget(session, "alpha weekly", "week", 3.0, "tag", "alpha", now=mon)
        add_budget(session, "all monthly", "month", 9.0, now=mon)
        add_budget(session, "roomy", "month", 1000.0, now=mon)
    return ids


def build(db: Database, filters: Filters | None = None) -> Report:
    with db.reading() as session:
        return build_report(session, WEEK, filters, now=NOW)


def test_period_is_the_week_of_16_november() -> None:
    assert (WEEK.start, WEEK.end) == (datetime(2026, 11, 16), datetime(2026, 11, 23))
    assert (WEEK.previous().start, WEEK.previous().end) == (datetime(2026, 11, 9), datetime(2026, 11, 16))


def test_summary_and_change_against_the_previous_week(db: Database) -> None:
    seed(db)
    r = build(db)
    values = {k.key: (k.value, k.previous) for k in r.kpis}
    # Created 16–22 Nov: a, b, c, d, e, f, g; before: p1, p2.
    assert values["tasks_created"] == (7, 2)
    # Ended in the week: completed a, d; failed b; timed out c (a failure); e cancelled counts in neither.
    assert values["tasks_completed"] == (2, 2) and values["tasks_failed"] == (2, 0)
    assert values["success_rate"] == pytest.approx((0.5, 1.0))
    assert r.kpi("success_rate").delta == pytest.approx(-0.5) and r.kpi("success_rate").trend == "bad"
    # Spend: 1.0 + 2.4 (a) + 0.5 (b) + 0.25 (c) + 1.25 (d) + 0.1 (g) = 5.5 over the 5 tasks with calls.
    assert values["total_cost"] == pytest.approx((5.5, 1.5))
    assert values["cost_per_task"] == pytest.approx((1.1, 0.75))
    assert r.kpi("cost_per_task").change == pytest.approx(1.1 / 0.75 - 1)
    assert r.kpi("total_cost").change == pytest.approx(5.5 / 1.5 - 1)
    assert values["tokens"] == (6 * 110, 2 * 110)  # each call: 100 in, 10 out
    # p95 by nearest rank at or below: of (30 s, 60 s) the first; of (40 s, 50 s) the first.
    assert values["p95_processing_s"] == pytest.approx((30.0, 40.0))
    assert r.kpi("p95_processing_s").change == pytest.approx(-0.25, abs=1e-5)


def test_completion_by_kind_and_status(db: Database) -> None:
    seed(db)
    r = build(db)
    kinds = r.by_kind.set_index("kind")
    assert kinds.loc["demo", ["created", "completed", "failed", "timed_out", "cancelled"]].tolist() == [
        6,
        2,
        0,
        1,
        1,
    ]
    assert kinds.loc["command", ["created", "completed", "failed", "timed_out", "cancelled"]].tolist() == [
        1,
        0,
        1,
        0,
        0,
    ]
    assert (
        kinds.loc["demo", "success_rate"] == pytest.approx(2 / 3)
        and kinds.loc["command", "success_rate"] == 0
    )
    assert kinds.loc["demo", "p95_s"] == pytest.approx(30.0) and kinds.loc["demo", "p50_s"] == pytest.approx(
        30.0
    )
    assert dict(zip(r.by_status["status"], r.by_status["count"], strict=True)) == {
        "completed": 2, "failed": 1, "timed_out": 1, "cancelled": 1, "queued": 1, "running": 1,
    }  # fmt: skip
    assert r.volume["created"].sum() == 7 and len(r.volume) == 7 and r.volume_unit == "day"
    assert r.volume["failed"].tolist() == [0, 0, 1, 1, 0, 0, 0]


def test_cost_breakdowns(db: Database) -> None:
    seed(db)
    r = build(db)

    def costs(dim: str) -> dict[str, float]:
        frame = r.cost_by[dim]
        return dict(zip(frame["key"], frame["cost"].round(6), strict=True))

    assert costs("model") == {"claude": 2.9, "gpt-4.1": 2.5, HOSTILE_MODEL: 0.1}
    assert costs("role") == {"reviewer": 2.9, "planner": 2.25, "builder": 0.25, "tester": 0.1}
    assert costs("kind") == {"demo": 5.0, "command": 0.5}
    assert costs("tag") == {"alpha": 3.9, "beta": 0.5}
    assert r.cost_by["model"]["share"].tolist() == pytest.approx([2.9 / 5.5, 2.5 / 5.5, 0.1 / 5.5])
    assert r.cost_over_time["cost"].sum() == pytest.approx(5.5)
    assert r.top_tasks["cost"].tolist()[:2] == pytest.approx([3.4, 1.25])


def test_roles_workers_failures_stuck_and_budgets(db: Database) -> None:
    ids = seed(db)
    r = build(db)
    roles = r.roles.set_index("role")
    assert roles.loc["reviewer", ["calls", "failed"]].tolist() == [2, 1]
    assert roles.loc["reviewer", "failure_rate"] == pytest.approx(0.5)
    assert roles.loc["reviewer", "previous_failure_rate"] == pytest.approx(0.0)
    assert pd.isna(roles.loc["tester", "previous_failure_rate"])  # no tester calls the week before
    assert list(r.roles["role"]) == ["reviewer", "planner", "builder", "tester"]  # most expensive first

    [worker] = r.workers.to_dict("records")
    assert (worker["id"], worker["done"], worker["failed"]) == ("w1", 2, 2)
    assert worker["success_rate"] == pytest.approx(0.5)

    assert r.failed_tasks["id"].tolist() == [ids["c"], ids["b"]]  # newest first
    b = r.failed_tasks.set_index("id").loc[ids["b"]]
    assert (b["title"], b["error"], b["failure_reason"]) == (HOSTILE_TITLE, HOSTILE_ERROR, "exit_code")
    reasons = {(s, why): n for s, why, n in r.failure_reasons.itertuples(index=False)}
    assert reasons == {("failed", "exit_code"): 1, ("timed_out", "error"): 1}

    # g reported last at 12:00:11 on the 21st; at the end of the week it had been silent for almost 36 h.
    assert r.as_of == WEEK.end - timedelta(microseconds=1)
    assert r.stuck_tasks["id"].tolist() == [ids["g"]]
    silent = (r.as_of - (WEEK.start + 5 * DAY + timedelta(hours=12, seconds=11))).total_seconds()
    assert r.stuck_tasks["silent_s"].iloc[0] == pytest.approx(silent)

    budgets = {b.name: b for b in r.budgets}
    assert budgets["alpha weekly"].spent == pytest.approx(3.9) and budgets["alpha weekly"].over
    # November up to the end of the week: 0.4 + 1.5 + 5.5 = 7.4 in 22 days, on course for 7.4 × 30 / 22.
    monthly = budgets["all monthly"]
    assert monthly.spent == pytest.approx(7.4) and not monthly.over
    assert monthly.projected == pytest.approx(7.4 * 30 / 22) and monthly.projected_over
    assert not budgets["roomy"].projected_over
    assert r.alerts == ()


def test_recommendations_drawn_from_the_week(db: Database) -> None:
    seed(db)
    r = build(db)
    rules = [x.rule for x in r.recommendations]
    assert sorted(rules) == sorted(
        [
            "budget_over",
            "budget_projected_over",
            "stuck",
            "success_drop",
            "cost_per_task_rise",
            "model_concentration",
        ]
    )
    assert rules.index("cost_per_task_rise") > rules.index("success_drop")  # warnings first
    text = {x.rule: x.message for x in r.recommendations}
    assert (
        "Budget alpha weekly (tag alpha) is over its weekly limit: $3.90 spent of $3.00"
        in text["budget_over"]
    )
    assert "Model claude is 52.7% of spend ($2.90 of $5.50)" in text["model_concentration"]
    assert "Success rate fell to 50.0% from 100.0%" in text["success_drop"]
    assert "Cost per task rose 46.7% to $1.10 (from $0.75)" in text["cost_per_task_rise"]
    assert "#" in text["stuck"] and "@SUM(A1)" in text["stuck"]


def test_filters_narrow_every_figure(db: Database) -> None:
    seed(db)
    r = build(db, Filters(kind=("command",)))
    assert r.kpi("tasks_created").value == 1 and r.kpi("total_cost").value == pytest.approx(0.5)
    assert r.kpi("tasks_failed").value == 1 and r.kpi("tasks_completed").value == 0
    assert r.stuck_tasks.empty and r.by_kind["kind"].tolist() == ["command"]
    tagged = build(db, Filters(tag=("alpha",)))
    assert tagged.kpi("tasks_created").value == 2 and tagged.kpi("total_cost").value == pytest.approx(3.9)
    assert dict(zip(tagged.cost_by["tag"]["key"], tagged.cost_by["tag"]["cost"].round(6), strict=True)) == {
        "alpha": 3.9,
        "beta": 0.5,
    }  # b has both tags
    assert len(tagged.budgets) == 3  # budgets keep their own scope


def test_empty_period(db: Database) -> None:
    r = build(db)
    assert r.kpi("tasks_created").value == 0 and r.kpi("success_rate").value is None
    assert r.kpi("cost_per_task").value is None and r.recommendations == ()
    assert r.by_kind.empty and r.failed_tasks.empty and r.cost_by["model"].empty


# ---- CSV exports ------------------------------------------------------------------------------------------


def read_both(path: Path) -> list[list[str]]:
    """The file read by Python's csv module and by pandas (everything as text), which must agree."""
    raw = path.read_bytes()
    by_csv = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
    frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    assert [list(frame.columns), *frame.to_numpy().tolist()] == by_csv
    return by_csv


def test_csv_exports_stream_the_period(db: Database, tmp_path: Path) -> None:
    ids = seed(db)
    written = write_report(build(db), ["csv"], tmp_path, db=db)
    assert [p.name for p in written] == [
        "tasklens-weekly-2026-11-16-tasks.csv",
        "tasklens-weekly-2026-11-16-invocations.csv",
        "tasklens-weekly-2026-11-16-costs.csv",
    ]
    tasks = read_both(written[0])
    header, rows = tasks[0], [dict(zip(tasks[0], r, strict=True)) for r in tasks[1:]]
    assert header[:4] == ["id", "title", "kind", "status"]
    assert [int(r["id"]) for r in rows] == [
        ids[k] for k in ("a", "b", "c", "d", "e", "g", "f")
    ]  # by creation
    by_id = {int(r["id"]): r for r in rows}
    b = by_id[ids["b"]]
    assert b["title"] == HOSTILE_TITLE and b["error_message"] == "'" + HOSTILE_ERROR
    assert (
        b["priority"] == "-2" and b["tags"] == "alpha;beta" and b["created_at"] == "2026-11-18T10:00:00.000Z"
    )
    assert float(b["processing_s"]) == pytest.approx(120.0) and b["cost_usd"] == "0.5"
    assert [by_id[ids[k]]["title"] for k in ("d", "e", "f", "g")] == ["'=1+1", "'+cmd", "'-2", "'@SUM(A1)"]
    numbers = pd.read_csv(written[0])
    assert numbers["priority"].min() == -2 and numbers["cost_usd"].sum() == pytest.approx(5.5)

    calls = read_both(written[1])
    assert len(calls) - 1 == 6 and calls[0][:3] == ["id", "task_id", "iteration"]
    failed = [
        dict(zip(calls[0], r, strict=True)) for r in calls[1:] if r[calls[0].index("status")] == "failed"
    ]
    assert [c["error"] for c in failed] == ["'-rate limited"]

    lines = read_both(written[2])
    got = [(r[0], r[1], r[3], r[4], r[5], float(r[9])) for r in lines[1:]]
    assert got == [
        ("2026-11-17", "claude", "reviewer", "demo", "1", 2.4),
        ("2026-11-17", "gpt-4.1", "planner", "demo", "1", 1.0),
        ("2026-11-18", "claude", "reviewer", "command", "1", 0.5),
        ("2026-11-19", "gpt-4.1", "builder", "demo", "1", 0.25),
        ("2026-11-20", "gpt-4.1", "planner", "demo", "1", 1.25),
        ("2026-11-21", HOSTILE_MODEL, "tester", "demo", "1", 0.1),
    ]  # fmt: skip


def test_csv_rows_come_the_same_in_any_chunk_size(db: Database) -> None:
    """The streams fetch `chunk` rows at a time (yield_per); chunk boundaries lose or repeat nothing."""
    from db.reporting import queries as report_queries

    seed(db)
    scope = Filters().scope(WEEK)
    with db.reading() as session:
        for stream in (
            report_queries.iter_tasks,
            report_queries.iter_invocations,
            report_queries.iter_cost_lines,
        ):
            whole = list(stream(session, scope))
            assert list(stream(session, scope, chunk=2)) == whole and len(whole) in (6, 7)


def test_csv_needs_the_database(db: Database, tmp_path: Path) -> None:
    from reports.write import FormatError

    with pytest.raises(FormatError):
        write_report(build(db), ["csv"], tmp_path)


# ---- the command line ---------------------------------------------------------------------------------------


def test_cli_help() -> None:
    result = run_cli("report", "--help")
    assert result.returncode == 0 and result.stderr == ""
    assert result.stdout.startswith("usage: python app.py report")
    for option in ("--period", "--from", "--to", "--format", "--out", "--kind", "--tag", "--db"):
        assert option in result.stdout
    assert "report" in run_cli("--help").stdout


def test_cli_writes_every_format(db: Database, db_url: str, tmp_path: Path) -> None:
    seed(db)
    out = tmp_path / "out"
    result = run_cli(
        "report", "--db", db_url, "--period", "weekly", "--from", "2026-11-18T15:00Z",
        "--format", "html,pdf,csv,json", "--out", str(out), "--tag", "alpha",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    printed = [Path(line) for line in result.stdout.splitlines()]
    stem = "tasklens-weekly-2026-11-16-tag-alpha"
    assert [p.name for p in printed] == [
        f"{stem}.html", f"{stem}.pdf", f"{stem}-tasks.csv", f"{stem}-invocations.csv", f"{stem}-costs.csv",
        f"{stem}.json",
    ]  # fmt: skip
    assert all(p.exists() and p.stat().st_size > 0 for p in printed)
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in printed)  # no partial files left
    assert len(read_both(out / f"{stem}-tasks.csv")) - 1 == 2  # a and b carry the tag
    import json

    doc = json.loads((out / f"{stem}.json").read_text())
    assert doc["filters"] == {"kind": [], "tag": ["alpha"]}
    assert doc["summary"]["kpis"][0]["value"] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--period", "yearly"], "period must be one of daily, weekly, monthly, custom"),
        (["--period", "custom", "--from", "2026-11-01"], "a custom period needs both --from and --to"),
        (["--period", "custom", "--from", "2026-11-05", "--to", "2026-11-01"], "--to must be after --from"),
        (["--period", "custom", "--from", "2024-01-01", "--to", "2026-01-01"], "at most 400 days"),
        (["--period", "weekly", "--to", "2026-11-01"], "--to is only for --period custom"),
        (["--from", "last tuesday"], "--from must be an ISO 8601 date or time"),
        (
            ["--format", "html,docx"],
            "formats must be a comma-separated list of html, pdf, csv, json (got 'docx')",
        ),
        (["--format", ","], "formats must be a comma-separated list"),
        (["--kind", "robot"], "kind must be one of celery, command, demo, external, python, got 'robot'"),
    ],
)
def test_cli_bad_arguments(tmp_path: Path, args: list[str], message: str) -> None:
    url = f"sqlite:///{tmp_path}/never.db"
    result = run_cli("report", "--db", url, "--out", str(tmp_path / "out"), *args)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ")
    assert message in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "never.db").exists()


def test_cli_unwritable_out(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = run_cli(
        "report", "--db", f"sqlite:///{tmp_path}/r.db", "--format", "json", "--out", str(blocker)
    )
    assert result.returncode == 1 and "error: cannot write the report to" in result.stderr
    assert "Traceback" not in result.stderr
