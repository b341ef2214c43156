"""Dashboard layer: form inputs to typed values — a whole number or a number from what a browser field holds,
raising SpecError naming the field (the domain's own checks then run in TaskSpec / ScheduleSpec)."""

from __future__ import annotations

from typing import Any

from db.domain.ops import SpecError


def whole_number(field: str, value: Any, default: int | None) -> Any:
    if value in (None, ""):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise SpecError(field, "must be a whole number") from None
    if number != int(number):
        raise SpecError(field, "must be a whole number")
    return int(number)


def number(field: str, value: Any) -> float | None:
    """None when blank (or 0: a field left at zero means "none" for timeouts)."""
    if value in (None, "", 0):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise SpecError(field, "must be a number") from None
