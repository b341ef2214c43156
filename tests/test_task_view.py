"""Tests (SQLite and PostgreSQL): the declared view of tasks (db/read/task_view.py) is the one list of task
fields — the grid's columns, the API's models, sorts and cursors, the CSV download and the report's tasks.csv
all follow it — and a field added to the view alone (a fresh interpreter extends it before anything reads it,
as an edit of db/read/task_view.py would) appears in the grid, the API's JSON and OpenAPI document, the CSV
download, the report export, the task page's panels and the board's cards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dashboard.api.schemas import InvocationDetail, Model, SortName, Task, TaskDetail, UtcDateTime
from dashboard.api.view_models import view_model
from dashboard.pages import tasks
from db.read import csv_rows as exports
from db.read.call_view import CALLS
from db.read.task_view import TASKS, T
from db.read.tasks import board, listing
from db.read.views import Field, Grid, Panel, View
from db.reporting import queries as report_queries
from reports.exports import EXPORTS
from tests.conftest import pg_database, sqlite_database

ROOT = Path(__file__).resolve().parent.parent


def test_every_surface_lists_the_views_fields() -> None:
    assert [c["field"] for c in tasks.COLUMNS] == [f.name for f in TASKS.grid_fields]
    assert tuple(Task.model_fields) == TASKS.api_names()
    assert tuple(TaskDetail.model_fields) == (
        *TASKS.api_names(detail=True),
        "event_count",
        "updates_per_minute",
    )
    assert TASKS.api_names() == listing.LIST_COLUMNS
    assert exports.TASK_COLUMNS == report_queries.TASK_EXPORT_COLUMNS == TASKS.csv_names
    assert EXPORTS["tasks"][0] == TASKS.csv_names
    assert set(typing.get_args(SortName)) == {f"{s}{n}" for n in TASKS.cursors for s in ("", "-")}
    assert TASKS.sortable == listing.SORTABLE and set(listing.TABLE_NAMES) >= TASKS.sortable
    assert [f.name for f in TASKS.card_fields] == board.CARD_NAMES


def test_the_layouts_people_rely_on_are_kept() -> None:
    """The CSV's column order (files and spreadsheet formulas hold on to positions) and the grid's, as before
    the view existed: a field added later goes after them (the view's end, the grid's right end, its panel's
    end), so these stay where they are."""
    assert TASKS.csv_names[:21] == (
        "id", "title", "kind", "status", "priority", "tags", "created_by", "attempt", "max_attempts",
        "worker_id", "created_at", "started_at", "completed_at", "processing_s", "failure_reason",
        "error_message", "invocation_count", "input_tokens", "output_tokens", "cache_read_tokens", "cost_usd",
    )  # fmt: skip
    assert [c["field"] for c in tasks.COLUMNS][:13] == [
        "id", "title", "status", "kind", "priority", "tags", "progress", "attempt", "worker_id", "created_at",
        "completed_at", "cost_usd", "error_message",
    ]  # fmt: skip
    sortable = {
        "id", "title", "kind", "status", "priority", "created_by", "attempt", "progress", "current_iteration",
        "max_iterations", "worker_id", "created_at", "started_at", "completed_at", "last_activity_at",
        "input_tokens", "output_tokens", "cost_usd",
    }  # fmt: skip
    assert sortable <= listing.SORTABLE
    assert set(listing.SORTS) >= {"id", "created_at", "last_updated_at", "priority", "cost_usd"}
    # The task page's panels, top to bottom, as before the view declared them.
    panels = [
        ["title", "status", "progress", "progress_message", "error_message", "result"],
        ["created_at", "started_at", "completed_at", "attempt", "worker_id", "input_tokens", "cost_usd",
         "invocation_count"],
        ["update_count", "last_updated_at", "last_activity_at", "activity_count"],
    ]  # fmt: skip
    assert [
        [f.name for f in TASKS.detail_fields(p)][: len(kept)] for p, kept in zip(Panel, panels, strict=True)
    ] == panels


def test_calls_follow_their_view_too() -> None:
    assert tuple(InvocationDetail.model_fields) == (
        *CALLS.api_names(detail=True),
        "activity",
        "activity_truncated",
    )
    assert exports.INVOCATION_COLUMNS == report_queries.INVOCATION_EXPORT_COLUMNS == CALLS.csv_names
    assert EXPORTS["invocations"][0] == CALLS.csv_names == (
        "id", "task_id", "iteration", "role", "provider", "model", "status", "started_at", "completed_at",
        "duration_s", "input_tokens", "output_tokens", "cache_read_tokens", "cost_usd", "error",
    )  # fmt: skip


def test_a_view_refuses_a_field_declared_twice_or_a_grid_order_without_its_column() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        TASKS.extended(Field("title", T.c.title, str))
    with pytest.raises(ValueError, match="no grid column"):
        View("tasks", (Field("id", T.c.id, int),), grid_order=("id",))
    with pytest.raises(ValueError, match="in no panel"):
        View("tasks", (Field("id", T.c.id, int),), detail_order=("id",))


def test_what_a_card_draws_in_its_own_words_is_a_flag_of_the_field() -> None:
    """The board card's own drawing covers the `drawn` card fields; any other card field is a line of its own
    (db/read/views.View.card_lines), and `drawn` without `card` (drawn but never read) is refused."""
    assert TASKS.card_lines == ()  # the card draws every card field of the view as it stands
    view = TASKS.extended(Field("run_host", T.c.run_host, str | None, "host", card=True))
    assert [f.name for f in view.card_lines] == ["run_host"]
    assert "run_host" in [f.name for f in view.card_fields]
    with pytest.raises(ValueError, match="run_host"):
        TASKS.extended(Field("run_host", T.c.run_host, str | None, drawn=True))


def test_a_grid_field_the_grid_order_does_not_name_goes_at_the_right_end() -> None:
    view = TASKS.extended(Field("run_host", T.c.run_host, str | None, grid=Grid(width=150)))
    assert [f.name for f in view.grid_fields] == [*(f.name for f in TASKS.grid_fields), "run_host"]


def test_a_listing_field_declared_after_the_detail_only_ones_keeps_both_answers_in_order() -> None:
    # Appended to the view (where a new column goes, after the one-task-only payload and result): the one-task
    # answer's model inherits the listing's, so the listing's fields come first there too.
    view = TASKS.extended(Field("run_host", T.c.run_host, str | None))
    listed = view_model(view, "Listed", base=Model, utc=UtcDateTime)
    one = view_model(view, "One", base=listed, utc=UtcDateTime, detail=True)
    assert tuple(listed.model_fields) == view.api_names() and view.api_names()[-1] == "run_host"
    assert tuple(one.model_fields) == view.api_names(detail=True)


# A fresh interpreter: the view gains two fields before any module derives from it, exactly as if they had
# been written into db/read/task_view.py; nothing else is changed. Then the real app answers.
CHILD = """
import json, sys
from datetime import datetime
from pathlib import Path

from db.read import task_view
from db.read.views import Field, Fmt, Grid, Panel

T = task_view.T
task_view.TASKS = task_view.TASKS.extended(
    Field("run_host", T.c.run_host, str | None, "host", csv=True, grid=Grid(width=150), sortable=True,
          card=True, detail=Panel.SYSTEM),
    Field("scheduled_for", T.c.scheduled_for, datetime | None, "scheduled", Fmt.TIMESTAMP, csv=True,
          grid=Grid(width=190), detail=Panel.SYSTEM),
)

from sqlalchemy import update

from config import Settings
from dashboard.bridge import ChangeFeed
from dashboard.pages import tasks as page
from dashboard.server import create_app
from dashboard.services import Services
from db.live.changefeed import Hub
from db.core.engine import open_database
from db.core.models import Task
from db.write.recorder import Recorder
from db.read.scope import parse_scope
from db.core.timeutil import utcnow
from reports.exports import write_csv
from plotly.utils import PlotlyJSONEncoder
from dashboard.components import board, detail
from db.read.tasks.detail import task_record
from db.read.tasks.board import lane_cards

url, out = sys.argv[1], Path(sys.argv[2])
db = open_database(url)
hub = Hub()
svc = Services(Settings(database_url=url, rate_limit="off"), db, Recorder(db, hub), ChangeFeed(db, hub))
client = create_app(svc).server.test_client()
created = client.post("/api/v1/tasks", json={"title": "with a host", "kind": "demo"})
task_id = created.get_json()["id"]
with db.writing() as session:  # what the worker's claim writes on a command task's host
    session.execute(
        update(Task).where(Task.id == task_id).values(run_host="box-7", scheduled_for=datetime(2026, 5, 1, 12))
    )
listed = client.get("/api/v1/tasks").get_json()
one = client.get(f"/api/v1/tasks/{task_id}").get_json()
csv_text = client.get("/export/tasks.csv?sort=run_host:desc").get_data(as_text=True).lstrip("\\ufeff")
grid_rows = page.rows(svc, {"startRow": 0, "endRow": 100, "sortModel": [{"colId": "run_host", "sort": "asc"}]},
                      None, None, None, None, None, None, None)
with db.reading() as session:  # the task's page and its card on the board, as their callbacks draw them
    stored = task_record(session, task_id)
    system = detail.system_view(stored)
    card = board.task_card(lane_cards(session)["queued"].iloc[0], utcnow(), 60.0)
report = out.with_name("report-tasks.csv")
write_csv(db, parse_scope("range=24h", utcnow()), "tasks", report)
out.write_text(json.dumps({
    "columns": page.View.from_query({"sort": "run_host:desc"}).columns(),
    "grid_row": grid_rows["rowData"][0],
    "listed": listed["items"][0],
    "one": one,
    "openapi": client.get("/api/v1/openapi.json").get_json()["components"]["schemas"],
    "csv": csv_text.splitlines(),
    "report": report.read_text().splitlines(),
    "system": json.loads(json.dumps(system, cls=PlotlyJSONEncoder)),
    "card": json.loads(json.dumps(card, cls=PlotlyJSONEncoder)),
}))
db.dispose()
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database of the test's own (the child process writes to it)."""
    if request.param == "sqlite":
        yield sqlite_database(tmp_path)
    else:
        with pg_database() as url:
            yield url


def test_a_field_added_to_the_view_alone_reaches_every_surface(tmp_path: Path, fresh_url: str) -> None:
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(CHILD))
    out = tmp_path / "out.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(script), fresh_url, str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(out.read_text())

    host = next(c for c in seen["columns"] if c["field"] == "run_host")
    assert host == {"field": "run_host", "headerName": "Host", "width": 150, "sort": "desc", "sortIndex": 0}
    when = next(c for c in seen["columns"] if c["field"] == "scheduled_for")
    assert when["headerName"] == "Scheduled (UTC)"
    assert when["valueFormatter"] == {"function": "tasklensTime(params.value)"} and when["sortable"] is False
    assert [c["field"] for c in seen["columns"]][-2:] == ["run_host", "scheduled_for"]
    assert seen["grid_row"]["run_host"] == "box-7"
    assert seen["grid_row"]["scheduled_for"] == "2026-05-01 12:00:00"

    for answer in (seen["listed"], seen["one"]):
        assert answer["run_host"] == "box-7" and answer["scheduled_for"] == "2026-05-01T12:00:00.000Z"
    for model in ("Task", "TaskDetail"):
        props = seen["openapi"][model]["properties"]
        assert props["run_host"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
        assert {"type": "string", "format": "date-time"} in props["scheduled_for"]["anyOf"]
        assert {"run_host", "scheduled_for"} <= set(seen["openapi"][model]["required"])

    for lines in (seen["csv"], seen["report"]):
        header, row = lines[0].split(","), lines[1].split(",")
        assert header[-2:] == ["run_host", "scheduled_for"]
        assert row[-2:] == ["box-7", "2026-05-01T12:00:00.000Z"]

    # The task's page lists both at the end of their panel, each under its heading in its format's style; the
    # board's card shows the card field.
    facts = strings(seen["system"])
    assert facts[-4:] == ["Host", "box-7", "Scheduled", "2026-05-01 12:00:00 UTC"]
    assert "Host: " in strings(seen["card"]) and "box-7" in strings(seen["card"])


def strings(component: Any) -> list[str]:
    """Every text in a component tree (as JSON), in order."""
    if isinstance(component, str):
        return [component]
    if isinstance(component, list):
        return [s for c in component for s in strings(c)]
    if isinstance(component, dict):
        return strings(component.get("props", {}).get("children"))
    return []
