"""Dashboard layer: `Kept`, one answer kept while nothing has happened — reused at the same change-feed seq
and for at most `max_age_s`, so a page load and the layout request that follows it, or several tabs, read once.

The seq is the change feed's cursor (dashboard/bridge.py): any write anywhere moves it, so a kept answer is
never older than the last change. The age limit is for what moves with the clock alone ("today", "seen 5 s
ago", the last 24 h)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from dashboard.services import Services

T = TypeVar("T")


class Kept(Generic[T]):
    def __init__(self, max_age_s: float) -> None:
        self.max_age_s = max_age_s
        self._kept: tuple[float, int, T] | None = None
        self._lock = threading.Lock()

    def get(self, svc: Services, read: Callable[[], T]) -> T:
        """`read()`'s answer, or the kept one when the feed's seq is the same and it is young enough. Without
        a running feed nothing can tell whether anything happened: always read. One read at a time: a
        caller that arrives while another reads (the page's HTML and its layout request, asked for at once)
        waits for that answer instead of reading the same again."""
        seq = svc.feed.cursor if svc.feed.started else None
        if seq is None:
            return read()
        kept = self._fresh(seq)
        if kept is not None:
            return kept[2]
        with self._lock:
            kept = self._fresh(seq)
            if kept is not None:
                return kept[2]
            answer = read()
            self._kept = (time.monotonic(), seq, answer)
            return answer

    def _fresh(self, seq: int) -> tuple[float, int, T] | None:
        kept = self._kept
        if kept is not None and kept[1] == seq and time.monotonic() - kept[0] < self.max_age_s:
            return kept
        return None

    def clear(self) -> None:
        with self._lock:
            self._kept = None
