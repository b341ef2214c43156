"""Tests: the task list filtered by words in its calls' prompts and responses (db/read/search.py's index) — the data
layer, `/export/tasks.csv?messages=` and `GET /api/v1/tasks?messages=` on SQLite and PostgreSQL, odd input
never an error, and the tasks page's search box with the word kept in its address (Chromium)."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from flask.testing import FlaskClient
from playwright.sync_api import expect

from dashboard import ids
from dashboard.services import Services
from db.read.tasks import listing
from db.read.tasks.filters import TaskFilter
from tests.api_support import api_client, call, ev
from tests.browser import AppFactory, BrowserPage, eventually, grid_rows, open_page

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)


def chat(key: str, user: str, answer: str, system: str = "be brief") -> list[dict[str, Any]]:
    """One external task with one LLM call reported with its messages, as an agent posts it."""
    return [
        ev("task", "1", key, title=key),
        ev(
            "call",
            "2",
            key,
            id="llm",
            kind="llm",
            model="gpt-4.1",
            started_at=T0.isoformat(),
            ended_at=(T0 + timedelta(seconds=2)).isoformat(),
            input_messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
            output_messages=[{"role": "assistant", "content": answer}],
        ),
    ]


def post(client: FlaskClient, events: list[dict[str, Any]]) -> int:
    return int(call(client, "POST", "/events", {"events": events})["tasks"][0]["task_id"])


@pytest.fixture
def made(svc: Services) -> dict[str, int]:
    client = api_client(svc)
    return {
        "zebra": post(client, chat("zebra", "Where do zebras sleep?", "Standing up, in the savanna.")),
        "invoice": post(client, chat("invoice", "Total the invoice", "The invoice totals 42 euros, café.")),
        "plain": post(client, [ev("task", "1", "plain", title="plain")]),  # a task with no messages
    }


def listed(svc: Services, messages: str | None) -> list[int]:
    with svc.db.reading() as session:
        frame, _ = listing.task_page(session, TaskFilter(messages=messages))
    return sorted(int(i) for i in frame["id"])


def csv_ids(client: FlaskClient, messages: str) -> list[int]:
    response = client.get(f"/export/tasks.csv?messages={quote(messages)}")
    assert response.status_code == 200, response.get_data(as_text=True)
    return sorted(int(r["id"]) for r in csv.DictReader(io.StringIO(response.data.decode("utf-8-sig"))))


def api_ids(client: FlaskClient, messages: str) -> list[int]:
    return sorted(t["id"] for t in call(client, "GET", f"/tasks?messages={quote(messages)}")["items"])


def test_the_task_list_narrows_to_tasks_whose_messages_hold_every_word(
    svc: Services, made: dict[str, int]
) -> None:
    everyone = sorted(made.values())
    assert listed(svc, None) == everyone and listed(svc, "   ") == everyone  # blank: no filter
    assert listed(svc, "ZEBRAS") == [made["zebra"]]  # the user's prompt, any case
    assert listed(svc, "savanna standing") == [made["zebra"]]  # the response; every word, any order
    assert listed(svc, "invoice café") == [made["invoice"]]  # unicode words
    assert listed(svc, "zebras invoice") == []  # every word, not any
    assert listed(svc, "brief") == []  # system prompts are not indexed
    client = api_client(svc)
    assert csv_ids(client, "savanna") == [made["zebra"]]
    assert csv_ids(client, "") == everyone
    assert api_ids(client, "invoice") == [made["invoice"]]
    assert api_ids(client, "nothing-like-this") == []


@pytest.mark.parametrize(
    "odd",
    [
        '"zebras',
        "zeb*",
        "zebras)",
        "(zebras OR invoice",
        "zebras NEAR invoice",
        "NEAR(zebras invoice)",
        "^zebras",
    ],
)
def test_search_syntax_in_the_words_is_plain_text(svc: Services, made: dict[str, int], odd: str) -> None:
    """Quotes, stars, parentheses and operators are no query language: the words alone are looked for."""
    client = api_client(svc)
    expected = [] if ("invoice" in odd or "NEAR" in odd or "*" in odd) else [made["zebra"]]
    assert listed(svc, odd) == expected
    assert csv_ids(client, odd) == expected
    assert api_ids(client, odd) == expected


def test_only_punctuation_matches_nothing_and_too_long_is_a_400(svc: Services, made: dict[str, int]) -> None:
    client = api_client(svc)
    assert listed(svc, '*** "" ()') == []  # asked for something, with no word in it
    assert csv_ids(client, "***") == []
    call(client, "GET", "/tasks?messages=" + "a" * 201, status=400)
    assert client.get("/export/tasks.csv?messages=a&messages=b").status_code == 400  # given twice


@pytest.mark.slow
def test_the_tasks_page_searches_prompts_and_responses(sqlite_app: AppFactory, tab: BrowserPage) -> None:
    app = sqlite_app(worker=False)
    page = tab.page
    posted = {}
    for key, user, answer in (("zebra", "Where do zebras sleep?", "Standing up."), ("other", "hi", "hello")):
        response = page.request.post(
            app.url + "/api/v1/events",
            data=json.dumps({"events": chat(key, user, answer)}),
            headers={"Content-Type": "application/json"},
        )
        assert response.ok, response.text()
        posted[key] = int(response.json()["tasks"][0]["task_id"])
    open_page(page, app.url + "/tasks")
    shown = lambda: sorted(int(r["id"]) for r in grid_rows(page, ids.GRID) or [])  # noqa: E731
    eventually(shown, lambda v: v == sorted(posted.values()), "every row", page)
    box = page.locator(f"#{ids.F_MESSAGES}")
    expect(box).to_have_attribute("placeholder", "search prompts and responses")
    box.fill("zebras")
    box.press("Enter")
    eventually(shown, lambda v: v == [posted["zebra"]], "only the matching task's row", page)
    eventually(
        lambda: parse_qs(urlsplit(page.url).query),
        lambda q: q.get("messages") == ["zebras"],
        "the address to carry the search",
        page,
    )
    href = page.locator(f"#{ids.EXPORT_TASKS}").get_attribute("href") or ""
    assert "messages=zebras" in href
    open_page(page, app.url + "/tasks?messages=hello")  # a bookmarked search opens filtered
    eventually(shown, lambda v: v == [posted["other"]], "the bookmarked search's row", page)
    expect(box).to_have_value("hello")
    tab.watch.assert_clean()
