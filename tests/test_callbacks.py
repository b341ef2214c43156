"""Tests: the dashboard's callbacks called as plain functions with real services (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from dash.exceptions import PreventUpdate

from dashboard import ids
from dashboard.pages import overview, submit, task_detail, tasks
from dashboard.server import toasts
from dashboard.services import Services
from db.ops import ActivityLine
from db.queries import get_task, latest_seq
from db.states import TaskStatus
from db.timeutil import utcnow
from tests.builders import make_task
from tests.test_components import texts


def test_overview_refresh(svc: Services) -> None:
    now = utcnow()
    make_task(svc.db, created=now - timedelta(minutes=30), ran_for=5, calls=(("planner", "m", 0.25),))
    make_task(svc.db, created=now - timedelta(minutes=1), status=TaskStatus.QUEUED)
    cards, workers = overview.refresh_cards(svc)
    fig = overview.refresh_chart(svc, "dark")
    strings = texts(cards)
    assert "Active" in strings and "1 queued · 0 running" in strings
    assert fig.layout.template.layout.paper_bgcolor is not None
    assert sum(sum(t.y) for t in fig.data if t.type == "bar") == 1  # one task ended in the window
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
    assert bad == {"rowData": [], "rowCount": 0}
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


def test_activity_stream_loads_then_appends_once(svc: Services) -> None:
    task_id = make_task(svc.db, created=utcnow(), status=TaskStatus.RUNNING)
    svc.recorder.record(task_id, ActivityLine("first"))
    lines, cursor = task_detail.stream(svc, None, task_id, False, None, None)
    assert [texts(line)[-1] for line in lines] == ["first"]
    with svc.db.reading() as s:
        seq = latest_seq(s)
    assert cursor == {"seq": seq, "count": 1}
    pushed = {
        "reason": "events",
        "tasks": [task_id],
        "activity": [
            {
                "seq": seq,
                "task_id": task_id,
                "type": "output",
                "message": "first",
                "at": "x",
            },  # already shown
            {"seq": seq + 1, "task_id": task_id, "type": "output", "message": "second", "at": "x"},
            {"seq": seq + 2, "task_id": task_id + 1, "type": "output", "message": "other task", "at": "x"},
        ],
    }
    patch, cursor2 = task_detail.stream(svc, pushed, task_id, False, cursor, ids.SIGNAL)
    ops = patch.to_plotly_json()["operations"]
    assert len(ops) == 1 and ops[0]["operation"] == "Extend"
    assert [texts(line)[-1] for line in ops[0]["params"]["value"]] == ["second"]
    assert cursor2 == {"seq": seq + 1, "count": 2}
    with pytest.raises(PreventUpdate):
        task_detail.stream(svc, pushed, task_id, True, cursor2, ids.SIGNAL)  # paused


def test_cancel_and_retry_buttons(svc: Services) -> None:
    queued = make_task(svc.db, created=utcnow(), status=TaskStatus.QUEUED)
    assert texts(task_detail.act(svc, ids.CANCEL, queued)) == ["Cancelled."]
    assert texts(task_detail.act(svc, ids.RETRY, queued)) == ["Sent back to the queue."]
    running = make_task(svc.db, created=utcnow(), status=TaskStatus.RUNNING)
    warning = task_detail.act(svc, ids.RETRY, running)
    assert "cannot go from running to queued" in texts(warning)[0]
    with svc.db.reading() as s:
        t = get_task(s, queued)
        assert t is not None and (t.status, t.attempt) == ("queued", 2)


def test_submit_form(svc: Services) -> None:
    bad = submit.submit(svc, "command", "", "echo", "", 0, "", "", 1, None)
    assert "title: must not be empty" in texts(bad[0])[0]
    assert dict(zip(submit.INPUTS, bad[1:], strict=True))[ids.S_TITLE] is True
    ok = submit.submit(svc, "command", "from the form", "echo hi", "", 2, "x", "", 1, 10)
    assert not any(ok[1:])
    with svc.db.reading() as s:
        t = get_task(s, 1)
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
