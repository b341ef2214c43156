"""Tests: the performance and volume queries against hand-computed answers on SQLite and PostgreSQL — read
from the source rows, then again through the rollups — the forecast and spike rules on constructed series, the
pure figure builders, and the page's refresh as a plain function."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

import pandas as pd
import pytest
from sqlalchemy.orm import Session

from dashboard import figures_performance as figs
from dashboard.figures import empty_text, is_empty
from dashboard.services import Services
from db.analytics import performance, rollups, volume
from db.analytics.rollcut import Split, split
from db.core.engine import Database
from db.domain.ops import ActivityLine, Transition
from db.domain.states import ActivityType, TaskKind, TaskStatus
from db.read.scope import Scope, parse_scope
from db.write.writes import apply_ops
from tests.builders import make_task

NOW = datetime(2026, 3, 10, 12, 0)  # a Tuesday
TOOL = ActivityType.TOOL_EXEC
H = timedelta(hours=1)
R = TypeVar("R")


def approx(value: float) -> object:
    """Durations in float seconds (on SQLite a difference of integer microseconds over 1e6): not to the last bit."""
    return pytest.approx(value, abs=1e-3)


def lines(db: Database, task_id: int, at: datetime, *items: ActivityLine) -> None:
    with db.writing() as session:
        apply_ops(session, task_id, items, actor="t", now=at)


@pytest.fixture
def work(db: Database) -> dict[str, int]:
    """Times are processing (start → end); cycle adds the queue wait before it.
    a  demo     Sun 03-08 12:00  wait 10  ran 61   completed  builder/claude $1; 3 tool lines + 1 output line
    b  demo     Mon 03-09 12:00  wait 20  ran 400  completed
    c  command  Mon 03-09 13:00  wait 30  ran 5    failed     tester/haiku $0.5
    d  command  Tue 03-10 09:00  wait 5   ran 1.5  completed  tag x, worker w2; 3 tool lines
    e  demo     Tue 03-10 07:00  failed after 20 s, retried at 08:00 (claimable 08:01), started 08:01:40,
                                 completed 08:02:30: wait 40, ran 50, cycle 3750, attempt 2
    f  demo     Tue 03-10 11:00  still queued
    g  demo     Tue 03-10 10:00  wait 5   ran 10   cancelled
    old         20 days ago, completed, one tool line."""
    t = {
        "a": make_task(
            db, created=NOW - 48 * H, started_after=10, ran_for=61, calls=(("builder", "claude", 1.0),)
        ),
        "b": make_task(db, created=NOW - 24 * H, started_after=20, ran_for=400),
        "c": make_task(
            db,
            created=NOW - 23 * H,
            kind=TaskKind.COMMAND,
            status=TaskStatus.FAILED,
            started_after=30,
            ran_for=5,
            calls=(("tester", "haiku", 0.5),),
        ),
        "d": make_task(
            db,
            created=NOW - 3 * H,
            kind=TaskKind.COMMAND,
            started_after=5,
            ran_for=1.5,
            tags=("x",),
            worker="w2",
        ),
        "e": make_task(db, created=NOW - 5 * H, status=TaskStatus.FAILED, started_after=10, ran_for=20),
        "f": make_task(db, created=NOW - 1 * H, status=TaskStatus.QUEUED),
        "g": make_task(db, created=NOW - 2 * H, status=TaskStatus.CANCELLED, started_after=5, ran_for=10),
        "old": make_task(db, created=NOW - 20 * 24 * H),
    }
    retry_at = NOW - 4 * H
    with db.writing() as session:
        for at, op in (
            (
                retry_at,
                Transition(
                    TaskStatus.QUEUED,
                    reason="retry",
                    next_attempt=True,
                    available_at=retry_at + timedelta(seconds=60),
                ),
            ),
            (
                retry_at + timedelta(seconds=100),
                Transition(TaskStatus.RUNNING, worker_id="w1", lease_until=NOW),
            ),
            (retry_at + timedelta(seconds=150), Transition(TaskStatus.COMPLETED)),
        ):
            apply_ops(session, t["e"], [op], actor="t", now=at)
    call = f"{t['a']}-0"
    lines(
        db,
        t["a"],
        NOW - 48 * H + timedelta(seconds=30),
        ActivityLine("read_file README.md", TOOL, invocation_id=call),
        ActivityLine("grep foo src/", TOOL, invocation_id=call),
        ActivityLine("read_file setup.py", TOOL),
        ActivityLine("read_file said hello", ActivityType.OUTPUT),
    )
    lines(
        db,
        t["d"],
        NOW - 3 * H + timedelta(seconds=3),
        ActivityLine("read_file x.py", TOOL),
        ActivityLine("bash", TOOL),
        ActivityLine("  grep -r y", TOOL),
    )
    lines(db, t["old"], NOW - 20 * 24 * H + timedelta(seconds=30), ActivityLine("web_search q", TOOL))
    return t


def scope(query: str) -> Scope:
    return parse_scope(query, NOW)


def raw_then_rolled(db: Database, read: Callable[[Session], R]) -> list[R]:
    """`read`'s answers from the source rows (no refresh yet), then after a rollup refresh at NOW, when every
    whole hour (day, for histograms) of a long enough range comes from the rollups. The hand-computed
    expectations must hold for both."""
    with db.reading() as s:
        raw = read(s)
        assert split(s, scope("?range=7d")).rolled is None
    with db.writing() as s:
        rollups.refresh(s, NOW)
    with db.reading() as s:
        # NOW is on the hour: a 7 d range is all whole hours, read from the rollups with no raw edge.
        assert split(s, scope("?range=7d")) == Split((NOW - 7 * 24 * H, NOW), ())
        return [raw, read(s)]


def test_kpis(db: Database, work: dict[str, int]) -> None:
    for k in raw_then_rolled(db, lambda s: performance.kpis(s, scope("?range=7d"))):
        assert (k.completed, k.failed, k.cancelled, k.outcomes) == (4, 1, 1, 5)
        assert k.throughput_per_hour == pytest.approx(4 / 168)
        assert k.success_rate == pytest.approx(0.8)
        assert k.first_attempt_success_rate == pytest.approx(0.6) and k.retry_rate == pytest.approx(0.2)
        # Completed: cycle 71, 420, 6.5, 3750; processing 61, 400, 1.5, 50. Started: waits 10, 20, 30, 5, 40, 5.
        assert (k.cycle.avg, k.cycle.p50, k.cycle.p95) == (approx(4247.5 / 4), approx(71), approx(420))
        assert (k.processing.avg, k.processing.p50, k.processing.p95) == (
            approx(512.5 / 4),
            approx(50),
            approx(61),
        )
        assert (k.queue_wait.avg, k.queue_wait.p50, k.queue_wait.p95) == (
            approx(110 / 6),
            approx(10),
            approx(30),
        )
        assert not (k.cycle.estimated or k.queue_wait.estimated or k.processing.estimated)


def test_kpis_estimated_from_histograms(db: Database, work: dict[str, int]) -> None:
    """With exact_below=0 the percentiles are read from the log bins. Every wanted value here is alone in its
    bin, so it reads back as the bin's geometric middle, within half a bin (√1.28 ≈ 1.13) of the exact one;
    averages and counts stay exact."""
    for k in raw_then_rolled(db, lambda s: performance.kpis(s, scope("?range=7d"), exact_below=0)):
        assert (k.completed, k.failed, k.outcomes) == (4, 1, 5)
        assert k.cycle.estimated and k.queue_wait.estimated and k.processing.estimated
        assert k.cycle.avg == approx(4247.5 / 4) and k.queue_wait.avg == approx(110 / 6)
        # A lone value in a bin reads back as the bin's geometric middle: 71 s lies in [63, 80), 420 s in
        # [400, 500) and 61 s in [60, 63). (50 s, 10 s and 30 s are bin edges: checked within a bin's
        # width below.)
        assert k.cycle.p50 == pytest.approx((63 * 80) ** 0.5, rel=1e-6)
        assert k.cycle.p95 == pytest.approx((400 * 500) ** 0.5, rel=1e-6)
        assert k.processing.p95 == pytest.approx((60 * 63) ** 0.5, rel=1e-6)
        for timing, exact in ((k.cycle, (71, 420)), (k.processing, (50, 61)), (k.queue_wait, (10, 30))):
            assert timing.p50 == pytest.approx(exact[0], rel=0.13)
            assert timing.p95 == pytest.approx(exact[1], rel=0.13)


# (query, completed, failed, cycle p50). One test over every case: the fixture costs more than the queries.
FILTER_CASES: list[tuple[str, int, int, float | None]] = [
    ("?range=7d&model=claude", 1, 0, 71),
    ("?range=7d&role=tester", 0, 1, None),
    ("?range=7d&tag=x", 1, 0, 6.5),
    ("?range=7d&worker=w2", 1, 0, 6.5),
    ("?range=7d&kind=command", 1, 1, 6.5),
    ("?range=30d", 5, 1, 71),
    ("?range=30d&kind=demo", 4, 0, 71),
    ("?range=1h", 0, 0, None),
]


def test_kpis_respect_filters(db: Database, work: dict[str, int]) -> None:
    def read(s: Session) -> list[performance.PerfKpis]:
        return [performance.kpis(s, scope(query)) for query, *_ in FILTER_CASES]

    for answers in raw_then_rolled(db, read):
        for (query, completed, failed, cycle_p50), k in zip(FILTER_CASES, answers, strict=True):
            assert (k.completed, k.failed) == (completed, failed), query
            assert k.cycle.p50 == (None if cycle_p50 is None else approx(cycle_p50)), query
            if not k.outcomes:
                assert k.success_rate is None and k.retry_rate is None and k.queue_wait.avg is None


def test_duration_histogram_and_quantiles(db: Database, work: dict[str, int]) -> None:
    def read(s: Session) -> tuple[pd.DataFrame, ...]:
        return (
            performance.duration_histogram(s, scope("?range=7d")),
            performance.duration_quantiles(s, scope("?range=7d")),
            performance.duration_histogram(s, scope("?range=1h")),
            performance.duration_quantiles(s, scope("?range=7d"), exact_below=0),
        )

    for hist, box, none, estimated in raw_then_rolled(db, read):
        # demo: 50 s (30s–1m), 61 s (1m–2m), 400 s (5m–10m), the empty 2m–5m bin between; command: 1.5 s.
        assert list(hist.itertuples(index=False, name=None)) == [
            ("command", 1, "1s–2s", 1),
            ("demo", 6, "30s–1m", 1),
            ("demo", 7, "1m–2m", 1),
            ("demo", 8, "2m–5m", 0),
            ("demo", 9, "5m–10m", 1),
        ]
        assert none.empty and list(none.columns) == ["kind", "bin", "label", "count"]
        assert list(box.columns) == ["kind", "n", "min", "p25", "median", "p75", "p95", "max", "estimated"]
        rows = {r["kind"]: r for r in box.to_dict("records")}
        assert rows["command"]["n"] == 1 and rows["command"]["min"] == approx(1.5)
        assert rows["command"]["max"] == approx(1.5) and rows["command"]["p95"] == approx(1.5)
        demo = {k: round(v, 3) for k, v in rows["demo"].items() if k not in ("kind", "estimated")}
        assert demo == {"n": 3, "min": 50, "p25": 50, "median": 61, "p75": 61, "p95": 61, "max": 400}
        assert not box["estimated"].any()
        # From the histograms: the exact minimum and maximum (from the sums), the rest inside its bin.
        est = {r["kind"]: r for r in estimated.to_dict("records")}
        assert estimated["estimated"].all() and sorted(est) == ["command", "demo"]
        assert est["command"]["n"] == 1
        assert [est["command"][c] for c in ("min", "p25", "median", "p75", "p95", "max")] == [approx(1.5)] * 6
        assert (est["demo"]["n"], est["demo"]["min"], est["demo"]["max"]) == (3, approx(50), approx(400))
        assert est["demo"]["p25"] == pytest.approx(50, rel=0.13)
        for name in ("median", "p75", "p95"):
            assert est["demo"][name] == pytest.approx(61, rel=0.13), name


def test_bin_labels() -> None:
    assert [performance.bin_label(n) for n in (0, 1, 7, 12, 16)] == ["<1s", "1s–2s", "1m–2m", "30m–1h", "≥1d"]


def test_outcomes_over_time(db: Database, work: dict[str, int]) -> None:
    def read(s: Session) -> tuple[pd.DataFrame, pd.DataFrame]:
        return (
            performance.outcomes_over_time(s, scope("?range=7d")),
            performance.outcomes_over_time(s, scope("?range=24h&kind=command")),
        )

    for daily, hourly in raw_then_rolled(db, read):
        got = [(b.strftime("%m-%d"), k, st, n) for b, k, st, n in daily.itertuples(index=False, name=None)]
        assert got == [
            ("03-08", "demo", "completed", 1),
            ("03-09", "command", "failed", 1),
            ("03-09", "demo", "completed", 1),
            ("03-10", "command", "completed", 1),
            ("03-10", "demo", "cancelled", 1),
            ("03-10", "demo", "completed", 1),
        ]
        assert [(b.hour, st) for b, _k, st, _n in hourly.itertuples(index=False, name=None)] == [
            (13, "failed"),
            (9, "completed"),
        ]


# (query, [(tool, calls)], all tool calls in the scope): the share is calls / all.
TOOL_CASES: list[tuple[str, list[tuple[str, int]], int]] = [
    ("?range=7d", [("read_file", 3), ("grep", 2), ("bash", 1)], 6),
    ("?range=30d", [("read_file", 3), ("grep", 2), ("bash", 1), ("web_search", 1)], 7),
    ("?range=7d&role=builder", [("grep", 1), ("read_file", 1)], 2),
    ("?range=7d&kind=command", [("bash", 1), ("grep", 1), ("read_file", 1)], 3),
    ("?range=30d&kind=demo", [("read_file", 2), ("grep", 1), ("web_search", 1)], 4),
    ("?range=7d&tag=x&worker=w2", [("bash", 1), ("grep", 1), ("read_file", 1)], 3),
    ("?range=7d&model=haiku", [], 0),
]


def test_tool_calls(db: Database, work: dict[str, int]) -> None:
    """(tool, calls, share), most calls first: the first word of tool lines only, leading blanks ignored; the
    share is of every tool call in the scope, also those of tools past the limit."""

    def read(s: Session) -> tuple[list[pd.DataFrame], pd.DataFrame]:
        frames = [performance.tool_calls(s, scope(query)) for query, _, _ in TOOL_CASES]
        return frames, performance.tool_calls(s, scope("?range=30d"), limit=2)

    for frames, top2 in raw_then_rolled(db, read):
        for (query, expected, total), frame in zip(TOOL_CASES, frames, strict=True):
            assert list(frame.columns) == ["tool", "calls", "share"], query
            assert list(frame[["tool", "calls"]].itertuples(index=False, name=None)) == expected, query
            assert frame["share"].tolist() == pytest.approx([c / total for _, c in expected]), query
        assert list(top2.itertuples(index=False, name=None)) == [
            ("read_file", 3, pytest.approx(3 / 7)),
            ("grep", 2, pytest.approx(2 / 7)),
        ]


def test_peak_hours(db: Database, work: dict[str, int]) -> None:
    def read(s: Session) -> tuple[pd.DataFrame, pd.DataFrame]:
        return (
            performance.peak_hours(s, scope("?range=7d")),
            performance.peak_hours(s, scope("?range=7d&kind=command")),
        )

    for week, command in raw_then_rolled(db, read):
        assert list(week.itertuples(index=False, name=None)) == [
            (0, 12, 1),  # Monday: b
            (0, 13, 1),  # c
            (1, 7, 1),  # Tuesday: e, d, g, f
            (1, 9, 1),
            (1, 10, 1),
            (1, 11, 1),
            (6, 12, 1),  # Sunday: a
        ]
        assert list(command.itertuples(index=False, name=None)) == [(0, 13, 1), (1, 9, 1)]


def test_volume_series(db: Database, work: dict[str, int]) -> None:
    def read(s: Session) -> tuple[pd.DataFrame, ...]:
        return (
            volume.volume_series(s, scope("?range=24h")),
            volume.volume_series(s, scope("?range=7d")),
            volume.volume_series(s, scope("?range=7d&model=claude")),
            volume.volume_series(s, scope("?range=7d&kind=command")),
        )

    for day, week, claude, command in raw_then_rolled(db, read):
        assert len(day) == 24 and day["complete"].all()
        assert day["bucket"].iloc[0] == pd.Timestamp("2026-03-09 12:00")
        by_hour = day.set_index(day["bucket"].dt.strftime("%d %H"))
        assert (day["created"].sum(), day["finished"].sum(), day["failed"].sum()) == (6, 5, 1)
        assert by_hour.loc["09 13", ["created", "finished", "failed"]].tolist() == [1, 1, 1]
        assert by_hour.loc["09 13", "cost"] == pytest.approx(0.5) and day["cost"].sum() == pytest.approx(0.5)
        assert by_hour.loc["10 08", ["created", "finished"]].tolist() == [0, 1]  # e, retried, ended at 08:02
        # 7 days from Tuesday noon: eight day buckets, the first and last only partly covered.
        assert week["bucket"].dt.strftime("%m-%d").tolist() == [f"03-{d:02d}" for d in range(3, 11)]
        assert week["complete"].tolist() == [False, *[True] * 6, False]
        assert week["created"].tolist() == [0, 0, 0, 0, 0, 1, 2, 4]
        assert week["finished"].tolist() == [0, 0, 0, 0, 0, 1, 2, 3]
        assert week["failed"].tolist() == [0, 0, 0, 0, 0, 0, 1, 0]
        assert week["cost"].round(6).tolist() == [0, 0, 0, 0, 0, 1.0, 0.5, 0]
        assert claude["created"].tolist() == [0, 0, 0, 0, 0, 1, 0, 0]
        assert claude["cost"].sum() == pytest.approx(1.0)
        assert command["created"].tolist() == [0, 0, 0, 0, 0, 0, 1, 1]
        assert command["failed"].tolist() == [0, 0, 0, 0, 0, 0, 1, 0]
        assert command["cost"].round(6).tolist() == [0, 0, 0, 0, 0, 0, 0.5, 0]


# --- forecast and spikes on constructed series -----------------------------------------------------------


def hourly(values: Sequence[float]) -> pd.Series:
    return pd.Series(values, index=pd.date_range("2026-03-01", periods=len(values), freq="h"), dtype=float)


def test_forecast_next() -> None:
    line = volume.forecast_next(hourly([2, 4, 6, 8]), H)
    assert line is not None
    assert [line.value, line.low, line.high] == pytest.approx([10, 10, 10]) and line.basis == 4
    assert line.at == datetime(2026, 3, 1, 4, 0)
    # Slope 0.4 through 1, 3, 1, 3: 3.0 next; residuals ±0.4, ±1.2 → σ = √(3.2 / 2).
    noisy = volume.forecast_next(hourly([1, 3, 1, 3]), H)
    assert noisy is not None and noisy.value == pytest.approx(3.0)
    assert noisy.low == pytest.approx(3 - 2 * 1.6**0.5) and noisy.high == pytest.approx(3 + 2 * 1.6**0.5)
    falling = volume.forecast_next(hourly([9, 6, 3, 0]), H)
    assert falling is not None and falling.value == 0.0  # never a negative number of tasks
    recent = volume.forecast_next(hourly([100] * 8 + [1, 2, 3, 4]), H, n=4)
    assert recent is not None and recent.value == pytest.approx(5) and recent.basis == 4
    assert volume.forecast_next(hourly([5, 6]), H) is None


def test_spikes() -> None:
    flat = volume.spikes(hourly([1, 1, 1, 1, 1, 10, 1]))
    assert flat["spike"].tolist() == [False] * 5 + [True, False]
    assert flat["threshold"].isna().tolist() == [True] * 5 + [False, False]
    # History 2,4,2,4,2,4: mean 3, sample σ √1.2 → threshold 3 + 3√1.2 ≈ 6.29.
    wavy = volume.spikes(hourly([2, 4, 2, 4, 2, 4, 20, 6]))
    assert wavy["threshold"].iloc[6] == pytest.approx(3 + 3 * 1.2**0.5)
    assert wavy["spike"].tolist() == [False] * 6 + [True, False]
    # Equal to the threshold is not above it; too little history is never a spike.
    assert not volume.spikes(hourly([1] * 8))["spike"].any()
    assert not volume.spikes(hourly([0, 0, 0, 50]))["spike"].any()
    # Only the window's points count: a spike long ago no longer raises the bar.
    windowed = volume.spikes(hourly([1, 50, 1, 1, 1, 1, 1, 1, 9]), window=5, min_history=3)
    assert windowed["spike"].iloc[-1]
    # The σ floors: one failure after a quiet spell is noise; four are not.
    quiet = hourly([0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 4])
    assert volume.spikes(quiet, min_sigma=1.0)["spike"].tolist() == [False] * 11 + [True]
    assert not volume.spikes(hourly([10, 10, 10, 10, 10, 17]), min_sigma=2.5)["spike"].any()
    assert volume.spikes(hourly([10, 10, 10, 10, 10, 18]), min_sigma=2.5)["spike"].iloc[-1]


def volume_frame(cost: list[float], failed: list[int], created: list[int] | None = None) -> pd.DataFrame:
    n = len(cost)
    return pd.DataFrame(
        {
            "bucket": pd.date_range("2026-03-01", periods=n, freq="h"),
            "created": created or [3] * n,
            "finished": [3] * n,
            "failed": failed,
            "cost": cost,
            "complete": [True] * (n - 1) + [False],
        }
    )


def test_analyse() -> None:
    frame = volume_frame([1.0] * 6 + [9.0, 1.0], [0] * 7 + [5], created=[1, 2, 3, 4, 5, 6, 7, 0])
    result = volume.analyse(frame, "hour")
    # The partial last bucket (0 so far) is left out of the trend: 1…7 gives 8 next, in the last bucket's hour.
    assert result.forecast is not None and result.forecast.value == pytest.approx(7 + 1)
    assert result.forecast.at == datetime(2026, 3, 1, 7, 0)
    assert [(m, at.hour, v) for m, at, v, _ in result.alerts] == [("failures", 7, 5.0), ("cost", 6, 9.0)]
    calm = volume.analyse(volume_frame([1.0] * 8, [0] * 7 + [1]), "hour")
    assert calm.alerts == []


# --- pure figures ------------------------------------------------------------------------------------------


def test_figures_from_frames() -> None:
    hist = pd.DataFrame(
        {
            "kind": ["command", "demo", "demo"],
            "bin": [1, 6, 8],
            "label": ["1s–2s", "30s–1m", "2m–5m"],
            "count": [1, 2, 1],
        }
    )
    fig = figs.duration_histogram(hist, "dark")
    assert [t.name for t in fig.data] == ["command", "demo"]
    assert list(fig.layout.xaxis.categoryarray) == [performance.bin_label(b) for b in range(1, 9)]
    assert fig.layout.template.layout.paper_bgcolor is not None  # the dark template applied

    box = pd.DataFrame(
        [
            {
                "kind": "demo",
                "n": 3,
                "min": 50.0,
                "p25": 50.0,
                "median": 61.0,
                "p75": 61.0,
                "p95": 61.0,
                "max": 400.0,
            }
        ]
    )
    bfig = figs.duration_box(box)
    assert (
        bfig.data[0].type == "box"
        and list(bfig.data[0].median) == [61.0]
        and list(bfig.data[0].upperfence) == [400.0]
    )
    assert list(bfig.data[1].y) == [61.0] and bfig.layout.yaxis.type == "log"
    # 1-2-3-5 per decade over 50–400 s, not plotly's crowded log ticks.
    assert list(bfig.layout.yaxis.tickvals) == [30.0, 50.0, 100.0, 200.0, 300.0, 500.0]
    assert list(bfig.layout.yaxis.ticktext) == ["30", "50", "100", "200", "300", "500"]


def test_log_ticks_do_not_crowd() -> None:
    """The demo's processing times span 10–55 s; plotly's log ticks were 10, 15, 20 … 45, 50, 55 with "55" and
    "50" touching. Ticks now step 1-2-5 per decade (1 on wide spans, 1-2-3-5 or 1-1.5-2-3-5-7 on narrow)."""
    assert figs.log_ticks(10.3, 55.0) == [10.0, 15.0, 20.0, 30.0, 50.0, 70.0]
    assert figs.log_ticks(1.0, 100.0) == [0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0]
    assert figs.log_ticks(0.05, 3600.0) == [0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0]
    assert figs.log_ticks(12.0, 13.0) is None and figs.log_ticks(0.0, 5.0) is None
    box = pd.DataFrame(
        [{"kind": k, "n": 9, "min": 10.3, "p25": 17.0, "median": 20.0, "p75": 23.0, "p95": 34.0, "max": 55.0}
         for k in ("command", "demo")]
    )  # fmt: skip
    ticks = list(figs.duration_box(box).layout.yaxis.ticktext)
    assert ticks == ["10", "15", "20", "30", "50", "70"]

    outcomes = pd.DataFrame(
        {
            "bucket": pd.to_datetime(["2026-03-09", "2026-03-09", "2026-03-09", "2026-03-10"]),
            "kind": ["demo", "demo", "command", "demo"],
            "status": ["completed", "failed", "timed_out", "cancelled"],
            "count": [3, 1, 2, 4],
        }
    )
    ofig = figs.outcomes_by_kind(outcomes, (NOW - 48 * H, NOW), "day")
    rates = {t.name: list(t.y) for t in ofig.data if t.type == "scatter"}
    assert rates == {"command": [0.0], "demo": [75.0]}  # a bucket of only cancellations has no rate
    failures = {t.name: list(t.y) for t in ofig.data if t.type == "bar"}
    assert failures == {"command failures": [2], "demo failures": [1, 0]}

    tools = figs.tool_bars(
        pd.DataFrame({"tool": ["read_file", "<b>x"], "calls": [3, 2], "share": [0.6, 0.4]})
    )
    assert list(tools.data[0].y) == ["&lt;b&gt;x", "read_file"]  # most used on top; agent text escaped
    assert list(tools.data[0].x) == [2, 3] and [c[0] for c in tools.data[0].customdata] == [0.4, 0.6]

    heat = figs.peak_heatmap(pd.DataFrame({"weekday": [0, 6], "hour": [12, 23], "count": [2, 5]}))
    z = heat.data[0].z
    assert len(z) == 7 and len(z[0]) == 24 and z[0][12] == 2 and z[6][23] == 5 and sum(map(sum, z)) == 7

    series = volume_frame([1.0] * 6 + [9.0, 1.0], [0] * 8)
    forecast = volume.Forecast(at=datetime(2026, 3, 1, 8), value=3.0, low=2.0, high=5.0, basis=7)
    vfig = figs.volume_forecast(series, forecast, "hour")
    assert list(vfig.data[0].marker.opacity) == [1.0] * 7 + [0.45]
    assert list(vfig.data[1].y) == [3.0] and list(vfig.data[1].error_y.array) == [2.0]
    analysis = volume.analyse(series, "hour")
    sfig = figs.spikes_chart(series, analysis.cost, analysis.failed, "hour")
    marks = {t.name: list(t.y) for t in sfig.data if t.type == "scatter" and t.mode == "markers"}
    assert marks == {"cost spike": [9.0], "failures spike": []}


def test_figures_empty() -> None:
    empty_figs = [
        figs.duration_histogram(pd.DataFrame(columns=["kind", "bin", "label", "count"])),
        figs.duration_box(
            pd.DataFrame(columns=["kind", "n", "min", "p25", "median", "p75", "p95", "max", "estimated"])
        ),
        figs.outcomes_by_kind(
            pd.DataFrame(columns=["bucket", "kind", "status", "count"]), (NOW - H, NOW), "minute"
        ),
        figs.tool_bars(pd.DataFrame(columns=["tool", "calls", "share"])),
        figs.peak_heatmap(pd.DataFrame(columns=["weekday", "hour", "count"])),
        figs.volume_forecast(volume_frame([0.0] * 3, [0] * 3, created=[0, 0, 0]), None, "hour"),
    ]
    for fig in empty_figs:
        assert is_empty(fig) and not fig.data  # one empty state: a message, no axes
        assert empty_text(fig).startswith(
            (
                "no data in this range",
                "no completed or failed tasks in this range",
                "no tool calls in this range",
            )
        )


# --- the page as plain functions ---------------------------------------------------------------------------


def test_performance_page_refresh(db: Database, svc: Services) -> None:
    from dashboard.pages import performance as page
    from db.core.timeutil import utcnow
    from tests.test_components import texts

    now = utcnow()
    # Six hours of one cheap call each, then an hour that spends fifty times as much.
    for hours_ago in range(9, 3, -1):
        make_task(db, created=now - hours_ago * H, calls=(("planner", "gpt-4.1", 0.1),))
    spike = make_task(
        db, created=now - 2 * H, kind=TaskKind.COMMAND, ran_for=30, calls=(("planner", "gpt-4.1", 5.0),)
    )
    svc.recorder.record(spike, ActivityLine("read_file a.py", TOOL), ActivityLine("read_file b.py", TOOL))

    out = page.refresh(svc, "?range=24h", "dark")
    banner, cards, volume_fig, spikes_fig, outcomes, hist, box, tools, heat = out
    words = " ".join(texts(banner))
    assert "1 anomaly" in words and "Cost spike" in words and "$5.00" in words
    card_text = " ".join(texts(cards))
    assert "Throughput" in card_text and "7 completed" in card_text and "100.0%" in card_text
    # Seven KPIs, one row from 1200 px: an equal share each (kpi_card's xl=2 put the forecast on a row alone).
    assert len(cards.children) == 7 and all(c.xl is True for c in cards.children)
    assert sum(volume_fig.data[0].y) == 7
    assert [t.name for t in spikes_fig.data if t.type == "scatter" and t.mode == "markers" and len(t.y)] == [
        "cost spike"
    ]
    assert {t.name for t in outcomes.data if t.type == "scatter"} == {"command", "demo"}
    assert sum(sum(t.y) for t in hist.data) == 7
    assert sorted(str(t.x[0]) for t in box.data if t.type == "box") == ["command", "demo"]
    assert list(tools.data[0].y) == ["read_file"] and list(tools.data[0].x) == [2]
    assert sum(map(sum, heat.data[0].z)) == 7

    quiet = page.refresh(svc, "?range=1h&kind=python", None)
    assert "No cost or failure spikes" in " ".join(texts(quiet[0]))
    assert "–" in texts(quiet[1]) or "–" in " ".join(texts(quiet[1]))
    # Nothing finished: no "overall – of 0" beside the first-attempt rate.
    quiet_cards = " ".join(texts(quiet[1]))
    assert "of 0" not in quiet_cards and "nothing finished" in quiet_cards

    layout = page.layout(range="24h")
    assert page.PATH == "/performance" and page.TITLE == "Performance"
    assert all(
        i.startswith("perf-") for i in (page.KPIS, page.ALERTS, page.VOLUME, page.HEATMAP, page.ANOMALY)
    )
    assert layout.children[0].children == "Performance"


def test_the_p95_diamonds_have_a_legend_entry() -> None:
    """Processing time by kind drew p95 as a diamond per kind that no legend named: it was explained only on
    hover."""
    box = pd.DataFrame(
        [{"kind": k, "n": 9, "min": 10.3, "p25": 17.0, "median": 20.0, "p75": 23.0, "p95": 34.0, "max": 55.0}
         for k in ("command", "demo")]
    )  # fmt: skip
    fig = figs.duration_box(box)
    assert fig.layout.showlegend is True
    listed = [t for t in fig.data if t.showlegend is not False]
    assert [t.name for t in listed] == ["p95"]  # once, not per kind; the kinds are on the x axis
    assert listed[0].marker.symbol == "diamond" and listed[0].hoverinfo == "skip"
    diamonds = [t for t in fig.data if t.type == "scatter" and t.y[0] is not None]
    assert len(diamonds) == 2 and {t.legendgroup for t in diamonds} == {"p95"}  # the entry toggles them all


def _luminance(colour: str) -> float:
    """Relative lightness 0–1 of "#rrggbb" or "rgb(r,g,b)" (how plotly spells its named scales' colours)."""
    if colour.startswith("rgb("):
        r, g, b = (int(v) / 255 for v in colour[4:-1].split(","))
    else:
        r, g, b = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_the_dark_heatmap_is_dark_where_nothing_ran() -> None:
    """In the dark theme the peak-hours heatmap's Blues scale ran from white at 0: the empty nights and
    weekends were the brightest cells on the page. Its zero is now near the dark background and the scale
    brightens with the count."""
    frame = pd.DataFrame({"weekday": [0, 6], "hour": [12, 23], "count": [2, 5]})
    scale = figs.peak_heatmap(frame, "dark").data[0].colorscale
    lights = [_luminance(colour) for _, colour in scale]
    assert lights[0] < 0.2 and lights == sorted(lights) and lights[-1] > 0.6
    assert _luminance(figs.peak_heatmap(frame, "light").data[0].colorscale[0][1]) > 0.9  # white on white


def test_count_axes_have_whole_ticks_and_separators() -> None:
    """Processing time distribution's "tasks" axis read "2500" and a day of three failures could be ticked in
    halves: every count axis of the page is whole numbers with separators, from zero."""
    hist = pd.DataFrame({"kind": ["demo"], "bin": [5], "label": ["10s–20s"], "count": [2600]})
    assert figs.duration_histogram(hist).layout.yaxis.tickformat == ",d"
    outcomes = pd.DataFrame(
        {
            "bucket": pd.to_datetime(["2026-03-09", "2026-03-09"]),
            "kind": ["demo", "command"],
            "status": ["failed", "failed"],
            "count": [2, 1],
        }
    )
    failures = figs.outcomes_by_kind(outcomes, (NOW - 48 * H, NOW), "day").layout.yaxis2
    assert failures.tickformat == ",d" and failures.dtick == 1  # 3 stacked: 0, 1, 2, 3 …
    series = volume_frame([1.0] * 6 + [9.0, 1.0], [0] * 8)
    analysis = volume.analyse(series, "hour")
    spikes = figs.spikes_chart(series, analysis.cost, analysis.failed, "hour").layout
    assert spikes.yaxis2.tickformat == ",d" and spikes.yaxis.tickformat == ","
    assert figs.volume_forecast(series, None, "hour").layout.yaxis.tickformat == ",d"


def test_kpi_cards_count_whole_tasks_and_say_no_rate_as_the_overview_does() -> None:
    """The forecast card said "459.9" tasks (a count is whole: "460"), and the throughput card "0.00/h" where
    the Overview says "0/h" for none."""
    from dashboard.pages import performance as page
    from tests.test_components import texts

    none = performance.Timing(None, None, None)
    idle = performance.PerfKpis(24.0, 0, 0, 0, 0, 0, none, none, none)
    forecast = volume.Forecast(datetime(2026, 12, 4), 459.94, 274.2, 645.7, 12)
    shown = texts(page.kpis(idle, forecast, "day"))
    assert "460" in shown and "459.9" not in " ".join(shown)
    assert "274–646, day of 12-04 00:00" in shown
    assert "0/h" in shown and "0.00/h" not in shown
    busy = performance.PerfKpis(24.0, 41, 0, 0, 41, 0, none, none, none)
    assert "1.71/h" in texts(page.kpis(busy, None, "day"))
