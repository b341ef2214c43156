"""Tests: the Reports page — "Generate now" and schedule edits as plain functions with real services (SQLite
and PostgreSQL), the runs table as a pure component (progress, errors as text, links), and in a real browser:
a user schedules a weekly PDF report, a week passes, the run appears on the page and its PDF opens."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import dash
import pytest
from playwright.sync_api import expect
from plotly.utils import PlotlyJSONEncoder
from sqlalchemy import update

from dashboard import ids
from dashboard.components.reports import runs_table
from dashboard.pages import reports as page
from dashboard.routes import NAV_LINKS, PAGES
from dashboard.services import Services
from db.core.engine import Database
from db.core.models import ReportSchedule
from db.core.timeutil import day_start, utcnow
from db.reporting import schedules as report_schedules
from db.reporting import store
from db.reporting.schedules import Schedule
from db.reporting.store import Run
from tests.browser import AppFactory, BrowserPage, open_page, screenshot
from tests.builders import make_task
from tests.test_components import XSS, texts
from tests.test_report_schedule import reset_schedules
from worker import jobs


@pytest.fixture
def schedules(db: Database) -> Iterator[dict[str, Schedule]]:
    yield reset_schedules(db, utcnow())
    reset_schedules(db, utcnow())


def alert_text(component: Any) -> str:
    return " ".join(texts(component))


def alert_color(component: Any) -> str:
    return str(component.to_plotly_json()["props"]["color"])


# ---- Generate now ----------------------------------------------------------------------------------------
def test_generate_now_validation(svc: Services, schedules: dict[str, Schedule]) -> None:
    today = day_start(utcnow())
    cases: list[tuple[tuple[Any, ...], str, str | None]] = [
        (("custom", None, None, [], "", ["pdf"]), "from: a custom period needs a start date", "from"),
        (
            ("custom", f"{today - timedelta(days=3):%Y-%m-%d}", "", [], "", ["pdf"]),
            "to: a custom period needs",
            "to",
        ),
        (
            ("custom", f"{today:%Y-%m-%d}", f"{today - timedelta(days=2):%Y-%m-%d}", [], "", ["pdf"]),
            "to: to must be after from",
            "to",
        ),
        (("daily", "21/11/2026", None, [], "", ["pdf"]), "from: must be a date like 2026-11-16", "from"),
        (
            ("daily", f"{today + timedelta(days=2):%Y-%m-%d}", None, [], "", ["pdf"]),
            "has not started yet",
            "from",
        ),
        (("weekly", None, None, [], "", []), "formats: choose at least one format", None),
        (("yearly", None, None, [], "", ["pdf"]), "period: must be one of daily, weekly", None),
        (("weekly", None, None, ["robot"], "", ["pdf"]), "kind: unknown kind 'robot'", None),
    ]
    for args, message, flagged in cases:
        feedback, queued, flags = page.generate(svc, *args)
        assert not queued and message in alert_text(feedback), (args, alert_text(feedback))
        assert [name for name, bad in flags.items() if bad] == ([flagged] if flagged else []), args
    with svc.db.reading() as session:
        assert store.list_runs(session) == []


def test_generate_now_queues_a_run(svc: Services, schedules: dict[str, Schedule]) -> None:
    first = day_start(utcnow()) - timedelta(days=10)
    last = first + timedelta(days=4)
    feedback, queued, flags = page.generate(
        svc, "custom", f"{first:%Y-%m-%d}", f"{last:%Y-%m-%d}", ["demo"], "billing, urgent", ["pdf", "csv"]
    )
    assert queued and not any(flags.values()) and alert_color(feedback) == "success"
    with svc.db.reading() as session:
        [run] = store.list_runs(session)
    assert f"Run #{run.id} queued" in alert_text(feedback)
    # The "to" date is included: 1 to 5 covers the 5th.
    assert (run.period_kind, run.period_start, run.period_end) == ("custom", first, last + timedelta(days=1))
    assert (run.kinds, run.tags, run.formats) == (("demo",), ("billing", "urgent"), ("pdf", "csv"))
    assert (run.trigger, run.status, run.requested_by) == ("manual", "queued", "dashboard")
    strings = texts(page.runs_view(svc))
    assert f"#{run.id}" in strings and "queued" in strings and "waiting for a worker" in strings
    # Daily with a date: the day containing it.
    _, queued, _ = page.generate(svc, "daily", f"{first:%Y-%m-%d}", None, [], "", ["json"])
    with svc.db.reading() as session:
        newest = store.list_runs(session)[0]
    assert queued and (newest.period_start, newest.period_end) == (first, first + timedelta(days=1))


def test_generate_now_on_an_empty_period_offers_the_current_one(svc: Services, db: Database) -> None:
    """A new install: the last complete week has no task, so no empty report is queued; the note says so and
    how to report this week so far. Once that week holds a task, the same click queues the run."""
    feedback, queued, flags = page.generate(svc, "weekly", None, None, [], "", ["html"])
    assert not queued and not any(flags.values())
    text = alert_text(feedback)
    assert "last complete week" in text and "has no tasks" in text and f"{utcnow():%Y-%m-%d}" in text
    with svc.db.reading() as session:
        assert store.list_runs(session) == []
    feedback, queued, _ = page.generate(svc, "weekly", f"{utcnow():%Y-%m-%d}", None, [], "", ["html"])
    assert queued and "queued" in alert_text(feedback)  # this week so far
    make_task(db, created=day_start(utcnow()) - timedelta(days=7), title="last week")
    feedback, queued, _ = page.generate(svc, "weekly", None, None, [], "", ["html"])
    assert queued and "queued" in alert_text(feedback)


# ---- schedules -------------------------------------------------------------------------------------------
def save(svc: Services, schedule: Schedule, **changes: Any) -> tuple[Any, Any, dict[str, bool]]:
    values: dict[str, Any] = {
        "enabled": schedule.enabled,
        "time": schedule.time_text,
        "weekday": str(schedule.weekday or 0),
        "day_of_month": schedule.day_of_month or 1,
        "timezone": schedule.timezone,
        "formats": list(schedule.formats),
        "kinds": list(schedule.kinds),
        "tags": ", ".join(schedule.tags),
        "recipients": ", ".join(schedule.recipients),
        "webhook": schedule.webhook_url or "",
    }
    values.update(changes)
    return page.save_schedule(svc, schedule.id, *values.values())


def test_schedule_edit_validation(svc: Services, schedules: dict[str, Schedule]) -> None:
    weekly, monthly = schedules["weekly"], schedules["monthly"]
    cases: list[tuple[Schedule, dict[str, Any], str, str | None]] = [
        (weekly, {"time": "7 o'clock"}, "time: must be a time of day like 08:00", "time"),
        (
            weekly,
            {"timezone": "Europe/Atlantis"},
            "time zone: 'Europe/Atlantis' is not a known IANA",
            "timezone",
        ),
        (
            weekly,
            {"recipients": "ops@example.com, nope"},
            "recipients: 'nope' is not an e-mail",
            "recipients",
        ),
        (
            weekly,
            {"webhook": "javascript:alert(1)"},
            "webhook: must be an http:// or https:// URL",
            "webhook_url",
        ),
        (weekly, {"formats": []}, "formats: choose at least one format", None),
        (weekly, {"weekday": "7"}, "weekday: must be a day of the week", "weekday"),
        (monthly, {"day_of_month": 31}, "day of month: must be a day between 1 and 28", "day_of_month"),
    ]
    for schedule, changes, message, flagged in cases:
        feedback, next_text, flags = save(svc, schedule, **changes)
        assert message in alert_text(feedback), (changes, alert_text(feedback))
        assert [name for name, bad in flags.items() if bad] == ([flagged] if flagged else []), changes
        assert next_text is dash.no_update
    with svc.db.reading() as session:
        assert report_schedules.get_schedule(session, weekly.id) == weekly  # nothing was stored
    feedback, _, _ = page.save_schedule(svc, 10_000, True, "08:00", "0", 1, "UTC", ["pdf"], [], "", "", "")
    assert "schedule: was deleted; reload the page" in alert_text(feedback)


def test_schedule_edit_saves(svc: Services, schedules: dict[str, Schedule]) -> None:
    weekly = schedules["weekly"]
    feedback, next_text, flags = save(
        svc,
        weekly,
        time="07:30",
        weekday="4",
        timezone="Europe/Berlin",
        formats=["pdf"],
        kinds=["demo"],
        tags="billing",
        recipients="ops@example.com",
        webhook="https://hooks.example.com/r",
    )
    assert not any(flags.values())
    # E-mail is not configured in these services: saved, with a warning that says so.
    assert alert_color(feedback) == "warning"
    assert "Saved: every Friday at 07:30 (Europe/Berlin)." in alert_text(feedback)
    assert "TASKLENS_SMTP_HOST" in alert_text(feedback)
    assert str(next_text).startswith("every Friday at 07:30 (Europe/Berlin) · next run Fri ")
    with svc.db.reading() as session:
        saved = report_schedules.get_schedule(session, weekly.id)
    assert saved is not None
    assert (saved.weekday, saved.hour, saved.minute, saved.timezone) == (4, 7, 30, "Europe/Berlin")
    assert (saved.formats, saved.kinds, saved.tags) == (("pdf",), ("demo",), ("billing",))
    assert (saved.recipients, saved.webhook_url) == (("ops@example.com",), "https://hooks.example.com/r")
    feedback, next_text, _ = save(svc, saved, enabled=False, recipients="")
    assert alert_text(feedback) == "Saved: disabled."
    assert next_text == "every Friday at 07:30 (Europe/Berlin) · disabled"
    cards = texts(page.schedules_view(svc))
    assert "Weekly report" in cards and next_text in cards


# ---- the runs table --------------------------------------------------------------------------------------
def run(**changes: Any) -> Run:
    base = Run(
        id=7,
        schedule_id=2,
        schedule_name="Weekly report",
        trigger="schedule",
        period_kind="weekly",
        period_start=datetime(2026, 11, 9),
        period_end=datetime(2026, 11, 16),
        kinds=(),
        tags=(),
        formats=("pdf",),
        status="running",
        progress=0.42,
        stage="writing PDF",
        error=None,
        files=(),
        requested_by="schedule:Weekly report",
        scheduled_for=datetime(2026, 11, 16, 8),
        created_at=datetime(2026, 11, 16, 8, 0, 5),
        started_at=datetime(2026, 11, 16, 8, 0, 6),
        completed_at=None,
        worker_id="w",
        attempt=1,
        delivery={},
    )
    return Run(**{**base.__dict__, **changes})


def test_runs_table_shows_progress_errors_and_links() -> None:
    running = run()
    failed = run(
        id=8, status="failed", trigger="manual", error=XSS, stage=None, completed_at=datetime(2026, 11, 16, 9)
    )
    done = run(
        id=9,
        status="completed",
        progress=1.0,
        kinds=("demo",),
        tags=("<b>tag</b>",),
        files=(
            {"format": "pdf", "name": "tasklens-weekly-2026-11-09.pdf", "size": 43_815},
            {"format": "csv", "name": "tasklens-weekly-2026-11-09-tasks.csv", "size": 226},
        ),
        completed_at=datetime(2026, 11, 16, 8, 0, 9),
        delivery={"email": {"status": "sent"}, "webhook": {"status": "failed", "error": "HTTP 500"}},
    )
    table = runs_table([done, failed, running])
    strings = texts(table)
    assert "week 46 of 2026 (09 Nov – 15 Nov 2026)" in strings
    assert "42%" not in strings  # the percentage is the progress bar's label, a prop
    assert "writing PDF" in strings and "running for" not in strings  # elapsed counts in the browser
    assert XSS in strings  # an error is text, never HTML
    assert "weekly · kind demo; tag <b>tag</b>" in strings
    assert "e-mail sent" in strings and "webhook failed: HTTP 500" in strings
    assert "43.0 KB" in strings and "took 3.0 s" in strings
    flat = json.dumps(table, cls=PlotlyJSONEncoder)
    assert '"href": "/reports/files/9/tasklens-weekly-2026-11-09.pdf"' in flat and '"label": "42%"' in flat
    assert "No reports yet" in " ".join(texts(runs_table([])))


def test_page_is_mounted() -> None:
    assert page in PAGES and ("Reports", "/reports") in [(link.label, link.href) for link in NAV_LINKS]
    found = json.dumps(page.layout(), cls=PlotlyJSONEncoder)
    for needed in (ids.RPT_RUNS, ids.RPT_GENERATE, ids.RPT_SCHEDULES, "Europe/Berlin"):
        assert needed in found


# ---- in a browser ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_schedule_a_weekly_pdf_and_open_it(sqlite_app: AppFactory, tab: BrowserPage, tmp_path: Any) -> None:
    app = sqlite_app(reports_dir=str(tmp_path / "reports"))
    assert app.worker is not None
    now = utcnow()
    make_task(app.db, created=now - timedelta(days=7), calls=(("planner", "gpt-4.1", 2.5),))
    p = tab.page
    open_page(p, app.url + "/reports")
    expect(p.locator(f"#{ids.RPT_RUNS}")).to_contain_text("No reports yet")

    # The user makes the weekly report a PDF on Mondays at 07:30 Berlin time; a typo is caught first.
    card = p.locator("#schedule-weekly")
    card.get_by_label("HTML").uncheck()
    card.locator("input[type=time]").fill("07:30")
    zone = card.get_by_placeholder("UTC")
    zone.fill("Europe/Berlim")
    card.get_by_role("button", name="Save").click()
    expect(card).to_contain_text("time zone: 'Europe/Berlim' is not a known IANA time zone")
    expect(zone).to_have_class(re.compile(r"\bis-invalid\b"))
    zone.fill("Europe/Berlin")
    card.get_by_role("button", name="Save").click()
    expect(card).to_contain_text("Saved: every Monday at 07:30 (Europe/Berlin).")
    expect(card.locator(".card-header")).to_contain_text(
        "every Monday at 07:30 (Europe/Berlin) · next run Mon"
    )
    with app.db.reading() as session:
        weekly = next(s for s in report_schedules.list_schedules(session) if s.period == "weekly")
    assert (weekly.formats, weekly.time_text, weekly.timezone) == (("pdf",), "07:30", "Europe/Berlin")

    # A week goes by: the schedule was switched on eight days ago, so its Monday fire time has passed. The
    # worker's periodic job (called now rather than in up to 30 s) enqueues it; the worker builds it.
    with app.db.writing() as session:
        session.execute(
            update(ReportSchedule)
            .where(ReportSchedule.id == weekly.id)
            .values(enabled_at=now - timedelta(days=8))
        )
    created = jobs.enqueue_reports(app.worker)
    assert len(created) == 1
    row = p.locator(f"#report-run-{created[0]}")
    expect(row).to_contain_text("Weekly report")
    expect(row).to_contain_text("completed")
    link = row.locator("a.report-file")
    expect(link).to_have_count(1)
    expect(link).to_have_text(re.compile(r"^tasklens-weekly-\d{4}-\d{2}-\d{2}\.pdf$"))
    screenshot(p, "reports-weekly-pdf")

    href = link.get_attribute("href")
    assert href is not None and href.startswith(f"/reports/files/{created[0]}/")
    response = p.request.get(app.url + href)
    assert response.status == 200 and response.headers["content-type"] == "application/pdf"
    assert response.body().startswith(b"%PDF")

    # "Generate now" from the same page. Nothing happened yesterday on this new install: it says so, and
    # offers today so far instead of queueing an empty report; with From set to today the run shows up and
    # completes.
    p.locator(f"#{ids.RPT_PERIOD}").select_option("daily")
    p.locator(f"#{ids.RPT_GENERATE}").click()
    expect(p.locator(f"#{ids.RPT_FEEDBACK}")).to_contain_text("has no tasks")
    p.locator(f"#{ids.RPT_FROM}").fill(f"{utcnow():%Y-%m-%d}")
    p.locator(f"#{ids.RPT_GENERATE}").click()
    expect(p.locator(f"#{ids.RPT_FEEDBACK}")).to_contain_text("queued")
    newest = p.locator(".report-run").first
    expect(newest).to_contain_text("manual")
    expect(newest).to_contain_text("completed")
    tab.watch.assert_clean()
