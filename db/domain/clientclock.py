"""Domain layer: the skew window within which sources keep the producer's clock (client `at`, span times)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from db.core.timeutil import to_naive_utc

# The defaults of TASKLENS_CLOCK_SKEW_PAST_SECONDS / _FUTURE_SECONDS: an agent may send what it buffered
# for up to a week (a laptop offline, an exporter retrying), but nothing more than 5 minutes ahead, which
# would be a wrong clock rather than skew, and would put calls in hours the rollups have not reached.
DEFAULT_PAST_SECONDS = 7 * 86400.0
DEFAULT_FUTURE_SECONDS = 300.0


class OutOfWindow(ValueError):
    """A producer's time outside the window; the message says by how much and what the window is."""


@dataclass(frozen=True)
class SkewWindow:
    past_seconds: float = DEFAULT_PAST_SECONDS
    future_seconds: float = DEFAULT_FUTURE_SECONDS

    def check(self, at: datetime, now: datetime) -> datetime:
        """`at` as naive UTC when it lies within the window around `now` (naive UTC); else OutOfWindow."""
        value = to_naive_utc(at)
        if value < now - timedelta(seconds=self.past_seconds):
            raise OutOfWindow(
                f"{_ago(now - value)} in the past; times older than {_ago(timedelta(seconds=self.past_seconds))}"
                " are refused (TASKLENS_CLOCK_SKEW_PAST_SECONDS)"
            )
        if value > now + timedelta(seconds=self.future_seconds):
            raise OutOfWindow(
                f"{_ago(value - now)} in the future; at most {_ago(timedelta(seconds=self.future_seconds))} "
                "ahead of the server's clock is accepted (TASKLENS_CLOCK_SKEW_FUTURE_SECONDS)"
            )
        return value


def _ago(span: timedelta) -> str:
    seconds = span.total_seconds()
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds:.0f} s"
