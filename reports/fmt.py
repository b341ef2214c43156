"""Presentation layer (shared by reports, the dashboard and, through `browser_rules()`, its live script):
money, durations, token counts, counts, percentages and times exactly one way each, so a page, a figure's
hover text, an HTML/PDF report and a counting clock in the browser say the same thing. The chosen styles are
listed in docs/architecture.md ("Formats")."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pandas as pd

from db.read.views import Fmt
from reports.model import Kpi, Unit

DASH = "–"  # a value that is not there (never "nan", "None" or "$0.00" for no data)
# Below a cent the two decimals of a total would say $0.00: a single call's price keeps four places there.
CENT = 0.01
SMALL_MONEY_PLACES = 4

# Durations: milliseconds under a second, tenths under a minute, then two units with the smaller one always
# two digits ("1m 05s", "3h 02m", "2d 04h"), so a counting clock keeps its width. Each row: (below this many
# seconds, larger unit in seconds, its suffix, smaller unit in seconds, its suffix). The browser's clocks
# (assets/live.js) get this table through browser_rules(), so they cannot count in another style.
MS_BELOW = 1.0
TENTHS_BELOW = 60.0
DURATION_PAIRS: tuple[tuple[float | None, int, str, int, str], ...] = (
    (3600, 60, "m", 1, "s"),
    (48 * 3600, 3600, "h", 60, "m"),
    (None, 86400, "d", 3600, "h"),
)

# Compact counts (KPI cards): exact below COMPACT_FROM, else three significant digits and the largest unit
# that fits; the browser gets the same table through browser_rules().
COMPACT_FROM = 1_000_000
COMPACT_UNITS: tuple[tuple[int, str], ...] = ((10**6, "M"), (10**9, "B"), (10**12, "T"))

# "Is it working or stuck?" in words (the rule itself: db/domain/liveness.py); {} is a duration.
ACTIVE = "active {} ago"
STUCK = "possibly stuck · silent {}"
NO_ACTIVITY = "no activity yet"


def missing(value: Any) -> bool:
    """None, NaN or NaT (what a missing cell looks like after a trip through pandas)."""
    if value is None:
        return True
    if isinstance(value, str | list | dict | tuple):
        return False
    return bool(pd.isna(value))


def money(value: float | None) -> str:
    """Cents ("$5.12", "$1,234.50", "$0.00"); four places only below a cent ("$0.0034")."""
    if missing(value):
        return DASH
    assert value is not None
    sign, amount = ("-" if value < 0 else ""), abs(float(value))
    if amount == 0 or round(amount, 2) >= CENT:
        return f"{sign}${amount:,.2f}"
    small = f"{amount:.{SMALL_MONEY_PLACES}f}"
    return f"{sign}${small}" if float(small) else f"{sign}<${10**-SMALL_MONEY_PLACES:.{SMALL_MONEY_PLACES}f}"


def duration(seconds: float | None) -> str:
    if missing(seconds):
        return DASH
    assert seconds is not None
    seconds = max(0.0, float(seconds))
    # Compared as shown, so 59.97 s reads "1m 00s", not "60.0 s".
    if round(seconds * 1000) < MS_BELOW * 1000:
        return f"{seconds * 1000:.0f} ms"
    if round(seconds, 1) < TENTHS_BELOW:
        return f"{seconds:.1f} s"
    # Floored like the browser's clock, which never shows a second that has not passed.
    whole = max(int(seconds), int(TENTHS_BELOW))
    for below, big, big_unit, small, small_unit in DURATION_PAIRS:
        if below is None or whole < below:
            return f"{whole // big}{big_unit} {whole % big // small:02d}{small_unit}"
    raise AssertionError("the last pair has no upper bound")


def count(value: float | None) -> str:
    return DASH if missing(value) else f"{int(value):,}"  # type: ignore[arg-type]


def tokens(value: float | None) -> str:
    """Token counts are counts: exact, with separators ("2,500,000"), as a bill would be reconciled."""
    return count(value)


def compact(value: float | None) -> str:
    """A count for a card that has room for about six characters: exact below COMPACT_FROM ("999,999"), else
    three significant digits and a unit ("1.23M", "45.7B", "1.00B" for 999,999,999), rounded half up in
    integers so the browser (assets/formats.js) says the same to the digit. Where the exact count matters it
    goes beside it (a title), as tokens() says it."""
    if missing(value):
        return DASH
    assert value is not None
    n = int(value)
    sign, n = ("-" if n < 0 else ""), abs(n)
    if n < COMPACT_FROM:
        return sign + f"{n:,}"
    i = max(k for k, (size, _) in enumerate(COMPACT_UNITS) if n >= size)
    places = max(0, 3 - len(str(n // COMPACT_UNITS[i][0])))
    while True:
        size, suffix = COMPACT_UNITS[i]
        step = size // 10**places
        q = (n + step // 2) // step  # rounded half up to `places` decimals of this unit
        if q >= 1000 and places > 0:
            places -= 1  # 9.995M is 10.0M, not 10.00M
        elif q >= 1000 and i + 1 < len(COMPACT_UNITS):
            i, places = i + 1, 2  # 999.5M is 1.00B
        else:
            whole, frac = divmod(q, 10**places)
            return sign + f"{whole:,}" + (f".{frac:0{places}d}" if places else "") + suffix


def percent(value: float | None) -> str:
    """A ratio 0..1 with one decimal ("83.3%")."""
    return DASH if missing(value) else f"{float(value) * 100:.1f}%"  # type: ignore[arg-type]


def signed_percent(ratio: float) -> str:
    """A change as a ratio (0.12 = 12 % more): "+12.0%", "−5.0%" (a true minus sign)."""
    return f"{'+' if ratio > 0 else '−'}{abs(ratio) * 100:.1f}%"


def plural(n: int, word: str, many: str | None = None) -> str:
    """ "1 budget", "2 budgets", "1,200 tasks"; `many` for words that do not just take an s."""
    return f"{n:,} {word if n == 1 else many or word + 's'}"


def timestamp(value: datetime | None) -> str:
    """ "2026-11-18 14:00:05 UTC": stored times are UTC, and the text says so."""
    if missing(value):
        return DASH
    assert value is not None
    return f"{pd.Timestamp(value):%Y-%m-%d %H:%M:%S} UTC"


def ago(seconds: float | None) -> str:
    """A relative time: "3.0 s ago", "1m 05s ago"."""
    return DASH if missing(seconds) else f"{duration(seconds)} ago"


def text(value: Any) -> str:
    return DASH if missing(value) else str(value)


def progress(value: float | None) -> str:
    """A percentage 0..100, whole ("45%"), as a progress bar's label."""
    return DASH if missing(value) else f"{float(value):.0f}%"  # type: ignore[arg-type]


def flag(value: Any) -> str:
    return DASH if missing(value) else "yes" if value else "no"


def as_json(value: Any) -> str:
    return DASH if missing(value) else json.dumps(value, default=str)


# A declared view's format kinds (db/read/views.Fmt) in this module's styles: how a field of any view reads on a
# page, a card or in a report; the grid's columns get the same through assets/formats.js. NUMERIC kinds are
# right-aligned in a table.
KINDS: dict[Fmt, Callable[[Any], str]] = {
    Fmt.TEXT: text,
    Fmt.ID: text,
    Fmt.COUNT: count,
    Fmt.TOKENS: tokens,
    Fmt.MONEY: money,
    Fmt.DURATION: duration,
    Fmt.TIMESTAMP: timestamp,
    Fmt.PROGRESS: progress,
    Fmt.FLAG: flag,
    Fmt.JSON: as_json,
}
NUMERIC = frozenset({Fmt.ID, Fmt.COUNT, Fmt.TOKENS, Fmt.MONEY, Fmt.DURATION, Fmt.PROGRESS})


def browser_rules() -> str:
    """The formatting rules the live script applies while it counts between pushes, as JSON (served in a
    <meta> tag by dashboard/server.py, read by assets/formats.js)."""
    rules = {
        "dash": DASH,
        "cent": CENT,
        "smallPlaces": SMALL_MONEY_PLACES,
        "msBelow": MS_BELOW,
        "tenthsBelow": TENTHS_BELOW,
        "pairs": [list(pair) for pair in DURATION_PAIRS],
        "active": ACTIVE,
        "stuck": STUCK,
        "compactFrom": COMPACT_FROM,
        "compactUnits": [list(unit) for unit in COMPACT_UNITS],
    }
    return json.dumps(rules, separators=(",", ":"))


def value(kpi: Kpi) -> str:
    return FORMATS[kpi.unit](kpi.value)


def change(kpi: Kpi) -> str:
    """ "+12.0%", "−5.0 pts", "new (was 0)", "no change", or "no previous data"."""
    if kpi.value is None or kpi.previous is None:
        return "no previous data" if kpi.previous is None else DASH
    delta = kpi.delta or 0.0
    if kpi.unit is Unit.RATIO:
        points = delta * 100
        return "no change" if abs(points) < 0.05 else f"{'+' if points > 0 else '−'}{abs(points):.1f} pts"
    if not kpi.previous:
        return "no change" if not kpi.value else f"new (was {FORMATS[kpi.unit](0)})"
    rel = kpi.change or 0.0
    return "no change" if abs(rel) < 0.0005 else signed_percent(rel)


def versus(kpi: Kpi) -> str:
    """The change as a KPI card's line: "+12.0% vs previous", or a phrase that stands alone when there is
    nothing to compare ("no previous data vs previous" read as nonsense)."""
    if kpi.previous is None:
        return "no previous period to compare"
    if kpi.value is None:
        return DASH
    return f"{change(kpi)} vs previous"


FORMATS = {
    Unit.COUNT: count,
    Unit.RATIO: percent,
    Unit.USD: money,
    Unit.TOKENS: tokens,
    Unit.SECONDS: duration,
}
# Plotly (d3) formats for the same quantities on a chart's value axis, where a per-value rule cannot run.
AXIS = {Unit.USD: "$,.2f", Unit.RATIO: ".0%", Unit.COUNT: ",d", Unit.TOKENS: ",d", Unit.SECONDS: ",.1f"}
