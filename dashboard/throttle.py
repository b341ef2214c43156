"""Dashboard layer: slows down guessing of tokens — per client address, the first few failed sign-ins (the
/login form, a bearer token on any route) are free, then each further one must wait twice as long as the last,
up to a cap; while it waits, attempts are refused with 429 before any token is checked. In the memory of one web
process, like the rate limiter."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from werkzeug.exceptions import TooManyRequests

FREE_FAILURES = 5
FIRST_WAIT_SECONDS = 1.0
MAX_WAIT_SECONDS = 300.0
FORGET_AFTER_SECONDS = 900.0  # an address quiet this long starts over
MAX_ADDRESSES = 10_000


class Throttled(TooManyRequests):
    """Too many failed sign-ins from this address: answered 429 with Retry-After, the token left unchecked."""

    def __init__(self, seconds: float) -> None:
        self.seconds = max(1, math.ceil(seconds))
        super().__init__(
            f"too many failed sign-ins from this address; try again in {self.seconds} s",
            retry_after=self.seconds,
        )


@dataclass
class _Record:
    failures: int
    last: float
    until: float  # no attempt is checked before this


class FailureThrottle:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._records: dict[str, _Record] = {}

    def check(self, address: str) -> None:
        """Raises Throttled while `address` must wait."""
        with self._lock:
            record = self._records.get(address)
            now = self._clock()
            if record is not None and now < record.until:
                raise Throttled(record.until - now)

    def failed(self, address: str) -> None:
        with self._lock:
            now = self._clock()
            record = self._records.get(address)
            if record is None or now - record.last > FORGET_AFTER_SECONDS:
                record = _Record(0, now, now)
            record.failures += 1
            record.last = now
            extra = record.failures - FREE_FAILURES
            if extra > 0:
                record.until = now + min(MAX_WAIT_SECONDS, FIRST_WAIT_SECONDS * 2 ** (extra - 1))
            self._records[address] = record
            if len(self._records) > MAX_ADDRESSES:
                self._forget(now)

    def succeeded(self, address: str) -> None:
        with self._lock:
            self._records.pop(address, None)

    def _forget(self, now: float) -> None:
        stale = [
            a for a, r in self._records.items() if now - r.last > FORGET_AFTER_SECONDS and now >= r.until
        ]
        for address in stale:
            del self._records[address]
        if len(self._records) > MAX_ADDRESSES:  # all recent: keep the half that must wait longest
            keep = sorted(self._records.items(), key=lambda item: item[1].until)[MAX_ADDRESSES // 2 :]
            self._records = dict(keep)
