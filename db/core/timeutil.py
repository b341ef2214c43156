"""Data layer: the one clock. Timestamps are stored as naive UTC so SQLite and PostgreSQL compare alike."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def to_naive_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 with an explicit Z, for JSON and CSV."""
    if value is None:
        return None
    return to_naive_utc(value).isoformat(timespec="milliseconds") + "Z"


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC).replace(tzinfo=None)


def day_start(moment: datetime) -> datetime:
    """Midnight (UTC) of the moment's day."""
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)
