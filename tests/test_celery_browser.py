"""Tests: the dashboard's Celery controls in Chromium against a real Celery worker on a private Redis database,
its events recorded by the Celery source in the live app: terminate a running task from its page (after the
confirm dialog) and see it cancelled; set its task type's rate and time limits and see them in the worker's
own answer on the worker page; grow the pool and add a queue and see both there; then, with the worker gone,
a control and the worker's info say so plainly. Every action is audited as the dashboard."""

from __future__ import annotations

import threading
import uuid
from contextlib import ExitStack
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from dashboard import celery_panel, ids
from db.core.models import AuditLog, Task
from tests.browser import AppFactory, BrowserPage, eventually
from tests.celery_support import celery_worker, redis_broker
from tests.helpers import wait_until
from tests.liveserver import LiveApp
from worker.celerysource.consumer import CeleryConsumer

pytestmark = pytest.mark.slow


def celery_task(app: LiveApp, celery_id: str, status: str) -> Task:
    def found() -> Task | None:
        with app.db.reading() as s:
            t = s.scalars(select(Task).where(Task.external_id == celery_id)).first()
        return t if t is not None and t.status == status else None

    return wait_until(found, timeout=45, what=f"Celery task {celery_id} to be {status}")


def click(page: Page, element_id: str) -> None:
    page.locator(f"#{element_id}").click()


def result(page: Page, element_id: str) -> Any:
    return page.locator(f"#{element_id}")


def asked_until(page: Page, text: str) -> None:
    """Clicks Refresh (the worker is asked anew) until its info shows `text`."""

    def ask() -> str:
        click(page, celery_panel.WORKER_REFRESH)
        page.wait_for_function(
            "(id) => !document.getElementById(id).hasAttribute('data-dash-is-loading')",
            arg=celery_panel.WORKER_INFO,
        )
        return page.locator(f"#{celery_panel.WORKER_INFO}").inner_text()

    eventually(ask, lambda shown: text in shown, f"the worker's info to show {text!r}", page)


def test_celery_controls_on_the_task_and_worker_pages(tab: BrowserPage, sqlite_app: AppFactory) -> None:
    page = tab.page
    with ExitStack() as stack:
        broker = stack.enter_context(redis_broker())
        name = f"tlui-{uuid.uuid4().hex[:6]}"
        worker_stack = stack.enter_context(ExitStack())
        capp = worker_stack.enter_context(celery_worker(broker, name))
        app = sqlite_app(worker=False, celery_broker=broker)
        stop = threading.Event()
        consumer = CeleryConsumer(app.settings, app.recorder, stop)
        thread = consumer.start()
        stack.callback(thread.join, 20)
        stack.callback(stop.set)
        wait_until(lambda: consumer.stats.connected, timeout=30, what="the Celery source to connect")

        # Terminate a running task from its page, after the confirm dialog.
        sleepy = capp.send_task("tests.sleepy", args=(120,))
        running = celery_task(app, sleepy.id, "running")
        hostname = str(running.worker_id)
        page.goto(f"{app.url}/tasks/{running.id}")
        expect(page.locator(f"#{celery_panel.TASK_NAME}")).to_have_text("tests.sleepy")
        click(page, celery_panel.TASK_BUTTON["terminate"])
        modal, yes, _ = celery_panel.confirm_ids("terminate")
        expect(page.locator(f"#{modal}")).to_be_visible()
        click(page, yes)
        expect(result(page, celery_panel.TASK_RESULT)).to_contain_text(f"terminate: confirmed by {hostname}")
        expect(page.locator(f"#{ids.DETAIL_HEADER} .badge")).to_have_text("cancelled")
        celery_task(app, sleepy.id, "cancelled")

        # Rate and time limits of the task type, from a finished task's page.
        added = capp.send_task("tests.add", args=(1, 2))
        done = celery_task(app, added.id, "completed")
        page.goto(f"{app.url}/tasks/{done.id}")
        expect(page.locator(f"#{celery_panel.TASK_NAME}")).to_have_text("tests.add")
        page.locator(f"#{celery_panel.RATE}").fill("fast")
        click(page, celery_panel.TASK_BUTTON["rate_limit"])
        expect(result(page, celery_panel.TASK_RESULT)).to_contain_text("A rate is tasks per second")
        page.locator(f"#{celery_panel.RATE}").fill("600/m")
        click(page, celery_panel.TASK_BUTTON["rate_limit"])
        expect(result(page, celery_panel.TASK_RESULT)).to_contain_text(f"rate limit: confirmed by {hostname}")
        page.locator(f"#{celery_panel.SOFT}").fill("30")
        page.locator(f"#{celery_panel.HARD}").fill("60")
        click(page, celery_panel.TASK_BUTTON["time_limit"])
        expect(result(page, celery_panel.TASK_RESULT)).to_contain_text(f"time limit: confirmed by {hostname}")

        # The worker's page asks the worker itself: the limits show, and the pool and queues follow the buttons.
        page.goto(f"{app.url}/workers/{hostname}")
        info = page.locator(f"#{celery_panel.WORKER_INFO}")
        expect(info).to_contain_text("Pool: 2 processes")
        expect(info).to_contain_text("rate_limit=600/m")
        expect(info).to_contain_text("time_limit=60.0 soft_time_limit=30.0")
        click(page, celery_panel.WORKER_BUTTON["grow"])
        expect(result(page, celery_panel.WORKER_RESULT)).to_contain_text(
            f"pool grow: confirmed by {hostname}"
        )
        # A prefork pool starts the new process on its next upkeep: ask again until the worker reports it.
        asked_until(page, "Pool: 3 processes")
        page.locator(f"#{celery_panel.QUEUE}").fill("reports")
        click(page, celery_panel.WORKER_BUTTON["add_consumer"])
        expect(result(page, celery_panel.WORKER_RESULT)).to_contain_text(
            f"add consumer: confirmed by {hostname}"
        )
        expect(info).to_contain_text("Consuming: celery, reports")

        # The worker gone: its info and a control say so.
        worker_stack.close()
        click(page, celery_panel.WORKER_BUTTON["shrink"])
        expect(result(page, celery_panel.WORKER_RESULT)).to_contain_text("no worker answered within a second")
        expect(info).to_contain_text(f"{hostname} did not answer within a second")

        with app.db.reading() as s:
            audited = {tuple(r) for r in s.execute(select(AuditLog.actor, AuditLog.action, AuditLog.target))}
        assert {
            ("dashboard", "celery.terminate", f"celery-task:{sleepy.id}"),
            ("dashboard", "celery.rate_limit", "celery-task-type:tests.add"),
            ("dashboard", "celery.time_limit", "celery-task-type:tests.add"),
            ("dashboard", "celery.pool_grow", f"celery-worker:{hostname}"),
            ("dashboard", "celery.add_consumer", f"celery-worker:{hostname}"),
            ("dashboard", "celery.pool_shrink", f"celery-worker:{hostname}"),
        } <= audited
