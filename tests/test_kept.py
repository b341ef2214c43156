"""Tests: dashboard/kept.py — an answer reused while the change feed's seq stands still and it is young
enough, read again after any change or when too old, read once for callers that arrive together, and always
read when no feed runs. A real feed over a real SQLite file; changes made through the recorder."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest

from dashboard.kept import Kept
from dashboard.services import Services
from tests.builders import external_task
from tests.helpers import wait_until

SQLITE = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def running(svc: Services) -> Iterator[Services]:
    stop = threading.Event()
    svc.feed.start(stop)
    try:
        yield svc
    finally:
        svc.feed.close()


def _counting() -> tuple[list[int], Callable[[], int]]:
    reads: list[int] = []

    def read() -> int:
        reads.append(1)
        return len(reads)

    return reads, read


@SQLITE
def test_reused_while_nothing_happens_and_read_again_after_a_change(running: Services) -> None:
    kept: Kept[int] = Kept(60.0)
    reads, read = _counting()
    assert kept.get(running, read) == 1
    assert kept.get(running, read) == 1
    assert len(reads) == 1
    before = running.feed.cursor
    external_task(running.recorder, "a change")
    wait_until(lambda: running.feed.cursor > before or None, what="the feed to see the change")
    assert kept.get(running, read) == 2


@SQLITE
def test_read_again_when_too_old(running: Services) -> None:
    kept: Kept[int] = Kept(0.0)  # never young enough
    reads, read = _counting()
    kept.get(running, read)
    kept.get(running, read)
    assert len(reads) == 2


@SQLITE
def test_callers_arriving_together_share_one_read(running: Services) -> None:
    kept: Kept[int] = Kept(60.0)
    inside, release = threading.Event(), threading.Event()
    reads: list[int] = []

    def slow() -> int:
        reads.append(1)
        inside.set()
        release.wait(10)
        return 7

    answers: list[int] = []
    first = threading.Thread(target=lambda: answers.append(kept.get(running, slow)))
    first.start()
    assert inside.wait(10)
    arriving = threading.Event()

    def late() -> None:
        arriving.set()
        answers.append(kept.get(running, slow))

    second = threading.Thread(target=late)
    second.start()
    assert arriving.wait(10)  # the second caller is on its way while the first still reads
    release.set()
    first.join(10)
    second.join(10)
    assert answers == [7, 7] and len(reads) == 1


@SQLITE
def test_without_a_running_feed_always_read(svc: Services) -> None:
    kept: Kept[int] = Kept(60.0)
    reads, read = _counting()
    kept.get(svc, read)
    kept.get(svc, read)
    assert len(reads) == 2
