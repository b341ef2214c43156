"""Tests: the Database page — write rate, commit latency, update frequency, event-log growth, pools and table sizes
(db.analytics.insights) against hand-computed answers on SQLite and PostgreSQL; its refreshes called as plain
functions with real Services; its figure builders and throttle as pure functions."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import func, insert, select, text

from dashboard.figures import empty_text, is_empty
from dashboard.services import Services
from db.analytics import insights
from db.core.engine import Database, open_database
from db.core.migrate import upgrade
from db.core.models import WriteStat
from db.domain.states import TaskStatus
from db.read.scope import parse_scope
from tests.builders import make_task

NOW = datetime(2026, 3, 10, 12, 0)


def stat(minute: datetime, process: str, commits: int, events: int, total: float, p50: float, p95: float,
         top: float) -> dict[str, object]:  # fmt: skip
    return {
        "minute": minute,
        "process": process,
        "commits": commits,
        "events": events,
        "total_ms": total,
        "p50_ms": p50,
        "p95_ms": p95,
        "max_ms": top,
    }


@pytest.fixture
def history(db: Database) -> dict[str, int]:
    """Tasks made in time order, so seq follows `at` (events per task: queued 1, running 2, completed 3, +3 per
    call):
      old  10 days ago, queued                        seq 1            update_count 1
      a    03-08 12:00, completed (12:00:00/:10, 12:01:10)  seq 2–4    3
      b    11:30, completed, one call (11:30:00, :10, :11 ×3, 11:31:10)  seq 5–10   6
      c    11:55, running (11:55:00, :10)             seq 11–12        2
      e    11:58, running (11:58:00, :10)             seq 13–14        2
      d    11:59:30, queued                           seq 15           1
    write_stats: 11:50 from p1 and p2, 11:51 from p1, 03-08 12:00 from p1."""
    made = {
        "old": make_task(db, created=NOW - timedelta(days=10), status=TaskStatus.QUEUED),
        "a": make_task(db, created=NOW - timedelta(days=2)),
        "b": make_task(db, created=NOW - timedelta(minutes=30), calls=(("planner", "m", 1.0),)),
        "c": make_task(db, created=NOW - timedelta(minutes=5), status=TaskStatus.RUNNING, title="slow"),
        "e": make_task(db, created=NOW - timedelta(minutes=2), status=TaskStatus.RUNNING, title="chatty"),
        "d": make_task(db, created=NOW - timedelta(seconds=30), status=TaskStatus.QUEUED),
    }
    with db.writing() as s:
        s.execute(
            insert(WriteStat),
            [
                stat(datetime(2026, 3, 10, 11, 50), "p1", 10, 20, 50.0, 4.0, 9.0, 12.0),
                stat(datetime(2026, 3, 10, 11, 50), "p2", 30, 30, 210.0, 6.0, 8.0, 20.0),
                stat(datetime(2026, 3, 10, 11, 51), "p1", 4, 8, 40.0, 10.0, 15.0, 15.0),
                stat(datetime(2026, 3, 8, 12, 0), "p1", 2, 3, 10.0, 5.0, 5.0, 5.0),
            ],
        )
    return made


def test_writes_per_bucket_and_now(db: Database, history: dict[str, int]) -> None:
    with db.reading() as s:
        scopes = {q: parse_scope(q, NOW) for q in ("?range=1h", "?range=24h", "?range=7d")}
        hour, day, week = (insights.writes_over_time(s, scope) for scope in scopes.values())
        peaks = [
            insights.busiest_minute(s, scope, frame)
            for scope, frame in zip(scopes.values(), (hour, day, week), strict=True)
        ]
        none = insights.busiest_minute(s, scopes["?range=1h"], hour.iloc[0:0])
        now = insights.writes_now(s, NOW)
        total = insights.event_total(s)
    assert [b.strftime("%H:%M") for b in hour["bucket"]] == ["11:30", "11:31", "11:55", "11:58", "11:59"]
    assert list(hour["events"]) == [5, 1, 2, 2, 1]
    assert list(hour["per_second"]) == pytest.approx([5 / 60, 1 / 60, 2 / 60, 2 / 60, 1 / 60])
    assert list(day["bucket"]) == [pd.Timestamp("2026-03-10 11:00")] and list(day["events"]) == [11]
    assert day["per_second"][0] == pytest.approx(11 / 3600)
    assert list(week["bucket"]) == [pd.Timestamp("2026-03-08"), pd.Timestamp("2026-03-10")]
    assert list(week["events"]) == [3, 11]
    # Today's bucket is only half inside the range (00:00–12:00): its rate is over 12 hours, not 24.
    assert list(week["seconds"]) == [86400, 43200]
    assert week["per_second"][1] == pytest.approx(11 / 43200)
    # b's start: 11:30:00, :10 and three events at :11.
    assert [(p.minute, p.events) for p in peaks if p] == [(datetime(2026, 3, 10, 11, 30), 5)] * 3
    assert peaks[0] is not None and peaks[0].per_second == pytest.approx(5 / 60) and none is None
    assert now == pytest.approx(1 / 60)  # only d's event lies in 11:59:00–12:00
    assert total == 15


def test_writes_over_a_long_custom_range(
    db: Database, history: dict[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 400-day range is 400 day buckets, split into compound SELECTs of COMPOUND_LIMIT (SQLite takes 500)."""
    scope = parse_scope("?from=2025-02-10&to=2026-03-17", NOW)
    with db.reading() as s:
        frame = insights.writes_over_time(s, scope)
        monkeypatch.setattr(insights, "COMPOUND_LIMIT", 7)
        split = insights.writes_over_time(s, scope)
    assert scope.unit == "day" and list(frame["events"]) == [1, 3, 11]  # old, a, then b to d
    assert frame.equals(split)
    assert list(frame["bucket"]) == [pd.Timestamp(d) for d in ("2026-02-28", "2026-03-08", "2026-03-10")]


def test_event_growth(db: Database, history: dict[str, int]) -> None:
    week = parse_scope("?range=7d", NOW)
    hour = parse_scope("?range=1h", NOW)
    with db.reading() as s:
        growth = insights.event_growth(s, week, insights.writes_over_time(s, week, "day"))
        short = insights.event_growth(s, hour, insights.writes_over_time(s, hour, "day"))
        assert insights.events_before(s, NOW - timedelta(days=30)) == 0
        assert insights.events_before(s, NOW) == 15  # nothing after: all of them
    assert list(growth["day"]) == [pd.Timestamp("2026-03-08"), pd.Timestamp("2026-03-10")]
    assert list(growth["events"]) == [3, 11] and list(growth["cumulative"]) == [4, 15]  # `old` came before
    assert list(short["events"]) == [11] and list(short["cumulative"]) == [15]


def test_commit_latency(db: Database, history: dict[str, int]) -> None:
    with db.reading() as s:
        minutes = insights.commit_latency(s, parse_scope("?range=1h", NOW))
        hours = insights.commit_latency(s, parse_scope("?range=24h", NOW))
        days = insights.commit_latency(s, parse_scope("?range=7d", NOW))
        latest = insights.latest_flushed_minute(s)
    assert [b.strftime("%H:%M") for b in minutes["bucket"]] == ["11:50", "11:51"]
    first = minutes.iloc[0]
    # p50 weighted by commits: (4·10 + 6·30) / 40; p95 the worst of the two processes.
    assert (first["commits"], first["events"], first["processes"]) == (40, 50, 2)
    assert first["p50_ms"] == pytest.approx(5.5) and first["p95_ms"] == 9.0 and first["max_ms"] == 20.0
    assert first["mean_ms"] == pytest.approx(6.5) and first["commits_per_second"] == pytest.approx(40 / 60)
    assert list(minutes["p50_ms"]) == pytest.approx([5.5, 10.0]) and list(minutes["p95_ms"]) == [9.0, 15.0]
    assert list(hours["commits"]) == [44] and hours["p50_ms"][0] == pytest.approx(260 / 44)
    assert hours["p95_ms"][0] == 15.0
    assert list(days["commits"]) == [2, 44]
    assert latest is not None and latest.at == datetime(2026, 3, 10, 11, 51)
    assert (latest.commits, latest.events, latest.p50_ms, latest.p95_ms, latest.source) == (
        4,
        8,
        10.0,
        15.0,
        "write_stats",
    )


def test_update_frequency(db: Database, history: dict[str, int]) -> None:
    with db.reading() as s:
        week = insights.update_histogram(s, parse_scope("?range=7d", NOW))
        hour = insights.update_histogram(s, parse_scope("?range=1h", NOW))
        empty = insights.update_histogram(s, parse_scope("?from=2025-01-01&to=2025-01-02", NOW))
        busiest = insights.busiest_running(s, NOW)
    assert list(week["label"]) == ["1", "2–4", "5–9"]
    assert list(week["tasks"]) == [1, 3, 1] and list(week["updates"]) == [1, 7, 6]  # a 3, c 2, e 2
    assert list(hour["tasks"]) == [1, 2, 1] and list(hour["lo"]) == [1, 2, 5]
    assert empty.empty
    # e: 2 updates in 2 minutes; c: 2 in 5.
    assert list(busiest["task_id"]) == [history["e"], history["c"]]
    assert list(busiest["per_minute"]) == pytest.approx([1.0, 0.4])
    assert list(busiest["minutes"]) == pytest.approx([2.0, 5.0])


def test_histogram_bins_are_sql_edges(db: Database) -> None:
    task_id = make_task(db, created=NOW - timedelta(hours=1), status=TaskStatus.QUEUED)
    with db.writing() as s:  # push one task past the last edge
        s.execute(text("UPDATE tasks SET update_count = 7000 WHERE id = :id"), {"id": task_id})
    with db.reading() as s:
        frame = insights.update_histogram(s, parse_scope("?range=24h", NOW))
    assert list(frame["label"])[-1] == "5,000+" and frame["hi"].iloc[-1] is None
    assert list(frame["tasks"]) == [0] * (len(frame) - 1) + [1]  # only its bin is non-empty; gaps as 0


def test_live_snapshot_and_latency_ring(db: Database, history: dict[str, int]) -> None:
    with db.reading() as s:
        snap = insights.live_snapshot(s, NOW)
    assert snap.writes_per_second == pytest.approx(1 / 60) and snap.events_total == 15
    assert snap.flushed is not None and snap.flushed.p95_ms == 15.0
    assert snap.size.bytes > 0
    if db.is_sqlite:
        assert snap.size.free_bytes is not None and snap.size.wal_bytes is not None
    # The ring holds this process's own commits (the fixture's writes among them).
    ring = insights.live_latency(db.stats)
    assert ring is not None and ring.source == "ring" and ring.commits >= 7 and ring.events == 15
    assert ring.p50_ms is not None and ring.p95_ms is not None and ring.p50_ms <= ring.p95_ms


def test_pool_usage(db: Database) -> None:
    before = insights.pool_usage(db)
    if db.is_sqlite:
        assert list(before["engine"]) == ["write", "read"]
        assert list(before["size"]) == [8, 8] and list(before["capacity"]) == [24, 24]
    else:
        assert list(before["engine"]) == ["read + write"]
        assert list(before["size"]) == [10] and list(before["capacity"]) == [15]
    assert set(before["pool"]) == {"QueuePool"} and before["checked_out"].sum() == 0
    with db.reading() as s:
        s.execute(text("SELECT 1"))
        during = insights.pool_usage(db)
    assert during["checked_out"].sum() == 1
    assert "Pool size" in during["status"].iloc[0]


def test_table_sizes(db: Database, history: dict[str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    with db.reading() as s:
        exact = insights.table_sizes(s).set_index("table")
        size = insights.database_size(s)
    assert exact.loc["task_events", "rows"] == 15 and exact.loc["tasks", "rows"] == 6
    assert exact.loc["write_stats", "rows"] == 4 and exact.loc["workers", "rows"] == 0
    assert exact["rows_exact"].all()
    events = exact.loc["task_events"]
    assert events["index_bytes"] > 0 and events["table_bytes"] > 0
    assert events["total_bytes"] == events["table_bytes"] + events["index_bytes"]
    if db.is_sqlite:  # dbstat pages add up to at most the file
        assert exact["total_bytes"].sum() <= size.bytes
    # Big tables get estimates, never a count(*): ANALYZE gives both databases exact statistics to compare.
    with db.writing() as s:
        s.execute(text("ANALYZE"))
    monkeypatch.setattr(insights, "EXACT_ROWS_BELOW", 10)
    monkeypatch.setattr(insights, "EXACT_BYTES_BELOW", 0)
    with db.reading() as s:
        estimated = insights.table_sizes(s).set_index("table")
    assert estimated.loc["task_events", "rows"] == 15 and not estimated.loc["task_events", "rows_exact"]
    if db.is_sqlite:
        assert estimated.loc["write_stats", "rows_exact"]  # 4 rows: still counted


def test_sqlite_without_dbstat_budget_and_plans(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On SQLite: above DBSTAT_MAX_BYTES no per-table bytes; the range queries use ix_task_events_at."""
    database = open_database(f"sqlite:///{tmp_path}/plans.db")
    try:
        upgrade(database)
        make_task(database, created=NOW - timedelta(minutes=10))
        monkeypatch.setattr(insights, "DBSTAT_MAX_BYTES", 0)
        with database.reading() as s:
            frame = insights.table_sizes(s)
            assert (
                frame["total_bytes"].isna().all() and frame.set_index("table").loc["task_events", "rows"] == 3
            )
            scope = parse_scope("?range=1h", NOW)
            # What writes_over_time runs per bucket, and events_before's seek.
            count = select(func.count()).where(insights.E.at >= scope.start, insights.E.at < scope.end)
            seek = select(insights.E.seq).where(insights.E.at >= scope.start).order_by(insights.E.at).limit(1)
            plans = []
            for query in (count, seek):
                compiled = query.compile(s.get_bind(), compile_kwargs={"literal_binds": True})
                plans.append(" ".join(str(r[-1]) for r in s.execute(text(f"EXPLAIN QUERY PLAN {compiled}"))))
        assert "COVERING INDEX ix_task_events_at" in plans[0], plans
        assert "ix_task_events_at" in plans[1] and "TEMP B-TREE" not in plans[1], plans
    finally:
        database.dispose()


# ---------------------------------------------------------------- the page, with real Services


def test_database_page_refreshes(db: Database, svc: Services) -> None:
    from dashboard.pages import database as page
    from db.core.timeutil import utcnow
    from tests.test_components import texts

    now = utcnow()
    make_task(db, created=now - timedelta(minutes=20), status=TaskStatus.RUNNING, title="<b>busy</b>")
    minute = (now - timedelta(minutes=5)).replace(second=0, microsecond=0)
    with db.writing() as s:
        s.execute(insert(WriteStat), [stat(minute, "w:1", 3, 2, 9.0, 2.5, 4.0, 4.5)])

    writes, latency, updates, growth, summary = page.refresh_range(svc, "?range=1h", {"at": 1}, "dark")
    assert sum(int(c[0]) for c in writes.data[0].customdata) == 2  # both events of the task
    assert [t.name for t in writes.data] == ["events/s (average)", "commits/s (flushed)"]
    assert list(latency.data[0].y) == [2.5] and list(latency.data[1].y) == [4.0]
    assert latency.data[-1].name == "now (this process)"  # the ring has the test's own commits
    assert list(updates.data[0].x) == ["2–4"] and list(updates.data[0].y) == [1]
    assert list(growth.data[0].y) == [2] and list(growth.data[1].y) == [2]
    assert summary["query"] == "?range=1h" and summary["signal"] == 1
    # The task's two events are 10 s apart: one minute or, across a minute's end, two.
    assert summary["peak_per_second"] in (pytest.approx(2 / 60), pytest.approx(1 / 60))

    cards, busiest, pools = page.refresh_live(svc, summary)
    shown = texts(cards)
    assert "2" in shown and "event-log rows (by seq)" in shown
    assert any(t.startswith("this process · last 60 s") for t in shown)
    assert "<b>busy</b>" in texts(busiest)  # a title stays text
    assert "QueuePool" in texts(pools)
    tables = texts(page.refresh_sizes(svc))
    assert "task_events" in tables and "database" in tables


# ---------------------------------------------------------------- pure builders


def test_due_throttles_pushes_not_scope_changes() -> None:
    from dashboard import ids
    from dashboard.pages.database import DBI_RANGE_TICK, RANGE_EVERY_S, due

    last = {"query": "?range=1h", "ran": 1000.0, "signal": 5}
    assert due(None, None, "?range=1h", None, 0.0)  # first render
    assert due(ids.PAGE_SCOPE, last, "?range=7d", {"at": 6}, 1001.0)  # a new scope: at once
    assert due(ids.THEME, last, "?range=1h", {"at": 5}, 1001.0)
    assert not due(ids.SIGNAL, last, "?range=1h", {"at": 6}, 1001.0)  # a push inside the interval: later
    assert due(ids.SIGNAL, last, "?range=1h", {"at": 6}, 1000.0 + RANGE_EVERY_S)
    assert due(DBI_RANGE_TICK, last, "?range=1h", {"at": 6}, 1000.0 + RANGE_EVERY_S)  # the burst's last push
    assert not due(DBI_RANGE_TICK, last, "?range=1h", {"at": 5}, 5000.0)  # nothing new: no scan


def test_figures_are_pure() -> None:
    from dashboard import figures_database as figs

    window = (datetime(2026, 3, 10, 0, 0), datetime(2026, 3, 10, 12, 0))
    writes = pd.DataFrame(
        {
            "bucket": pd.to_datetime(["2026-03-10 10:00", "2026-03-10 11:00"]),
            "events": [360, 720],
            "seconds": [3600.0, 3600.0],
            "per_second": [0.1, 0.2],
        }
    )
    empty = pd.DataFrame(columns=["bucket", "commits_per_second"])
    peak = insights.PeakMinute(datetime(2026, 3, 10, 11, 7), 60)
    fig = figs.writes_over_time(writes, empty, peak, window, "hour", "dark")
    assert [t.name for t in fig.data] == ["events/s (average)", "busiest minute"]
    assert list(fig.data[0].y) == [0.1, 0.2] and list(fig.data[1].y) == [1.0]
    assert fig.layout.template.layout.paper_bgcolor is not None  # the dark template
    minute = figs.writes_over_time(writes, empty, peak, window, "minute")
    assert [t.name for t in minute.data] == ["events/s (average)"]
    blank = figs.writes_over_time(writes.iloc[0:0], empty, None, window, "hour")
    assert is_empty(blank) and empty_text(blank).startswith("no data in this range")

    latency = pd.DataFrame(
        {
            "bucket": pd.to_datetime(["2026-03-10 11:00"]),
            "p50_ms": [2.0],
            "p95_ms": [7.0],
            "commits": [10],
            "processes": [2],
        }
    )
    live = insights.Latency(5, 9, 1.5, 3.0, 4.0, "ring")
    fig = figs.commit_latency(latency, window, live)
    assert [t.name for t in fig.data] == ["p50", "p95", "now (this process)"]
    assert list(fig.data[2].y) == [1.5, 3.0] and list(fig.data[2].x) == [window[1], window[1]]
    assert not figs.commit_latency(latency.iloc[0:0], window, None).data

    hist = pd.DataFrame({"label": ["1", "2–4"], "tasks": [3, 1], "updates": [3, 4]})
    fig = figs.update_histogram(hist)
    assert list(fig.data[0].x) == ["1", "2–4"] and fig.layout.title.text == "4 tasks · avg 1.8 updates"
    # The demo's title at a phone's width: "1,846 tasks · 23.1 updates each on average" was cut at "on ave"
    # (about 33 characters fit the 390 px card's plot at the title's size).
    demo = pd.DataFrame({"label": ["20–49"], "tasks": [1846], "updates": [42_653]})
    assert len(figs.update_histogram(demo).layout.title.text) <= 33

    growth = pd.DataFrame(
        {"day": pd.to_datetime(["2026-03-09", "2026-03-10"]), "events": [5, 7], "cumulative": [105, 112]}
    )
    fig = figs.event_growth(growth, window)
    assert list(fig.data[1].y) == [105, 112] and fig.data[1].yaxis == "y2"
    # The day's bar is centred on its midnight: the axis starts half a day before it (from midnight it was halved).
    assert pd.Timestamp(fig.layout.xaxis.range[0]) == pd.Timestamp("2026-03-09 12:00")
    assert pd.Timestamp(fig.layout.xaxis.range[1]) == pd.Timestamp("2026-03-10 12:00")


def test_commit_latency_empty_says_it_is_measured_not_missing() -> None:
    """Commit timings come from running workers only: a database holding tasks (the demo history, an import)
    has none, and the chart said "no data yet? start python app.py --demo or submit a task" over 20,000 tasks."""
    from dashboard import figures_database as figs

    window = (datetime(2026, 3, 10, 0, 0), datetime(2026, 3, 10, 12, 0))
    empty = pd.DataFrame(columns=["bucket", "p50_ms", "p95_ms", "commits", "processes"])
    fig = figs.commit_latency(empty, window, None)
    said = empty_text(fig)
    assert is_empty(fig) and said.startswith("no commit timings in this range")
    assert "while a worker runs" in said and "--demo" not in said and "submit a task" not in said


def test_components_are_pure() -> None:
    from dashboard.pages import database as page
    from tests.test_components import texts

    assert [page.size(v) for v in (None, 512, 2048, 5 * 1024**3)] == ["–", "512 B", "2.0 KB", "5.0 GB"]
    snap = insights.LiveSnapshot(2.5, 1_234_567, None, insights.DatabaseSize(10 * 1024**2, 0, 4096))
    pools = pd.DataFrame(
        [{"engine": "read + write", "pool": "QueuePool", "size": 10, "capacity": 30, "checked_out": 25,
          "checked_in": 0, "overflow": 15, "status": ""}]
    )  # fmt: skip
    row = page.kpis(snap, None, pools, {"peak_per_second": 9.0, "peak_at": "2026-03-10 11:30"})
    shown = texts(row)
    assert {"2.5/s", "9.0/s", "1,234,567", "10.0 MB", "25/30", "no commits measured yet"} <= set(shown)
    assert "WAL 4.0 KB" in shown
    assert row.children[-1].children.color == "warning"  # 25 of 30 connections in use
    sizes = pd.DataFrame(
        [{"table": "task_events", "rows": 23_000_000, "rows_exact": False, "table_bytes": None,
          "index_bytes": None, "total_bytes": None}]
    )  # fmt: skip
    table = texts(page.tables_table(sizes, insights.DatabaseSize(7 * 1024**3)))
    assert "≈ 23,000,000" in table and "7.0 GB" in table and any("dbstat" in t for t in table)
    assert texts(page.busiest_table(pd.DataFrame())) == ["No task is running."]
    rendered = str(page.layout(range="24h").to_plotly_json())
    assert all(
        f"'{i}'" in rendered for i in (page.DBI_KPIS, page.DBI_WRITES, page.DBI_TABLES, page.DBI_RANGE_TICK)
    )


def test_markers_at_the_plots_edge_are_drawn_whole() -> None:
    """The "now (this process)" diamonds sit at the axis' right end and the busiest minute is the highest
    point (top right when it is recent): clipped to the plot, the diamonds were cut in half, the triangle cut
    at the corner."""
    from dashboard import figures_database as figs

    window = (datetime(2026, 3, 10, 0, 0), datetime(2026, 3, 10, 12, 0))
    writes = pd.DataFrame(
        {
            "bucket": pd.to_datetime(["2026-03-10 11:00"]),
            "events": [60],
            "seconds": [600.0],
            "per_second": [0.1],
        }
    )
    peak = insights.PeakMinute(datetime(2026, 3, 10, 11, 59), 60)
    empty = pd.DataFrame(columns=["bucket", "commits_per_second"])
    fig = figs.writes_over_time(writes, empty, peak, window, "hour")
    (busiest,) = [t for t in fig.data if t.name == "busiest minute"]
    assert busiest.cliponaxis is False
    latency = pd.DataFrame(columns=["bucket", "p50_ms", "p95_ms", "commits", "processes"])
    fig = figs.commit_latency(latency, window, insights.Latency(5, 9, 1.5, 3.0, 4.0, "ring"))
    (now,) = [t for t in fig.data if t.name == "now (this process)"]
    assert now.cliponaxis is False and list(now.x) == [window[1]] * 2
    assert fig.layout.margin.r >= now.marker.size / 2  # the right margin has room for the half past the axis


def test_event_growth_counts_in_whole_numbers() -> None:
    """An empty database holds one event: the "total rows" axis was ticked 0.204, 0.408 … 1.02 and the one
    event filled the chart's height."""
    from dashboard import figures_database as figs
    from dashboard.figures import COUNT_FLOOR

    window = (datetime(2026, 3, 10, 0, 0), datetime(2026, 3, 10, 12, 0))
    one = pd.DataFrame({"day": pd.to_datetime(["2026-03-10"]), "events": [1], "cumulative": [1]})
    fig = figs.event_growth(one, window)
    for axis in (fig.layout.yaxis, fig.layout.yaxis2):
        assert axis.tickformat == ",d" and axis.rangemode == "tozero"
        assert axis.dtick == 1 and axis.tick0 == 0  # 0, 1, 2 …: no fractional counts
        # One event is a fifth of the height, not all of it.
        assert COUNT_FLOOR in axis.autorangeoptions.include
    many = pd.DataFrame({"day": pd.to_datetime(["2026-03-10"]), "events": [5000], "cumulative": [466_649]})
    fig = figs.event_growth(many, window)
    right = fig.layout.yaxis2
    assert right.tickformat == ",d" and right.dtick is None  # plotly's round steps, "100,000"
    # Not synced to the left axis' grid (an overlaying axis' default): 95,159, 190,293 … over the demo.
    assert right.tickmode == "auto" and right.showgrid is False
    hist = figs.update_histogram(pd.DataFrame({"label": ["1"], "tasks": [1], "updates": [1]}))
    assert hist.layout.yaxis.dtick == 1 and hist.layout.yaxis.tickformat == ",d"


def test_event_growth_labels_every_day_of_a_week() -> None:
    """Over the demo's 7 days plotly labelled every other day (Nov 28, Nov 30 …): up to a week every day is
    ticked, at its midnight where its bar is centred; a longer range keeps plotly's own steps."""
    from dashboard import figures_database as figs

    days = pd.to_datetime([f"2026-03-{d:02d}" for d in range(3, 11)])
    growth = pd.DataFrame({"day": days, "events": 5, "cumulative": range(5, 45, 5)})
    week = figs.event_growth(growth, (NOW - timedelta(days=7), NOW))
    axis = week.layout.xaxis
    assert (axis.tickmode, axis.dtick) == ("linear", 86_400_000)
    assert pd.Timestamp(axis.tick0) == pd.Timestamp("2026-03-03")  # the first bar's midnight
    month = figs.event_growth(growth, (NOW - timedelta(days=30), NOW)).layout.xaxis
    assert month.dtick is None and month.tickmode is None


def test_the_peak_kpi_agrees_with_the_busiest_minute() -> None:
    """One event in the busiest minute is 1/60 s: the KPI read "Peak writes 0.0/s" beside the chart's
    busiest-minute triangle."""
    from dashboard.pages import database as page
    from tests.test_components import texts

    snap = insights.LiveSnapshot(1 / 60, 1, None, insights.DatabaseSize(4096, 0, None))
    peak = insights.PeakMinute(datetime(2026, 3, 10, 11, 7), 1)
    summary = {"peak_per_second": peak.per_second, "peak_at": "2026-03-10 11:07", "peak_events": peak.events}
    pools = pd.DataFrame(columns=["checked_out", "capacity"])
    shown = texts(page.kpis(snap, None, pools, summary))
    assert shown.count("0.017/s") == 2 and "0.0/s" not in shown  # writes now (one event) and the peak
    assert "busiest minute, 2026-03-10 11:07 · 1 event" in shown
    assert page.rate(0.0) == "0.0/s" and page.rate(2.5) == "2.5/s"


def test_a_size_rolls_over_to_the_next_unit_at_1000_as_shown() -> None:
    """A table of 1,000 KB read "1,000.0 KB" (and of 1,023.96 KB "1,024.0 KB"): a figure never shows four
    digits before its point; the next unit's "1.0 MB" instead."""
    from dashboard.pages import database as page

    assert page.size(1000 * 1024) == "1.0 MB"
    assert page.size(1023.96 * 1024) == "1.0 MB"
    assert page.size(999.96 * 1024) == "1.0 MB"  # rounds to 1,000.0 KB
    assert page.size(999.94 * 1024) == "999.9 KB"
    assert page.size(1000) == "1.0 KB" and page.size(999) == "999 B"
    assert page.size(1000 * 1024**3) == "1.0 TB"
