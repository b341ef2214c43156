"""Tests: the pure parts of reports — periods and their previous period, each recommendation rule at and around
its threshold, the CSV formula-injection neutraliser and the CSV encoder, and number formatting."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from decimal import Decimal

import pandas as pd
import pytest

from db.analytics.budgets import BudgetStatus
from reports import fmt, rules
from reports.csvsafe import cell, neutralise, row
from reports.model import Alert, FilterError, Filters, Kpi, Severity, Unit
from reports.period import Period, PeriodError, PeriodKind, parse_time, period_for
from reports.render_csv import csv_chunks, render_csv
from reports.write import FormatError, parse_formats

NOW = datetime(2026, 11, 21, 8, 30)  # a Saturday


# ---- periods -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "start", "expected", "previous"),
    [
        ("daily", None, ("2026-11-20", "2026-11-21"), ("2026-11-19", "2026-11-20")),
        ("weekly", None, ("2026-11-09", "2026-11-16"), ("2026-11-02", "2026-11-09")),
        ("monthly", None, ("2026-10-01", "2026-11-01"), ("2026-08-31", "2026-10-01")),  # 31 days before
        ("daily", "2026-11-21T23:59", ("2026-11-21", "2026-11-22"), ("2026-11-20", "2026-11-21")),
        ("weekly", "2026-11-21", ("2026-11-16", "2026-11-23"), ("2026-11-09", "2026-11-16")),
        ("weekly", "2026-11-16", ("2026-11-16", "2026-11-23"), ("2026-11-09", "2026-11-16")),
        ("monthly", "2026-12-31T10:00", ("2026-12-01", "2027-01-01"), ("2026-10-31", "2026-12-01")),
        (
            "monthly",
            "2026-02-14",
            ("2026-02-01", "2026-03-01"),
            ("2026-01-04", "2026-02-01"),
        ),  # 28 days before
    ],
)
def test_periods(kind: str, start: str | None, expected: tuple[str, str], previous: tuple[str, str]) -> None:
    p = period_for(kind, NOW, parse_time(start) if start else None)
    assert (p.start, p.end) == tuple(datetime.fromisoformat(d) for d in expected)
    before = p.previous()
    assert (before.start, before.end) == tuple(datetime.fromisoformat(d) for d in previous)
    assert before.span == p.span and before.end == p.start


def test_period_labels_and_slugs() -> None:
    week = period_for("weekly", NOW, datetime(2026, 11, 18))
    assert week.slug == "weekly-2026-11-16" and week.label == "week 47 of 2026 (16 Nov – 22 Nov 2026)"
    assert period_for("monthly", NOW).label == "October 2026"
    assert period_for("daily", NOW).label == "Friday 20 November 2026"
    custom = period_for("custom", NOW, datetime(2026, 11, 1), datetime(2026, 11, 5, 12))
    assert custom.slug == "custom-2026-11-01-to-2026-11-05T12-00"
    assert custom.label == "2026-11-01 – 2026-11-05 12:00" and custom.previous().kind is PeriodKind.CUSTOM
    assert period_for("monthly", NOW).previous().kind is PeriodKind.CUSTOM  # not a calendar month
    assert period_for("weekly", NOW).previous().kind is PeriodKind.WEEKLY


def test_times_with_a_zone_become_naive_utc() -> None:
    assert parse_time("2026-11-16T01:30+02:00") == datetime(2026, 11, 15, 23, 30)
    assert parse_time("2026-11-16T08:00Z") == datetime(2026, 11, 16, 8)
    assert parse_time("2026-11-16") == datetime(2026, 11, 16)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: period_for("hourly", NOW), "period must be one of"),
        (lambda: period_for("custom", NOW, datetime(2026, 1, 1)), "needs both --from and --to"),
        (lambda: period_for("custom", NOW, datetime(2026, 1, 2), datetime(2026, 1, 1)), "--to must be after"),
        (lambda: period_for("custom", NOW, datetime(2024, 1, 1), datetime(2025, 3, 1)), "at most 400 days"),
        (lambda: period_for("daily", NOW, None, datetime(2026, 1, 1)), "--to is only for --period custom"),
        (lambda: parse_time("soon", "--to"), "--to must be an ISO 8601 date"),
        (lambda: Period(PeriodKind.CUSTOM, NOW, NOW), "must be after its start"),
    ],
)
def test_period_errors(call: object, message: str) -> None:
    with pytest.raises(PeriodError, match=message):
        call()  # type: ignore[operator]


def test_filters() -> None:
    with pytest.raises(FilterError, match="kind must be one of celery, command, demo, external, python"):
        Filters(kind=("robot",))
    assert Filters(kind=("demo",), tag=("a", "b")).description == "kind demo; tag a, b"
    scope = Filters(tag=("a",)).scope(period_for("daily", NOW))
    assert (scope.start, scope.end, scope.tag, scope.range_key) == (
        datetime(2026, 11, 20), datetime(2026, 11, 21), ("a",), "custom",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (None, fmt.DASH),
        (999_999, "999,999"),
        (1_000_000, "1.00M"),
        (1_234_567, "1.23M"),
        (1_125_000, "1.13M"),  # half up, as assets/formats.js
        (9_994_999, "9.99M"),
        (9_995_000, "10.0M"),
        (99_950_000, "100M"),
        (999_499_999, "999M"),
        (999_500_000, "1.00B"),
        (1_234_567_890, "1.23B"),
        (45_678_901_234, "45.7B"),
        (12**12, "8.92T"),
        (-2_500_000, "-2.50M"),
    ],
)
def test_compact_counts(n: int | None, text: str) -> None:
    assert fmt.compact(n) == text


def test_formats() -> None:
    assert parse_formats(" PDF, html,pdf ") == ("pdf", "html")
    for bad in ("", "docx", "html,,xls"):
        with pytest.raises(FormatError):
            parse_formats(bad)


# ---- rules -------------------------------------------------------------------------------------------------


def roles_frame(*rows: tuple[str, int, int, float]) -> pd.DataFrame:
    """(role, finished, failed, previous_failure_rate) rows."""
    return pd.DataFrame(
        [
            {
                "role": r,
                "calls": n,
                "finished": n,
                "failed": f,
                "failure_rate": f / n,
                "previous_failure_rate": p,
            }
            for r, n, f, p in rows
        ]
    )


def test_role_failures_rule() -> None:
    found = rules.role_failures(roles_frame(("reviewer", 100, 31, 0.12), ("planner", 100, 19, 0.0)))
    assert [r.message for r in found] == [
        "Role reviewer fails 31.0% of its calls (31 of 100), up from 12.0%: look at its prompts, tools and the errors "
        "below."
    ]
    assert found[0].severity is Severity.WARNING
    assert len(rules.role_failures(roles_frame(("planner", 100, 19, 0.0)), threshold=0.19)) == 1
    assert rules.role_failures(roles_frame(("reviewer", 10, 9, 0.0))) == []  # too few calls to say
    [down] = rules.role_failures(roles_frame(("tester", 50, 20, 0.5)))
    assert "down from 50.0%" in down.message
    [new] = rules.role_failures(roles_frame(("tester", 50, 20, float("nan"))))
    assert "no calls in the previous period" in new.message


def test_model_concentration_rule() -> None:
    frame = pd.DataFrame({"key": ["gpt-x", "small"], "cost": [64.0, 36.0]})
    [found] = rules.model_concentration(frame)
    assert found.message.startswith("Model gpt-x is 64.0% of spend ($64.00 of $100.00)")
    assert rules.model_concentration(frame, threshold=0.65) == []
    assert rules.model_concentration(pd.DataFrame({"key": ["m"], "cost": [0.0]})) == []
    assert rules.model_concentration(pd.DataFrame({"key": [], "cost": []})) == []


def budget(spent: float, projected: float, limit: float = 10.0) -> BudgetStatus:
    start = datetime(2026, 11, 16)
    return BudgetStatus(
        1, "team", "week", limit, "tag", "alpha", start, start + timedelta(days=7), spent, projected
    )


def test_budget_rule() -> None:
    assert [r.rule for r in rules.budget_alerts([budget(11, 20)])] == ["budget_over"]
    [ahead] = rules.budget_alerts([budget(5, 12.5)])
    assert ahead.rule == "budget_projected_over"
    assert ahead.message == (
        "Budget team (tag alpha) is projected over: $12.50 by the end of the week at the current rate, against "
        "a limit of $10.00 ($5.00 spent so far)."
    )
    assert rules.budget_alerts([budget(5, 10)]) == []  # exactly at the limit is not over


def kpi(key: str, unit: Unit, value: float | None, previous: float | None) -> Kpi:
    return Kpi(key, key, unit, value, previous, None)


def test_change_rules() -> None:
    [drop] = rules.success_drop(kpi("s", Unit.RATIO, 0.82, 0.91))
    assert drop.message == "Success rate fell to 82.0% from 91.0% in the previous period."
    assert rules.success_drop(kpi("s", Unit.RATIO, 0.87, 0.91)) == []  # 4 points: under the threshold
    assert rules.success_drop(kpi("s", Unit.RATIO, 0.5, None)) == []
    [rise] = rules.cost_per_task_rise(kpi("c", Unit.USD, 0.52, 0.37))
    assert rise.message == "Cost per task rose 40.5% to $0.52 (from $0.37)."
    assert rules.cost_per_task_rise(kpi("c", Unit.USD, 0.45, 0.37)) == []  # +22 %
    assert rules.cost_per_task_rise(kpi("c", Unit.USD, 0.45, 0.0)) == []  # nothing to compare with
    [slow] = rules.slowdown(kpi("p", Unit.SECONDS, 90.0, 60.0))
    assert slow.message == "p95 processing time rose 50.0% to 1m 30s (from 1m 00s)."
    assert rules.slowdown(kpi("p", Unit.SECONDS, 89.0, 60.0)) == []


def test_kind_failures_and_timeouts_rules() -> None:
    kinds = pd.DataFrame(
        {"kind": ["command", "demo"], "completed": [15, 9], "failed": [3, 0], "timed_out": [2, 1]}
    )
    [found] = rules.kind_failures(kinds)
    assert (
        found.message == "25.0% of command tasks failed or timed out (5 of 20)."
    )  # demo: only 10 outcomes, 10 %
    assert rules.kind_failures(kinds, min_outcomes=21) == []
    reasons = pd.DataFrame(
        {"status": ["failed", "timed_out"], "reason": ["error", "timeout"], "count": [10, 5]}
    )
    [slow] = rules.timeouts(reasons)
    assert slow.message.startswith("Timeouts are 33.3% of failures (5 of 15)")
    assert rules.timeouts(reasons, minimum=6) == [] and rules.timeouts(reasons, share=0.34) == []
    assert rules.timeouts(reasons.iloc[0:0]) == []


def test_stuck_and_spike_rules() -> None:
    stuck = pd.DataFrame({"id": [7, 9], "title": ["<b>x</b>", "y"], "silent_s": [7500.0, 90.0]})
    [found] = rules.stuck(stuck, 60.0)
    assert found.message == (
        "2 running tasks are possibly stuck (silent for more than 1m 00s); the longest, #7 <b>x</b>, for "
        "2h 05m."
    )
    assert rules.stuck(stuck.iloc[0:0], 60.0) == []
    at = datetime(2026, 11, 18, 14)
    spiked = rules.spikes([Alert("cost", at, 42.0, 10.5), Alert("failures", at, 9, 3.2)])
    assert [r.message for r in spiked] == [
        "Spend spiked at 2026-11-18 14:00:00 UTC: $42.00 against a usual at most $10.50.",
        "Failures spiked at 2026-11-18 14:00:00 UTC: 9 against a usual at most 3.",
    ]


# ---- CSV -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2", "'-2"),  # text that looks like a number is still text: neutralised
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("a=1", "a=1"),
        (" =1", " =1"),
        ("", ""),
        (-2, -2),  # numbers stay numbers
        (-2.5, -2.5),
        (Decimal("-0.25"), -0.25),
        (float("nan"), ""),
        (None, ""),
        (True, "true"),
        (datetime(2026, 11, 16, 8, 0, 1), "2026-11-16T08:00:01.000Z"),
        (["a", "=b"], "a;=b"),
        (["=a", "b"], "'=a;b"),
        ({"k": "-v"}, '{"k": "-v"}'),
    ],
)
def test_cells(value: object, expected: object) -> None:
    assert cell(value) == expected
    assert type(cell(value)) is type(expected)


def test_row_is_cell_of_each_value() -> None:
    values = ["=1", "", "x", -2, 2.5, float("nan"), None, True, datetime(2026, 1, 1), ["-a"], Decimal("1.5")]
    assert row(values) == [cell(v) for v in values]
    assert [type(v) for v in row(values)] == [type(cell(v)) for v in values]


def test_neutralise_only_strings_that_start_a_formula() -> None:
    assert neutralise("==") == "'==" and neutralise("'=already") == "'=already"


def test_csv_round_trip_through_pandas_and_csv() -> None:
    rows = [
        (1, "=1+1", -2, -2.5, 'quote " and, comma', "line\nbreak", None, "ünïcödé ✓"),
        (2, "@SUM(A1)", 0, 3.25, "+cmd", "-2", datetime(2026, 1, 2, 3, 4, 5), "\tTAB"),
    ]
    header = ("id", "text", "int", "float", "quoted", "multi", "when", "uni")
    data = render_csv(header, rows)
    assert data.decode("utf-8").startswith("id,text,int,float")
    parsed = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert parsed == [
        list(header),
        ["1", "'=1+1", "-2", "-2.5", 'quote " and, comma', "line\nbreak", "", "ünïcödé ✓"],
        ["2", "'@SUM(A1)", "0", "3.25", "'+cmd", "'-2", "2026-01-02T03:04:05.000Z", "'\tTAB"],
    ]
    frame = pd.read_csv(io.BytesIO(data), encoding="utf-8")
    assert frame["int"].tolist() == [-2, 0] and frame["float"].tolist() == [
        -2.5,
        3.25,
    ]  # numbers parse as numbers
    assert frame["text"].tolist() == ["'=1+1", "'@SUM(A1)"]
    as_text = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    assert [list(as_text.columns), *as_text.to_numpy().tolist()] == parsed


def test_csv_chunks_cover_every_row_once() -> None:
    rows = [(n, f"row {n}") for n in range(10)]
    chunks = list(csv_chunks(("n", "text"), rows, rows_per_chunk=3))
    assert len(chunks) == 4 and all(c.endswith(b"\r\n") for c in chunks)
    assert b"".join(chunks) == render_csv(("n", "text"), rows)
    assert b"".join(chunks).count(b"\r\n") == 11


# ---- formatting ----------------------------------------------------------------------------------------------


def test_formatting() -> None:
    assert [fmt.money(v) for v in (1234.5, 2.5, 0.0123, 0.0, None)] == [
        "$1,234.50",
        "$2.50",
        "$0.01",
        "$0.00",
        "–",
    ]
    assert [fmt.duration(v) for v in (4.25, 60, 125, 7500, 200000)] == [
        "4.2 s", "1m 00s", "2m 05s", "2h 05m", "2d 07h",
    ]  # fmt: skip
    assert [fmt.tokens(v) for v in (950, 1500, 2_500_000)] == ["950", "1,500", "2,500,000"]
    assert fmt.change(kpi("r", Unit.RATIO, 0.8, 0.9)) == "−10.0 pts"
    assert fmt.change(kpi("c", Unit.USD, 3.0, 2.0)) == "+50.0%"
    assert fmt.change(kpi("c", Unit.COUNT, 3, 0)) == "new (was 0)"
    assert fmt.change(kpi("c", Unit.COUNT, 3, None)) == "no previous data"
    assert fmt.change(kpi("c", Unit.COUNT, 3, 3)) == "no change"
