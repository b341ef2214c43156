"""API layer: concurrent requests for the same answer share one computation — one that began after they
arrived, so no caller gets a state older than its own request (a client that wrote and then asks sees its
write). Under many clients the work is bounded by how long one computation takes, not by how many ask."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Coalesced(Generic[T]):
    def __init__(self, compute: Callable[[], T]) -> None:
        self._compute = compute
        self._lock = threading.Lock()
        self._last: tuple[float, T] | None = None  # (when the last computation began, its result)
        self.computed = 0

    def get(self) -> T:
        arrived = time.monotonic()
        with self._lock:  # one computation at a time; the others wait here for it
            last = self._last
            if last is not None and last[0] >= arrived:
                return last[1]  # began after this caller arrived: as fresh as computing again
            began = time.monotonic()
            result = self._compute()
            self._last = (began, result)
            self.computed += 1
            return result
