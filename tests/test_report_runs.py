"""Tests: report runs end to end on SQLite and PostgreSQL — a real worker builds a queued run into files
(PDF read back with poppler) with progress up to 1.0; a failing run records its error; runs of lost workers
are re-queued once then failed; a stopping worker hands its run back; delivery by e-mail to a local SMTP
server (aiosmtpd) and to a local webhook (http.server), failures recorded per channel without failing the
run; the download route serves only the files a run recorded."""

from __future__ import annotations

import email
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from config import Settings
from dashboard.bridge import ChangeFeed
from dashboard.server import create_app
from dashboard.services import Services
from db.core.engine import Database
from db.core.models import TaskEvent
from db.core.timeutil import day_start, utcnow
from db.domain.states import EventType
from db.live.changefeed import Hub
from db.reporting import schedules as report_schedules
from db.reporting import store
from db.reporting.store import Run, RunRequest, RunTrigger
from db.write.recorder import Recorder
from db.write.workers import WorkerIdentity
from reports.deliver import SmtpConfig
from reports.runner import RunnerConfig, deliver, execute
from reports.schedule import enqueue_due
from tests.builders import make_task
from tests.helpers import free_port
from tests.liveserver import serve
from tests.test_report_render import pdf_pages, pdf_text
from tests.test_report_schedule import reset_schedules
from worker.worker import Worker

DEADLINE = 30.0


@pytest.fixture
def clean(db: Database) -> Iterator[None]:
    reset_schedules(db, utcnow())
    yield
    reset_schedules(db, utcnow())  # nothing queued, nothing due for the next test on this database


def config(
    reports_dir: Path, *, smtp: SmtpConfig | None = None, attach_max_bytes: int = 10_000_000
) -> RunnerConfig:
    return RunnerConfig(
        reports_dir=reports_dir,
        stuck_after=timedelta(seconds=60),
        base_url="http://reports.example.test",
        smtp=smtp,
        attach_max_bytes=attach_max_bytes,
    )


def yesterday_request(formats: tuple[str, ...]) -> RunRequest:
    start = day_start(utcnow()) - timedelta(days=1)
    return RunRequest(
        RunTrigger.MANUAL, "daily", start, start + timedelta(days=1), formats, requested_by="test"
    )


def enqueue(recorder: Recorder, request: RunRequest) -> int:
    with recorder.transaction() as session:
        run_id = store.enqueue_run(session, request, utcnow())
    assert run_id is not None
    return run_id


def get(db: Database, run_id: int) -> Run:
    with db.reading() as session:
        run = store.get_run(session, run_id)
    assert run is not None
    return run


def claim(recorder: Recorder, worker_id: str) -> Run:
    with recorder.transaction() as session:
        run = store.claim_run(session, worker_id, utcnow())
    assert run is not None
    return run


def run_events(db: Database, run_id: int) -> list[dict[str, Any]]:
    with db.reading() as session:
        rows = session.execute(
            select(TaskEvent.payload)
            .where(TaskEvent.type == EventType.REPORT_RUN.value)
            .order_by(TaskEvent.seq)
        ).scalars()
        return [p for p in rows if p.get("run_id") == run_id]


def wait_done(db: Database, run_id: int) -> Run:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        run = get(db, run_id)
        if not run.active:
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} still {get(db, run_id).status} after {DEADLINE}s")


# ---- building --------------------------------------------------------------------------------------------
def test_worker_builds_a_queued_run(db: Database, db_url: str, tmp_path: Path, clean: None) -> None:
    yesterday = day_start(utcnow()) - timedelta(days=1)
    make_task(db, created=yesterday + timedelta(hours=3), calls=(("planner", "gpt-4.1", 1.5),))
    settings = Settings(database_url=db_url, reports_dir=str(tmp_path / "reports"), heartbeat_seconds=0.5)
    hub = Hub()
    recorder = Recorder(db, hub)
    worker = Worker(settings, db, recorder, hub)
    worker.start()
    try:
        run_id = enqueue(recorder, yesterday_request(("html", "pdf", "csv", "json")))
        run = wait_done(db, run_id)
    finally:
        worker.stop(timeout=5)
    assert run.status == "completed", run.error
    assert (run.progress, run.stage, run.worker_id) == (1.0, "done", worker.identity.id)
    assert run.started_at is not None and run.completed_at is not None
    folder = tmp_path / "reports" / str(run_id)
    slug = f"tasklens-daily-{yesterday:%Y-%m-%d}"
    assert [f["name"] for f in run.files] == [
        f"{slug}.html",
        f"{slug}.pdf",
        f"{slug}-tasks.csv",
        f"{slug}-invocations.csv",
        f"{slug}-costs.csv",
        f"{slug}.json",
    ]
    for f in run.files:
        assert f["size"] == (folder / f["name"]).stat().st_size > 0
    assert run.size == sum(f["size"] for f in run.files)
    pdf = folder / f"{slug}.pdf"
    assert pdf_pages(pdf) >= 2
    text = pdf_text(pdf)
    assert "TaskLens" in text and yesterday.strftime("%d %B %Y") in text and "$1.50" in text
    assert json.loads((folder / f"{slug}.json").read_text())["period"]["kind"] == "daily"
    # Every step was announced in the event log (what the Reports page hears), progress only ever growing.
    events = run_events(db, run_id)
    assert [e["status"] for e in events][:2] == ["queued", "running"] and events[-1]["status"] == "completed"
    stages = [e["stage"] for e in events if e.get("stage")]
    assert stages[0] == "starting" and any(s.startswith("building the report") for s in stages)
    assert {"writing HTML", "writing PDF", "writing CSV", "writing JSON"} <= set(stages)
    progress = [e["progress"] for e in events if "progress" in e]
    assert progress == sorted(progress) and progress[-1] == 1.0


def test_a_failing_run_records_its_error(db: Database, tmp_path: Path, clean: None) -> None:
    recorder = Recorder(db, Hub())
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the reports folder should be")
    run_id = enqueue(recorder, yesterday_request(("pdf",)))
    run = claim(recorder, "w-test")
    assert execute(recorder, run, "w-test", config(blocker)) == "failed"
    failed = get(db, run_id)
    assert failed.status == "failed" and failed.completed_at is not None
    assert failed.error is not None and (
        "FileExistsError" in failed.error or "NotADirectoryError" in failed.error
    )
    assert failed.files == () and failed.progress < 1.0
    assert run_events(db, run_id)[-1]["status"] == "failed"
    # A run that is no longer this worker's is neither completed nor failed by it.
    other = enqueue(recorder, yesterday_request(("json",)))
    taken = claim(recorder, "w-old")
    with recorder.transaction() as session:
        store.release_runs(session, "w-old", utcnow())
    assert execute(recorder, taken, "w-old", config(tmp_path / "r")) is None
    assert get(db, other).status == "queued"


# ---- lost and stopping workers ---------------------------------------------------------------------------
def test_runs_of_lost_workers_are_requeued_once_then_failed(db: Database, clean: None) -> None:
    recorder = Recorder(db, Hub())
    for wid in ("w-1", "w-2"):
        recorder.register_worker(WorkerIdentity(wid, wid, "host", 1, 1))
    run_id = enqueue(recorder, yesterday_request(("pdf",)))
    claim(recorder, "w-1")
    with recorder.transaction() as session:
        assert store.sweep_orphaned_runs(session, utcnow()) == {}  # its worker is alive
    recorder.worker_stopped("w-1")  # as mark_silent_workers does for a killed one
    with recorder.transaction() as session:
        assert store.sweep_orphaned_runs(session, utcnow()) == {run_id: "queued"}
    again = get(db, run_id)
    assert (again.status, again.attempt, again.worker_id) == ("queued", 2, None)
    assert again.stage is not None and "w-1 went offline" in again.stage
    claim(recorder, "w-2")
    recorder.worker_stopped("w-2")
    with recorder.transaction() as session:
        assert store.sweep_orphaned_runs(session, utcnow()) == {run_id: "failed"}
        assert store.sweep_orphaned_runs(session, utcnow()) == {}
    failed = get(db, run_id)
    assert failed.status == "failed" and failed.error is not None
    assert "worker w-2 went offline while building this report" in failed.error


def test_a_stopping_worker_hands_its_run_back(db: Database, db_url: str, tmp_path: Path, clean: None) -> None:
    hub = Hub()
    recorder = Recorder(db, hub)
    worker = Worker(Settings(database_url=db_url, reports_dir=str(tmp_path)), db, recorder, hub)
    run_id = enqueue(recorder, yesterday_request(("pdf",)))
    claim(recorder, worker.identity.id)  # as its runner thread would, mid-build
    assert worker.reports.stop() == [run_id]
    back = get(db, run_id)
    assert (back.status, back.worker_id, back.attempt) == ("queued", None, 1)


# ---- delivery --------------------------------------------------------------------------------------------
class Inbox:
    """An aiosmtpd handler that keeps what it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=default_policy)
        assert isinstance(message, EmailMessage)
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 OK"


@pytest.fixture
def smtp_server() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


class Hook:
    def __init__(self) -> None:
        self.posts: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.answer = 204


@pytest.fixture
def webhook() -> Iterator[tuple[Hook, str]]:
    hook = Hook()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            hook.posts.append((dict(self.headers), json.loads(body)))
            self.send_response(hook.answer)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    serve(server, "report-hook")
    yield hook, f"http://127.0.0.1:{server.server_port}/hooks/reports"
    server.shutdown()
    server.server_close()


def scheduled_run(db: Database, recorder: Recorder, **edit: Any) -> Run:
    """The weekly schedule, edited, enabled eight days ago: its Monday fire time is owed now. Claimed."""
    now = utcnow()
    schedules = reset_schedules(db, now - timedelta(days=8))
    weekly = schedules["weekly"]
    with recorder.transaction() as session:
        change = report_schedules.parse_schedule_edit(
            "weekly", enabled=True, time="08:00", weekday="0", **edit
        )
        report_schedules.update_schedule(session, weekly.id, change, now)
        enqueue_due(session, now)
    with recorder.transaction() as session:  # the daily one (and maybe the monthly) was owed too: drop them
        [mine] = [r for r in store.list_runs(session) if r.schedule_id == weekly.id]
        session.execute(store.RR.delete().where(store.RR.c.id != mine.id))
    return claim(recorder, "w-test")


def test_email_and_webhook_delivery(
    db: Database, tmp_path: Path, clean: None, smtp_server: tuple[Inbox, int], webhook: tuple[Hook, str]
) -> None:
    inbox, port = smtp_server
    hook, url = webhook
    recorder = Recorder(db, Hub())
    run = scheduled_run(
        db, recorder, formats=["pdf", "csv"], recipients="ops@example.com, lead@example.org", webhook_url=url
    )
    smtp = SmtpConfig("127.0.0.1", port, None, None, "tasklens@example.com", starttls=False)
    assert execute(recorder, run, "w-test", config(tmp_path, smtp=smtp)) == "completed"
    done = get(db, run.id)
    assert done.delivery["email"]["status"] == "sent" and done.delivery["email"]["attached"] == 4
    assert done.delivery["webhook"]["status"] == "sent" and done.delivery["webhook"]["http_status"] == 204

    [(to, message)] = inbox.received
    assert to == ["ops@example.com", "lead@example.org"]
    period_label = message["Subject"].split(": ", 1)[1]
    assert message["Subject"].startswith("Weekly report: week ") and period_label.endswith(")")
    attachments = {part.get_filename(): part for part in message.iter_attachments()}
    assert set(attachments) == {f["name"] for f in done.files}
    pdf = next(p for name, p in attachments.items() if name and name.endswith(".pdf"))
    assert pdf.get_content_type() == "application/pdf" and pdf.get_content().startswith(b"%PDF")
    assert "http://reports.example.test/reports" in message.get_body().get_content()  # type: ignore[union-attr]

    [(headers, payload)] = hook.posts
    assert headers["Content-Type"] == "application/json"
    assert payload["event"] == "report.completed" and payload["run_id"] == run.id
    assert payload["schedule"] == "Weekly report" and payload["period"]["kind"] == "weekly"
    assert payload["period"]["label"] == period_label
    assert [(f["name"], f["size"]) for f in payload["files"]] == [(f["name"], f["size"]) for f in done.files]
    assert payload["files"][0]["path"] == f"/reports/files/{run.id}/{done.files[0]['name']}"
    assert payload["files"][0]["url"] == "http://reports.example.test" + payload["files"][0]["path"]


def test_delivery_failures_are_recorded_and_big_files_linked(
    db: Database, tmp_path: Path, clean: None, smtp_server: tuple[Inbox, int], webhook: tuple[Hook, str]
) -> None:
    inbox, port = smtp_server
    hook, url = webhook
    hook.answer = 500
    recorder = Recorder(db, Hub())
    run = scheduled_run(db, recorder, formats=["pdf"], recipients="ops@example.com", webhook_url=url)
    smtp = SmtpConfig("127.0.0.1", port, None, None, "tasklens@example.com", starttls=False)
    # Attachments up to 1 KB: the PDF goes as a link.
    assert execute(recorder, run, "w-test", config(tmp_path, smtp=smtp, attach_max_bytes=1024)) == "completed"
    done = get(db, run.id)
    assert done.status == "completed"  # a delivery failure never fails the run
    assert done.delivery["webhook"] == {
        "status": "failed",
        "error": "the webhook answered HTTP 500 Internal Server Error",
        "at": done.delivery["webhook"]["at"],
    }
    [(_, message)] = inbox.received
    assert list(message.iter_attachments()) == []
    body = message.get_body().get_content()  # type: ignore[union-attr]
    name = done.files[0]["name"]
    assert f"http://reports.example.test/reports/files/{run.id}/{name}" in body

    # No SMTP server listening, and e-mail not configured at all: both recorded, the run stays completed.
    closed = SmtpConfig(
        "127.0.0.1", free_port(), None, None, "tasklens@example.com", starttls=False, timeout=5
    )
    deliver(recorder, run.id, config(tmp_path, smtp=closed))
    email_outcome = get(db, run.id).delivery["email"]
    assert email_outcome["status"] == "failed" and "SMTP 127.0.0.1" in email_outcome["error"]
    deliver(recorder, run.id, config(tmp_path, smtp=None))
    assert "TASKLENS_SMTP_HOST" in get(db, run.id).delivery["email"]["error"]
    assert get(db, run.id).status == "completed"


# ---- downloads -------------------------------------------------------------------------------------------
def test_download_route_serves_only_recorded_files(
    db: Database, db_url: str, tmp_path: Path, clean: None
) -> None:
    hub = Hub()
    recorder = Recorder(db, hub)
    reports_dir = tmp_path / "reports"
    run_id = enqueue(recorder, yesterday_request(("html", "pdf", "csv")))
    assert execute(recorder, claim(recorder, "w-test"), "w-test", config(reports_dir)) == "completed"
    run = get(db, run_id)
    (reports_dir / str(run_id) / "secret.txt").write_text("not a report file")
    svc = Services(
        Settings(database_url=db_url, reports_dir=str(reports_dir)), db, recorder, ChangeFeed(db, hub)
    )
    client = create_app(svc).server.test_client()
    names = {
        suffix: next(f["name"] for f in run.files if f["name"].endswith(suffix))
        for suffix in (".pdf", ".html")
    }
    names["csv"] = next(f["name"] for f in run.files if f["name"].endswith("-tasks.csv"))

    pdf = client.get(f"/reports/files/{run_id}/{names['.pdf']}")
    assert pdf.status_code == 200 and pdf.content_type == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert pdf.headers["Content-Disposition"].startswith("inline")
    assert pdf.headers["X-Content-Type-Options"] == "nosniff"
    html = client.get(f"/reports/files/{run_id}/{names['.html']}")
    assert html.status_code == 200 and html.content_type == "text/html; charset=utf-8"
    assert html.headers["Content-Security-Policy"].startswith("sandbox allow-scripts")
    csv = client.get(f"/reports/files/{run_id}/{names['csv']}")
    assert csv.status_code == 200 and csv.content_type == "text/csv; charset=utf-8"
    assert csv.headers["Content-Disposition"] == f"attachment; filename={names['csv']}"

    for path in (
        f"/reports/files/{run_id}/secret.txt",  # in the folder, but not a file of the run
        f"/reports/files/{run_id + 1}/{names['.pdf']}",  # another run's name space
        f"/reports/files/{run_id}/%2E%2E",
    ):
        assert client.get(path).status_code == 404, path
    # An encoded slash makes it no file route at all: the dashboard's page shell answers, not a file.
    outside = client.get(f"/reports/files/{run_id}/..%2F..%2F..%2Fetc%2Fpasswd")
    assert outside.content_type.startswith("text/html") and b"root:" not in outside.data
    (reports_dir / str(run_id) / names[".pdf"]).unlink()  # recorded, but gone from disk
    assert client.get(f"/reports/files/{run_id}/{names['.pdf']}").status_code == 404


def test_old_report_files_are_deleted_and_the_run_stays_listed(
    db: Database, db_url: str, tmp_path: Path, clean: None
) -> None:
    """TASKLENS_REPORTS_KEEP_DAYS: the worker's job deletes the files of runs that ended longer ago than that,
    marks them deleted (the download answers 404, the page says so), keeps newer runs' files, and does
    nothing with 0."""
    from sqlalchemy import update

    from dashboard.components.reports import runs_table
    from db.core.models import ReportRun
    from worker.jobs import prune_report_files

    hub = Hub()
    recorder = Recorder(db, hub)
    reports_dir = tmp_path / "reports"
    old_id = enqueue(recorder, yesterday_request(("html", "csv")))
    assert execute(recorder, claim(recorder, "w-test"), "w-test", config(reports_dir)) == "completed"
    new_id = enqueue(recorder, yesterday_request(("json",)))
    assert execute(recorder, claim(recorder, "w-test"), "w-test", config(reports_dir)) == "completed"
    with db.writing() as session:
        session.execute(
            update(ReportRun).where(ReportRun.id == old_id).values(completed_at=utcnow() - timedelta(days=31))
        )
    old_name = get(db, old_id).files[0]["name"]
    settings = Settings(database_url=db_url, reports_dir=str(reports_dir))
    keeping = Worker(settings, db, recorder, hub)
    assert prune_report_files(keeping) == [] and (reports_dir / str(old_id)).is_dir()  # 0 keeps them
    pruning = Worker(settings.with_(reports_keep_days=30), db, recorder, hub)
    assert prune_report_files(pruning) == [old_id]
    assert prune_report_files(pruning) == []  # once
    assert not (reports_dir / str(old_id)).exists() and (reports_dir / str(new_id)).is_dir()
    old, new = get(db, old_id), get(db, new_id)
    assert old.status == "completed" and old.kept_files == () and old.size == 0
    assert [f["name"] for f in old.files] == [f["name"] for f in old.files if f["deleted_at"]]
    assert new.kept_files == new.files
    svc = Services(settings, db, recorder, ChangeFeed(db, hub))
    client = create_app(svc).server.test_client()
    assert client.get(f"/reports/files/{old_id}/{old_name}").status_code == 404
    assert client.get(f"/reports/files/{new_id}/{new.files[0]['name']}").status_code == 200
    assert f"{old_name} · deleted" in str(runs_table([old]))
