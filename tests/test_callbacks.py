"""Tests: the dashboard's callbacks called as plain functions with real services (SQLite and PostgreSQL)."""

from __future__ import annotations

import re
import threading
from datetime import timedelta
from typing import Any

import pytest
from dash.exceptions import PreventUpdate

from config import Settings
from dashboard import alertbell, ids
from dashboard.bridge import ChangeFeed
from dashboard.pages import overview, submit, task_detail, tasks
from dashboard.server import toasts
from dashboard.services import Services
from db.core.timeutil import utcnow
from db.domain.ops import ActivityLine, TaskSpec
from db.domain.states import TaskKind, TaskStatus
from db.live.feed import latest_seq
from db.read.tasks.detail import task_record
from db.write.writes import apply_ops
from tests.alert_support import reset_alerts
from tests.builders import make_task
from tests.test_components import texts
from worker.alerting import Evaluator


def test_overview_refresh(svc: Services) -> None:
    now = utcnow()
    make_task(svc.db, created=now - timedelta(minutes=30), ran_for=5, calls=(("planner", "m", 0.25),))
    make_task(svc.db, created=now - timedelta(minutes=1), status=TaskStatus.QUEUED)
    cards, workers = overview.refresh_cards(svc)
    chart = overview.refresh_chart(svc)
    strings = texts(cards)
    assert "Active" in strings and "1 queued · 0 running" in strings
    # One ended, in each of the chart's two drawings (a phone's and a desktop's).
    # (If it ended in the hour still running, its hover text says the count is so far.)
    assert chart.count('class="tl-bar tl-completed"') == 2
    assert re.search(r"completed: 1(?: so far \(hour in progress\))?<", chart)
    assert "No worker has registered yet" in " ".join(texts(workers))


def test_board_and_grid_rows(svc: Services) -> None:
    now = utcnow()
    done = make_task(svc.db, created=now - timedelta(minutes=3), title="done <b>")
    queued = make_task(svc.db, created=now, status=TaskStatus.QUEUED)
    strings = texts(tasks.board_view(svc))
    assert "done <b>" in strings and f"#{queued}" in strings
    request = {"startRow": 0, "endRow": 100, "sortModel": [{"colId": "id", "sort": "asc"}]}
    out = tasks.rows(svc, request, None, None, None, None, None, None)
    assert [r["id"] for r in out["rowData"]] == [done, queued] and out["rowCount"] == 2
    only = tasks.rows(svc, request, ["queued"], None, None, None, None, None)
    assert [r["id"] for r in only["rowData"]] == [queued]
    bad = tasks.rows(
        svc,
        {"startRow": 0, "endRow": 10, "sortModel": [{"colId": "nope", "sort": "asc"}]},
        None,
        None,
        None,
        None,
        None,
        None,
    )
    assert bad == {"rowData": [], "rowCount": 1}  # infinitegrid.EMPTY_COUNT
    with pytest.raises(PreventUpdate):
        tasks.rows(svc, None)


def test_detail_refresh(svc: Services) -> None:
    task_id = make_task(svc.db, created=utcnow() - timedelta(minutes=1), title="<i>goal</i>")
    header, _user, _system, _database, fig, _inv, panels = task_detail.refresh(
        svc, None, task_id, "light", None, None
    )
    assert panels == {}  # shown
    assert "<i>goal</i>" in texts(header)
    assert fig.data  # the transitions are drawn
    other = {"reason": "events", "tasks": [task_id + 1]}
    with pytest.raises(PreventUpdate):  # a push about another task leaves the page alone
        task_detail.refresh(svc, other, task_id, "light", header, ids.SIGNAL)
    # ...but the first render happens whatever the signal says
    assert task_detail.refresh(svc, other, task_id, "light", None, ids.SIGNAL)[0] is not None
    missing = task_detail.refresh(svc, None, 999_999, "light", None, None)
    assert "Task not found" in texts(missing[0])


def _push(seq: int, *activity: tuple[int, int, str]) -> dict[str, Any]:
    """A push as assets/live.js flushes it: the client's seq, and the activity lines (seq, task, message)."""
    lines = [{"seq": s, "task_id": t, "type": "output", "message": m, "at": "x"} for s, t, m in activity]
    return {"reason": "events", "seq": seq, "tasks": sorted({t for _, t, _ in activity}), "activity": lines}


def _appended(patch: Any) -> list[str]:
    ops = patch.to_plotly_json()["operations"]
    assert len(ops) == 1 and ops[0]["operation"] == "Extend"
    return [texts(line)[-1] for line in ops[0]["params"]["value"]]


def test_activity_stream_loads_then_appends_once(svc: Services) -> None:
    task_id = make_task(svc.db, created=utcnow(), status=TaskStatus.RUNNING)
    other = make_task(svc.db, created=utcnow(), status=TaskStatus.RUNNING)
    svc.recorder.record(task_id, ActivityLine("first"))
    lines, cursor = task_detail.stream(svc, None, task_id, False, None, None)
    assert [texts(line)[-1] for line in lines] == ["first"]
    with svc.db.reading() as s:
        seq = latest_seq(s)
    assert cursor == {"seq": seq, "count": 1, "seen": []}
    svc.recorder.record(task_id, ActivityLine("second"))
    svc.recorder.record(other, ActivityLine("other task"))
    pushed = _push(
        seq + 2, (seq, task_id, "first"), (seq + 1, task_id, "second"), (seq + 2, other, "other task")
    )
    patch, cursor2 = task_detail.stream(svc, pushed, task_id, False, cursor, ids.SIGNAL)
    assert _appended(patch) == ["second"]  # "first" is already shown
    assert cursor2 == {"seq": seq + 2, "count": 2, "seen": []}
    with pytest.raises(PreventUpdate):
        task_detail.stream(svc, pushed, task_id, True, cursor2, ids.SIGNAL)  # paused


def test_activity_stream_survives_a_dropped_callback(svc: Services) -> None:
    """Dash drops the result of a callback still running when a newer push fires it again (a loaded box: two
    flushes 250 ms apart, a callback slower than that). The newer push carries only its own lines; the page
    must still show the dropped push's lines (seen in the browser: "step 5 done" and "step 6 done" missing)."""
    task_id = make_task(svc.db, created=utcnow(), status=TaskStatus.RUNNING)
    svc.recorder.record(task_id, ActivityLine("step 1 done"))
    _lines, cursor = task_detail.stream(svc, None, task_id, False, None, None)
    svc.recorder.record(task_id, ActivityLine("step 2 done"))
    with svc.db.reading() as s:
        second = latest_seq(s)
    task_detail.stream(
        svc, _push(second, (second, task_id, "step 2 done")), task_id, False, cursor, ids.SIGNAL
    )
    # ... that result dropped: the cursor state is still the first load's.
    svc.recorder.record(task_id, ActivityLine("step 3 done"))
    with svc.db.reading() as s:
        third = latest_seq(s)
    pushed = _push(third, (third, task_id, "step 3 done"))
    patch, moved = task_detail.stream(svc, pushed, task_id, False, cursor, ids.SIGNAL)
    assert _appended(patch) == ["step 2 done", "step 3 done"]
    assert moved["seq"] == third and moved["count"] == 3
    # A push with no line of this task (its completion) still brings lines a dropped push carried.
    svc.recorder.record(task_id, ActivityLine("step 4 done"))
    with svc.db.reading() as s:
        fourth = latest_seq(s)
    finished = {"reason": "events", "seq": fourth, "tasks": [task_id], "activity": []}
    patch, moved = task_detail.stream(svc, finished, task_id, False, moved, ids.SIGNAL)
    assert _appended(patch) == ["step 4 done"]


def _stuck_tasks(svc: Services, n: int) -> list[int]:
    """n running tasks, silent for the stuck-task rule once the evaluator looks a few seconds ahead."""
    out = []
    for i in range(n):
        task_id = svc.recorder.submit(
            TaskSpec(title=f"sleeps {i}", kind=TaskKind.COMMAND, payload={"command": "sleep 60"})
        )
        claimed = svc.recorder.claim("w-test", [TaskKind.COMMAND], 30.0)
        assert claimed is not None and claimed.id == task_id
        out.append(task_id)
    return out


def _fire(svc: Services, evaluator: Evaluator, ahead_s: float) -> int:
    """One evaluation `ahead_s` from now; the seq of the newest event after it."""
    evaluator.cycle(utcnow() + timedelta(seconds=ahead_s))
    with svc.db.reading() as s:
        return latest_seq(s)


def test_alert_toasts_survive_a_dropped_callback(svc: Services) -> None:
    """The alert toasts, like the activity panel: a push whose callback Dash dropped (a newer push overtook
    it) must not lose its alerts, though the newer push carries none of them."""
    reset_alerts(svc.db)
    evaluator = Evaluator(Settings(database_url="sqlite://", stuck_after_seconds=3), svc.recorder, actor="t")
    _bell, _toasts, cursor = alertbell.bell_and_toasts(svc, None, None, None, 0)  # the page's first draw
    (first,) = _stuck_tasks(svc, 1)
    fired_at = _fire(svc, evaluator, 5)
    pushed = {"reason": "events", "seq": fired_at, "alerts": [{"change": "firing"}], "alert_seq": fired_at}
    alertbell.bell_and_toasts(svc, pushed, cursor, None, 0)
    # ... that result dropped: the cursor is still the first draw's. A push of task events only comes next.
    (other,) = _stuck_tasks(svc, 1)
    svc.recorder.record(other, ActivityLine("busy"), owner="w-test")
    with svc.db.reading() as s:
        later = latest_seq(s)
    quiet = {"reason": "events", "seq": later, "alerts": [], "alert_seq": fired_at}
    bell, toasts, moved = alertbell.bell_and_toasts(svc, quiet, cursor, None, 1000)
    assert [t.header for t in toasts] == ["Alert (high)"] and f"#{first}" in texts(toasts)[0]
    assert bell[1].children == "1" and moved["seq"] == later
    # Read once: later pushes of task events cost no query and redraw nothing.
    with pytest.raises(PreventUpdate):
        alertbell.bell_and_toasts(svc, {**quiet, "seq": later + 1}, moved, toasts, 2000)
    # A burst (four more stuck at once) is one summary, counting the one still up.
    _stuck_tasks(svc, 3)
    burst = _fire(svc, evaluator, 60)
    pushed = {"reason": "events", "seq": burst, "alerts": [{"change": "firing"}] * 4, "alert_seq": burst}
    _bell, toasts, moved = alertbell.bell_and_toasts(svc, pushed, moved, toasts, 3000)
    assert [t.header for t in toasts] == ["5 alerts fired"]


# PostgreSQL only: SQLite serialises writers, so a later seq never commits first there.
@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_activity_first_load_misses_no_line_still_in_flight(svc: Services) -> None:
    """PostgreSQL takes a seq at INSERT and shows it at COMMIT: a line whose transaction is still open while
    another task's later seq is committed must reach the page once it commits, though the page's first load
    already saw the higher seq."""
    # A feed that waits on a hole for the whole test, however loaded the machine.
    svc = Services(svc.settings, svc.db, svc.recorder, ChangeFeed(svc.db, svc.recorder.hub, gap_timeout=600))
    task_id = make_task(svc.db, created=utcnow(), status=TaskStatus.RUNNING)
    other = make_task(svc.db, created=utcnow(), status=TaskStatus.RUNNING)
    svc.recorder.record(task_id, ActivityLine("before"))
    stop = threading.Event()
    svc.feed.start(stop)
    try:
        with svc.recorder.transaction() as late:
            apply_ops(late, task_id, [ActivityLine("late")], actor="test")  # seq n, not committed yet
            svc.recorder.record(other, ActivityLine("other"))  # seq n + 1, committed
            with svc.db.reading() as s:
                highest = latest_seq(s)
            lines, cursor = task_detail.stream(svc, None, task_id, False, None, None)
            assert [texts(line)[-1] for line in lines] == ["before"]
        # Committed now: the client hears seq n (the feed waited on the hole) and pushes.
        pushed = _push(highest, (highest - 1, task_id, "late"), (highest, other, "other"))
        patch, moved = task_detail.stream(svc, pushed, task_id, False, cursor, ids.SIGNAL)
        assert _appended(patch) == ["late"]
        assert moved["count"] == 2
    finally:
        svc.feed.close()


def test_cancel_and_retry_buttons(svc: Services) -> None:
    queued = make_task(svc.db, created=utcnow(), status=TaskStatus.QUEUED)
    assert texts(task_detail.act(svc, ids.CANCEL, queued)) == ["Cancelled."]
    assert texts(task_detail.act(svc, ids.RETRY, queued)) == ["Sent back to the queue."]
    running = make_task(svc.db, created=utcnow(), status=TaskStatus.RUNNING)
    warning = task_detail.act(svc, ids.RETRY, running)
    assert "cannot go from running to queued" in texts(warning)[0]
    with svc.db.reading() as s:
        t = task_record(s, queued)
        assert t is not None and (t.status, t.attempt) == ("queued", 2)


def test_submit_form(svc: Services) -> None:
    bad = submit.submit(svc, "command", "", "echo", "", 0, "", "", 1, None)
    assert "title: must not be empty" in texts(bad[0])[0]
    assert dict(zip(submit.INPUTS, bad[1:], strict=True))[ids.S_TITLE] is True
    ok = submit.submit(svc, "command", "from the form", "echo hi", "", 2, "x", "", 1, 10)
    assert not any(ok[1:])
    with svc.db.reading() as s:
        t = task_record(s, 1)
        assert t is not None and (t.title, t.payload, t.priority, t.created_by) == (
            "from the form",
            {"command": "echo hi"},
            2,
            "dashboard",
        )


def test_toasts(svc: Services) -> None:
    task_id = make_task(svc.db, created=utcnow(), title="shipped <it>")
    out = toasts(
        svc, {"finished": [{"task_id": task_id, "to": "completed"}, {"task_id": "x", "to": "failed"}]}
    )
    assert len(out) == 1 and "shipped <it>" in texts(out)
    assert out[0].header == f"Task #{task_id} completed"
    with pytest.raises(PreventUpdate):
        toasts(svc, {"finished": []})
