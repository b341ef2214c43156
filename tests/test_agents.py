"""Tests: the agents queries (fleet and roles) against hand-computed answers on SQLite and PostgreSQL, the
page's refresh called as a plain function with real services, and the pure figure builders."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy import insert

from dashboard import figures_agents
from dashboard.components.fmt import duration
from dashboard.figures import empty_text, is_empty
from dashboard.services import Services
from db.analytics import agents
from db.core.engine import Database
from db.core.models import Worker
from db.domain.ops import InvocationFinished, InvocationStarted, Op, Usage
from db.domain.states import TaskKind, TaskStatus
from db.read.scope import parse_scope
from db.write.writes import apply_ops
from tests.builders import make_task

NOW = datetime(2026, 3, 10, 12, 0)
DAY = 86_400.0


def add_worker(
    db: Database, wid: str, *, status: str, started: datetime, seen: datetime, **extra: object
) -> None:
    """A worker row with chosen timestamps (register_worker stamps the wall clock)."""
    values = {"name": wid, "host": "h", "pid": 1, "concurrency": 1, "running_count": 0, "stopped_at": None}
    values.update(extra)
    with db.writing() as s:
        s.execute(
            insert(Worker).values(id=wid, status=status, started_at=started, last_seen_at=seen, **values)
        )


def add_call(
    db: Database,
    task_id: int,
    call_id: str,
    *,
    role: str,
    model: str = "gpt-4.1",
    cost: float = 0.0,
    at: datetime,
    seconds: float | None,
    ok: bool = True,
) -> None:
    """A call started at `at` taking `seconds` (None: still running), 100 tokens in and 10 out."""
    with db.writing() as s:
        started: list[Op] = [
            InvocationStarted(call_id, role=role, provider="p", model=model),
            Usage(model, 100, 10, 0, cost, call_id),
        ]
        apply_ops(s, task_id, started, actor="t", now=at)
        if seconds is not None:
            finished: list[Op] = [InvocationFinished(call_id, ok=ok, error=None if ok else "boom")]
            apply_ops(s, task_id, finished, actor="t", now=at + timedelta(seconds=seconds))


@pytest.fixture
def fleet_data(db: Database) -> dict[str, int]:
    """Worker w1 (2 slots, busy): task a done in 600 s two hours ago; task b ran 25h..23h ago (done, 3600 s of it
    inside the last 24h); task c running for the last hour. w2 (1 slot, online): task d, a command, failed after
    300 s. w3 (offline since 20h ago, up 10h): task e timed out after 1800 s 22h ago. w4 offline for 3 days.
    Task f (w1, three days ago) is outside every range used here."""
    h = timedelta(hours=1)
    t = {
        "a": make_task(db, created=NOW - 2 * h, ran_for=600, worker="w1", tags=("x",)),
        "b": make_task(db, created=NOW - 25 * h, started_after=0, ran_for=7200, worker="w1"),
        "c": make_task(
            db, created=NOW - h, started_after=0, status=TaskStatus.RUNNING, worker="w1", title="<i>now</i>"
        ),
        "d": make_task(
            db,
            created=NOW - h / 2,
            started_after=0,
            ran_for=300,
            status=TaskStatus.FAILED,
            kind=TaskKind.COMMAND,
            worker="w2",
        ),
        "e": make_task(
            db, created=NOW - 22 * h, started_after=0, ran_for=1800, status=TaskStatus.TIMED_OUT, worker="w3"
        ),
        "f": make_task(db, created=NOW - 72 * h, worker="w1"),
    }
    add_worker(
        db,
        "w1",
        status="busy",
        started=NOW - 48 * h,
        seen=NOW - timedelta(seconds=5),
        name="alpha",
        concurrency=2,
        running_count=1,
        current_task_id=t["c"],
    )
    add_worker(
        db, "w2", status="online", started=NOW - h, seen=NOW - timedelta(seconds=10), name="<b>beta</b>"
    )
    add_worker(db, "w3", status="offline", started=NOW - 30 * h, seen=NOW - 20 * h, stopped_at=NOW - 20 * h)
    add_worker(db, "w4", status="offline", started=NOW - 80 * h, seen=NOW - 72 * h, stopped_at=NOW - 72 * h)
    # Roles, 24h: planner on a (10 s, 20 s, 30 s failed; $1 + $1 + $0.5); builder on d (100 s; one running).
    a_start = NOW - 2 * h + timedelta(seconds=10)
    for n, (secs, ok, cost) in enumerate(((10, True, 1.0), (20, True, 1.0), (30, False, 0.5))):
        add_call(
            db,
            t["a"],
            f"p{n}",
            role="planner",
            cost=cost,
            at=a_start + timedelta(seconds=n),
            seconds=secs,
            ok=ok,
        )
    add_call(db, t["d"], "b0", role="builder", model="claude", cost=2.0, at=NOW - h / 2, seconds=100)
    add_call(db, t["d"], "b1", role="builder", model="claude", cost=0.25, at=NOW - h / 4, seconds=None)
    add_call(db, t["f"], "old", role="tester", cost=9.0, at=NOW - 72 * h, seconds=5)
    return t


def by_id(frame: pd.DataFrame) -> dict[str, dict[str, object]]:
    return {str(r["id"]): r for r in frame.to_dict("records")}


def test_fleet_last_24h(db: Database, fleet_data: dict[str, int]) -> None:
    with db.reading() as s:
        frame = agents.fleet(s, parse_scope("?range=24h", NOW), NOW)
    assert list(frame["id"]) == ["w1", "w2", "w3"]  # busy, online, offline; w4 left before the range
    w = by_id(frame)
    assert (w["w1"]["done"], w["w1"]["failed"], w["w1"]["success_rate"]) == (2, 0, 1.0)
    assert w["w1"]["avg_task_s"] == pytest.approx((600 + 7200) / 2, abs=0.01)
    assert w["w1"]["busy_s"] == pytest.approx(600 + 3600 + 3600, abs=0.01)  # b clipped, c up to now
    assert w["w1"]["utilization"] == pytest.approx(7800 / (2 * DAY), abs=1e-6)
    assert w["w1"]["uptime_s"] == pytest.approx(2 * DAY, abs=0.01)
    assert (w["w1"]["current_task_id"], w["w1"]["current_task_title"]) == (fleet_data["c"], "<i>now</i>")
    assert (w["w2"]["done"], w["w2"]["failed"], w["w2"]["success_rate"]) == (0, 1, 0.0)
    assert pd.isna(w["w2"]["avg_task_s"]) and w["w2"]["utilization"] == pytest.approx(300 / DAY, abs=1e-6)
    assert (w["w3"]["failed"], w["w3"]["busy_s"]) == (1, pytest.approx(1800, abs=0.01))
    assert w["w3"]["uptime_s"] == pytest.approx(10 * 3600, abs=0.01)  # stopped_at − started_at once offline
    totals = agents.fleet_totals(frame)
    assert (totals.online, totals.busy, totals.offline, totals.done, totals.failed) == (1, 1, 1, 2, 2)
    assert totals.success_rate == 0.5
    assert totals.utilization == pytest.approx(9900 / (4 * DAY), abs=1e-6)


def test_an_offline_worker_has_no_uptime(db: Database, fleet_data: dict[str, int]) -> None:
    """The fleet table's Uptime read "89d 23h" for an offline worker (the time it had run): an offline worker
    is not up, so "–" (Last seen says since when); a running one's uptime counts on in the browser."""
    from dashboard.pages.agents import fleet_table

    with db.reading() as s:
        frame = agents.fleet(s, parse_scope("?range=24h", NOW), NOW)
    body = fleet_table(frame, NOW).children[1].children
    uptimes = {str(w.id): row.children[3].children for w, row in zip(frame.itertuples(), body, strict=True)}
    assert uptimes["w3"].children == "–"  # offline
    for alive in ("w1", "w2"):
        assert uptimes[alive].children[0].children == duration(frame.set_index("id").loc[alive, "uptime_s"])


def test_fleet_past_range_is_clipped(db: Database, fleet_data: dict[str, int]) -> None:
    """11:00–13:30 yesterday: b ran 11:00–13:00 (all of it inside); c and e started later; w4 was gone."""
    with db.reading() as s:
        frame = agents.fleet(s, parse_scope("?from=2026-03-09T11:00&to=2026-03-09T13:30", NOW), NOW)
    w = by_id(frame)
    assert set(w) == {"w1", "w2", "w3"}
    assert (w["w1"]["done"], w["w1"]["busy_s"]) == (1, pytest.approx(7200, abs=0.01))
    assert w["w1"]["utilization"] == pytest.approx(7200 / (2 * 9000), abs=1e-6)
    assert (w["w3"]["failed"], w["w3"]["busy_s"], w["w3"]["utilization"]) == (0, 0.0, 0.0)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # (worker, done, failed, busy seconds) per worker listed
        ("?range=24h&kind=command", {"w1": (0, 0, 0), "w2": (0, 1, 300), "w3": (0, 0, 0)}),
        ("?range=24h&worker=w2", {"w2": (0, 1, 300)}),
        ("?range=24h&model=gpt-4.1", {"w1": (1, 0, 600), "w2": (0, 0, 0), "w3": (0, 0, 0)}),
        ("?range=24h&role=builder&tag=x", {"w1": (0, 0, 0), "w2": (0, 0, 0), "w3": (0, 0, 0)}),
        ("?range=24h&tag=x", {"w1": (1, 0, 600), "w2": (0, 0, 0), "w3": (0, 0, 0)}),
    ],
)
def test_fleet_filters(
    db: Database, fleet_data: dict[str, int], query: str, expected: dict[str, tuple[int, int, int]]
) -> None:
    with db.reading() as s:
        frame = agents.fleet(s, parse_scope(query, NOW), NOW)
    got = {r["id"]: (r["done"], r["failed"], round(r["busy_s"], 2)) for r in frame.to_dict("records")}
    assert got == expected


def test_roles(db: Database, fleet_data: dict[str, int]) -> None:
    with db.reading() as s:
        day = agents.roles(s, parse_scope("?range=24h", NOW))
        command = agents.roles(s, parse_scope("?range=24h&kind=command", NOW))
        w1 = agents.roles(s, parse_scope("?range=24h&worker=w1", NOW))
        week = agents.roles(s, parse_scope("?range=7d&role=tester&role=planner", NOW))
    assert list(day["role"]) == ["planner", "builder"]  # most expensive first
    planner, builder = day.to_dict("records")
    assert (planner["calls"], planner["finished"], planner["failed"]) == (3, 3, 1)
    assert planner["failure_rate"] == pytest.approx(1 / 3)
    assert planner["cost"] == pytest.approx(2.5) and (planner["input_tokens"], planner["output_tokens"]) == (
        300,
        30,
    )
    assert planner["avg_s"] == pytest.approx(20, abs=0.01) and planner["p95_s"] == pytest.approx(20, abs=0.01)
    assert (builder["calls"], builder["finished"], builder["failed"], builder["failure_rate"]) == (
        2,
        1,
        0,
        0.0,
    )
    assert builder["cost"] == pytest.approx(2.25) and builder["p95_s"] == pytest.approx(100, abs=0.01)
    assert list(command["role"]) == ["builder"] and list(w1["role"]) == ["planner"]
    assert dict(zip(week["role"], week["cost"], strict=True)) == {"tester": 9.0, "planner": 2.5}


def test_roles_p95_and_empty(db: Database) -> None:
    """Twenty calls of 1..20 s: nearest rank below 95 % is the 19th (offset int(0.95 × 19) = 18)."""
    task = make_task(db, created=NOW - timedelta(hours=3), status=TaskStatus.RUNNING)
    for n in range(20):
        at = NOW - timedelta(hours=2, seconds=-n * 30)
        add_call(db, task, f"c{n}", role="critic", at=at, seconds=float(20 - n), ok=n != 0)
    with db.reading() as s:
        frame = agents.roles(s, parse_scope("?range=24h", NOW))
        none = agents.roles(s, parse_scope("?range=24h&role=nobody", NOW))
        fleet = agents.fleet(s, parse_scope("?range=24h", NOW), NOW)
    [critic] = frame.to_dict("records")
    assert critic["p95_s"] == pytest.approx(19, abs=0.01) and critic["avg_s"] == pytest.approx(10.5, abs=0.01)
    assert critic["failure_rate"] == pytest.approx(0.05)
    assert none.empty and list(none.columns) == agents.ROLE_COLUMNS
    assert fleet.empty and agents.fleet_totals(fleet).utilization is None


def test_figures_are_pure_and_escape_names() -> None:
    frame = pd.DataFrame(
        [
            ["builder", 2, 1, 0, 0.0, 2.25, 200, 20, 0, 100.0, 100.0],
            ["<b>x</b>", 3, 3, 1, 1 / 3, 2.5, 300, 30, 0, 20.0, 20.0],
            ["", 1, 0, 0, None, 0.1, 0, 0, 0, None, None],
        ],
        columns=agents.ROLE_COLUMNS,
    )
    cost = figures_agents.role_cost_bars(frame, "dark")
    # The pipeline's roles first, then the others by name ("" before "<b>x</b>").
    assert list(cost.data[0].y) == ["builder", "(none)", "&lt;b&gt;x&lt;/b&gt;"]
    assert list(cost.data[0].x) == [2.25, 0.1, 2.5] and cost.layout.template.layout.paper_bgcolor
    quality = figures_agents.role_quality(frame)
    rate, avg, p95 = quality.data
    assert list(rate.x) == ["builder", "(none)", "&lt;b&gt;x&lt;/b&gt;"]
    assert list(rate.y)[::2] == [0.0, 33.33] and list(avg.y)[::2] == [100.0, 20.0] and p95.name == "p95"
    empty = pd.DataFrame(columns=agents.ROLE_COLUMNS)
    for fig in (figures_agents.role_cost_bars(empty), figures_agents.role_quality(empty)):
        assert is_empty(fig) and empty_text(fig).startswith("no calls in this range")


# The demo's roles listed by cost (as the roles query returns them), with a role from outside the pipeline.
BY_COST = pd.DataFrame(
    [
        ["planner", 4, 4, 1, 0.25, 9.0, 400, 40, 0, 4.0, 6.0],
        ["builder", 9, 8, 0, 0.0, 7.5, 900, 90, 0, 7.0, 9.0],
        ["critic", 2, 2, 0, 0.0, 3.0, 200, 20, 0, 2.0, 3.0],
        ["analyst", 3, 3, 0, 0.0, 2.0, 300, 30, 0, 3.0, 4.0],
        ["tester", 12, 12, 2, 1 / 6, 1.0, 1200, 120, 0, 1.0, 2.0],
    ],
    columns=agents.ROLE_COLUMNS,
)
PIPELINE = ["analyst", "planner", "builder", "tester", "critic"]


def test_the_role_charts_list_roles_in_one_order() -> None:
    """The cost chart listed roles by cost (planner, builder, critic …) and the quality chart beside it by calls
    (tester, builder, planner …): both list the pipeline's roles in its order (the demo agent's,
    worker/simulation.ROLES), then any other by name — the cost chart from the top down, the quality chart's
    two panels from the left."""
    from dashboard.figures import ROLE_HEX
    from worker.simulation import ROLES

    assert tuple(ROLE_HEX) == ROLES
    cost = figures_agents.role_cost_bars(BY_COST)
    quality = figures_agents.role_quality(BY_COST)
    assert list(cost.data[0].y) == PIPELINE and list(cost.layout.yaxis.categoryarray) == PIPELINE
    assert cost.layout.yaxis.categoryorder == "array" and cost.layout.yaxis.autorange == "reversed"
    for axis in (quality.layout.xaxis, quality.layout.xaxis2):
        assert axis.categoryorder == "array" and list(axis.categoryarray) == PIPELINE
    for trace in quality.data:
        assert list(trace.x) == PIPELINE
    # The same data in another order draws the same charts.
    shuffled = BY_COST.sample(frac=1, random_state=3)
    assert list(figures_agents.role_cost_bars(shuffled).data[0].y) == PIPELINE
    assert list(figures_agents.role_quality(shuffled).layout.xaxis.categoryarray) == PIPELINE
    # The Roles table under them too (it listed by cost).
    from dashboard.pages.agents import roles_table

    body = roles_table(shuffled).children[1]
    assert [row.children[0].children for row in body.children] == PIPELINE


def test_a_role_has_one_colour_and_other_series_none_of_a_role() -> None:
    """Blue and purple were the builder and the analyst in the cost chart and avg and p95 durations in the
    chart beside it: a role has its one colour on every chart (the task timeline's too), a role outside the
    pipeline one of its own, and the charts' other series take no role's colour."""
    from datetime import timedelta as td

    from dashboard import figures

    cost = figures_agents.role_cost_bars(BY_COST)
    colours = dict(zip(cost.data[0].y, cost.data[0].marker.color, strict=True))
    assert colours == {role: figures.role_hex(role) for role in PIPELINE}
    assert len(set(colours.values())) == len(colours)  # five roles, five colours
    calls = pd.DataFrame(
        {
            "role": PIPELINE,
            "model": "m",
            "status": "completed",
            "started_at": [NOW + td(seconds=10 * i) for i in range(5)],
            "completed_at": [NOW + td(seconds=10 * i + 8) for i in range(5)],
        }
    )
    moves = pd.DataFrame(columns=["at", "from_status", "to_status"])
    timeline = figures.task_timeline(calls, moves, NOW + td(minutes=1))
    assert {t.name: t.marker.color for t in timeline.data} == colours
    role_colours = set(figures.ROLE_HEX.values()) | set(figures.OTHER_ROLE_HEX)
    series = {t.marker.color for t in figures_agents.role_quality(BY_COST).data}
    assert len(series) == 3 and not series & role_colours
    assert figures.role_hex("critic") == figures.role_hex("critic") in figures.OTHER_ROLE_HEX


def test_agents_page_refresh(db: Database, svc: Services) -> None:
    from dashboard.pages import agents as page
    from db.core.timeutil import utcnow
    from db.write.workers import WorkerIdentity
    from tests.test_components import texts

    svc.recorder.register_worker(WorkerIdentity("w-<script>", "<b>bold</b>", "host<1>", 42, 2))
    now = utcnow()
    make_task(db, created=now - timedelta(hours=2), worker="w-<script>", calls=(("<i>role</i>", "m", 1.5),))
    running = make_task(
        db,
        created=now - timedelta(minutes=5),
        status=TaskStatus.RUNNING,
        worker="w-<script>",
        title="<em>t</em>",
    )
    svc.recorder.heartbeat("w-<script>", [running])

    cards, fleet, cost, quality, roles = page.refresh(svc, "?range=24h", "dark")
    card_text = texts(cards)
    assert "Busy" in card_text and "1 failed" not in card_text and "100.0%" in card_text
    fleet_text = texts(fleet)
    assert {"<b>bold</b>", "w-<script>", "host<1>", "busy", f"#{running}", "<em>t</em>", "1 / 0"} <= set(
        fleet_text
    )
    assert " ago" in fleet_text  # after a duration that keeps counting in the browser
    hrefs = [href for c in _walk(fleet) if (href := getattr(c, "href", None))]
    # The worker's page (its id escaped into the path) and its current task.
    assert hrefs == ["/workers/w-%3Cscript%3E", f"/tasks/{running}"]
    assert list(cost.data[0].y) == ["&lt;i&gt;role&lt;/i&gt;"] and list(cost.data[0].x) == [1.5]
    assert len(quality.data) == 3
    assert "<i>role</i>" in texts(roles) and "$1.50" in texts(roles)


def _walk(node: object) -> list[object]:
    found: list[object] = []
    if isinstance(node, list | tuple):
        for item in node:
            found += _walk(item)
    elif hasattr(node, "to_plotly_json"):
        found.append(node)
        found += _walk(getattr(node, "children", None))
    return found


def test_layout_has_scope_and_ids() -> None:
    from dashboard import ids
    from dashboard.pages import agents as page
    from tests.test_components import types

    tree = page.layout(range="30d", model="m")
    assert page.PATH == "/agents" and page.TITLE == "Agents"
    serialized = str(tree.to_plotly_json())
    for ident in (ids.PAGE_SCOPE, page.KPIS, page.FLEET, page.ROLE_COST, page.ROLE_QUALITY, page.ROLES):
        assert ident in serialized
    assert "?range=30d&model=m" in serialized and "Graph" in types(tree)
