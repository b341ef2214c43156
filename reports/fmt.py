"""Reports layer: numbers as people read them (money, percentages, durations, changes), shared by the HTML and
PDF renderers so both say the same thing."""

from __future__ import annotations

import math
from datetime import datetime

from reports.model import Kpi, Unit


def missing(value: float | None) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def usd(value: float | None) -> str:
    if missing(value):
        return "–"
    assert value is not None
    # Cents for dollars; four decimals below a dollar, where single calls live.
    return f"${value:,.2f}" if abs(value) >= 1 or value == 0 else f"${value:.4f}"


def pct(value: float | None, digits: int = 0) -> str:
    return "–" if missing(value) else f"{value * 100:.{digits}f}%"  # type: ignore[operator]


def count(value: float | None) -> str:
    return "–" if missing(value) else f"{int(value):,}"  # type: ignore[arg-type]


def tokens(value: float | None) -> str:
    if missing(value):
        return "–"
    assert value is not None
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:.1f} {suffix}"
    return f"{int(value)}"


def duration(seconds: float | None) -> str:
    if missing(seconds):
        return "–"
    assert seconds is not None
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours / 24:.1f} days"


def when(moment: datetime | None) -> str:
    return "–" if moment is None else f"{moment:%Y-%m-%d %H:%M} UTC"


def value(kpi: Kpi) -> str:
    return FORMATS[kpi.unit](kpi.value)


def change(kpi: Kpi) -> str:
    """ "+12.0%", "−5.0 pts", "new (was 0)", "no change", or "no previous data"."""
    if kpi.value is None or kpi.previous is None:
        return "no previous data" if kpi.previous is None else "–"
    delta = kpi.delta or 0.0
    if kpi.unit is Unit.RATIO:
        points = delta * 100
        return "no change" if abs(points) < 0.05 else f"{'+' if points > 0 else '−'}{abs(points):.1f} pts"
    if not kpi.previous:
        return "no change" if not kpi.value else f"new (was {FORMATS[kpi.unit](0)})"
    rel = (kpi.change or 0.0) * 100
    return "no change" if abs(rel) < 0.05 else f"{'+' if rel > 0 else '−'}{abs(rel):.1f}%"


def versus(kpi: Kpi) -> str:
    """The change as a KPI card's line: "+12.0% vs previous", or a phrase that stands alone when there is
    nothing to compare ("no previous data vs previous" read as nonsense)."""
    if kpi.previous is None:
        return "no previous period to compare"
    if kpi.value is None:
        return "–"
    return f"{change(kpi)} vs previous"


FORMATS = {
    Unit.COUNT: count,
    Unit.RATIO: lambda v: pct(v, 1),
    Unit.USD: usd,
    Unit.TOKENS: tokens,
    Unit.SECONDS: duration,
}
