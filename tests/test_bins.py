"""Tests: db/analytics/bins.py — the SQL bin expression puts a value in the same bin as bin_of on SQLite and PostgreSQL
(on the edges, just below them, at zero, below zero and far above the last edge), every display bin is a sum
of whole fine bins, and estimate() reads percentiles back from bin counts: exact extremes with a floor and a
ceiling, None for nothing, within 2 % on 50,000 log-normal values, never decreasing as pct grows."""

from __future__ import annotations

import itertools
import math
import random
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Float, Integer, literal, select, union_all
from sqlalchemy.orm import Session

from db.analytics import bins
from db.core.engine import Database
from db.core.sqlfuncs import seconds_between
from db.core.timecol import UtcDateTime

EDGES = bins.EDGES
LAST = bins.LAST_BIN


def edge_values() -> list[float]:
    """Every edge, the float just below it, a microsecond below it, the middle of each bin, zero, negative
    values, and values far beyond the last edge."""
    out = [0.0, -0.0, -1e-9, -1.0, -1e9, 1e-300, 5e-3, 1e6 * 1.25, 1e7, 1e12, 1e300, math.inf]
    for n, edge in enumerate(EDGES):
        out += [edge, math.nextafter(edge, -math.inf), edge - 1e-6]
        if n:
            out.append((EDGES[n - 1] * edge) ** 0.5)
    return out


def test_edges_are_sorted_and_hold_every_display_edge() -> None:
    assert list(EDGES) == sorted(set(EDGES)) and EDGES[0] == 0.01 and EDGES[-1] == 1e6
    assert set(map(float, bins.DISPLAY_EDGES)) <= set(EDGES)
    # About ten a decade: no step wider than the rounded R10 step 1.25 → 1.6.
    assert max(b / a for a, b in itertools.pairwise(EDGES)) == pytest.approx(1.28)
    assert len(EDGES) == LAST


def test_bin_of_by_hand() -> None:
    assert [bins.bin_of(v) for v in (-5.0, 0.0, 0.00999, 0.01, 0.0125, 1e6 - 1e-3, 1e6, 1e9)] == [
        0,
        0,
        0,
        1,
        2,
        LAST - 1,
        LAST,
        LAST,
    ]
    # A value exactly on an edge opens the bin that edge starts: [EDGES[n-1], EDGES[n]) is bin n.
    for n, edge in enumerate(EDGES):
        assert bins.bin_of(edge) == n + 1
        assert bins.bin_of(math.nextafter(edge, -math.inf)) == n
        assert bins.bounds(n + 1)[0] == edge


def binned(s: Session, rows: list[tuple[Any, ...]], value: Callable[..., Any]) -> dict[int, int]:
    """{n: bin} of `value(*columns)` over rows (n, …) sent as a UNION ALL of one-row selects, in chunks
    (SQLite allows 500 terms in a compound select; it has no VALUES … AS t(a, b))."""
    types: dict[type, Any] = {datetime: UtcDateTime(), float: Float(), int: Integer()}
    got: dict[int, int] = {}
    for at in range(0, len(rows), 200):
        one = [
            select(*(literal(x, types[type(x)]).label(f"c{i}") for i, x in enumerate(row)))
            for row in rows[at : at + 200]
        ]
        t = union_all(*one).subquery()
        cols = list(t.c)
        got.update(dict(s.execute(select(cols[0], bins.bin_index(value(*cols[1:])))).all()))
    return got


def test_sql_bin_index_agrees_with_bin_of(db: Database) -> None:
    """Every awkward value through the nested CASE: it compares floats with the same literals on both
    databases."""
    wanted = edge_values()
    with db.reading() as s:
        got = binned(s, [(n, v) for n, v in enumerate(wanted)], lambda v: v)
    mismatches = [(v, got[n], bins.bin_of(v)) for n, v in enumerate(wanted) if got[n] != bins.bin_of(v)]
    assert mismatches == []
    assert len(got) == len(wanted)


def test_sql_bin_index_of_a_literal(db: Database) -> None:
    with db.reading() as s:
        for v in (0.0, 60.0, math.nextafter(60.0, 0.0), 86_400.0, 1e12, -3.0):
            assert s.scalar(select(bins.bin_index(literal(v, Float)))) == bins.bin_of(v), v


def test_durations_between_timestamps_bin_like_bin_of(db: Database) -> None:
    """The rollups bin seconds_between(started_at, completed_at). A run of exactly 60 s must land in the bin
    60 s opens (display "1m–2m"), and one a microsecond shorter in the bin below, on both databases (SQLite
    keeps integer microseconds, db/core/timecol.py)."""
    tick = 1e-6
    start = datetime(2026, 3, 10, 7, 0, 10)
    wanted = [edge for edge in EDGES if edge >= 0.01]
    wanted += [edge - tick for edge in wanted]
    rows = [(n, start, start + timedelta(seconds=v)) for n, v in enumerate(wanted)]
    with db.reading() as s:
        got = binned(s, rows, seconds_between)
    # timedelta keeps microseconds, so the intended value is the one rounded to a microsecond.
    mismatches = [
        (round(v, 6), got[n], bins.bin_of(round(v, 6)))
        for n, v in enumerate(wanted)
        if got[n] != bins.bin_of(round(v, 6))
    ]
    assert mismatches == []


def test_display_bin_is_a_union_of_whole_fine_bins() -> None:
    def shown(v: float) -> int:  # the duration histogram's own rule: how many display edges are ≤ v
        return sum(1 for e in bins.DISPLAY_EDGES if e <= v)

    for n in range(LAST + 1):
        lo, hi = bins.bounds(n)
        inside = [lo, (lo * hi) ** 0.5, math.nextafter(hi, 0.0)] if n else [0.0, 0.005, 0.00999]
        assert {shown(v) for v in inside} == {bins.display_bin(n)}, n
    assert bins.display_bin(0) == 0 and bins.display_bin(LAST) == len(bins.DISPLAY_EDGES)
    # By hand: 0.5 s is below the first display edge, 1 s opens "1s–2s", 60 s opens "1m–2m" (display bin 7),
    # 86,400 s opens the last, open-ended bin; each display bin takes consecutive fine bins.
    assert [
        bins.display_bin(bins.bin_of(v)) for v in (0.5, 1.0, 1.99, 59.9, 60.0, 86_399.0, 86_400.0, 1e7)
    ] == [
        0,
        1,
        1,
        6,
        7,
        15,
        16,
        16,
    ]
    mapped = [bins.display_bin(n) for n in range(LAST + 1)]
    assert mapped == sorted(mapped) and set(mapped) == set(range(len(bins.DISPLAY_EDGES) + 1))


def test_rank_matches_the_sql_nearest_rank() -> None:
    assert [bins.rank(4, p) for p in (0, 25, 50, 95, 100)] == [1, 1, 2, 3, 4]
    assert [bins.rank(1, p) for p in (0, 50, 100)] == [1, 1, 1]
    for n in (1, 2, 3, 7, 100, 50_000):
        for p in range(101):
            assert bins.rank(n, p) == (n - 1) * p // 100 + 1


def counts_of(data: list[float]) -> dict[int, int]:
    return dict(Counter(bins.bin_of(v) for v in data))


def exact(data: list[float], pct: int) -> float:
    return sorted(data)[bins.rank(len(data), pct) - 1]


def test_estimate_nothing_is_none() -> None:
    assert bins.estimate({}, 50) is None
    assert bins.estimate({}, 100, floor=1.0, ceiling=2.0) is None
    assert bins.estimate({5: 0, 9: 0}, 50) is None


def test_estimate_extremes_are_exact_with_floor_and_ceiling() -> None:
    data = [0.0042, 0.7, 1.3, 2.2, 2.3, 45.0, 3_600.5, 2e6]  # below the first edge and above the last too
    counts = counts_of(data)
    lo, hi = min(data), max(data)
    assert bins.estimate(counts, 0, lo, hi) == lo and bins.estimate(counts, 100, lo, hi) == hi
    # Without them, p0 and p100 are somewhere in the smallest and largest value's bins.
    first, last = bins.bounds(bins.bin_of(lo)), bins.bounds(bins.bin_of(hi))
    p0, p100 = bins.estimate(counts, 0), bins.estimate(counts, 100)
    assert p0 is not None and first[0] <= p0 <= first[1]
    assert p100 is not None and last[0] <= p100 <= last[1]
    # One value: every percentile is that value once the floor and ceiling narrow its bin to it.
    for v in (0.0, 0.003, 1.0, 61.0, 1.1e6):
        assert [bins.estimate(counts_of([v]), p, v, v) for p in (0, 1, 50, 95, 100)] == [v] * 5
    # A lone value without them reads back as its bin's geometric middle.
    assert bins.estimate(counts_of([61.0]), 50) == pytest.approx((60 * 63) ** 0.5)


def test_estimate_stays_within_floor_and_ceiling_in_the_open_last_bin() -> None:
    for data in ([5e6], [2e6, 3e6, 4e6]):
        counts, lo, hi = counts_of(data), min(data), max(data)
        got = [bins.estimate(counts, p, lo, hi) for p in range(101)]
        assert all(lo <= v <= hi for v in got if v is not None), got[:3]


def test_estimate_within_half_a_bin() -> None:
    data = [10.0] * 17 + [63.5, 69.6, 500.0]
    assert exact(data, 95) == 69.6
    assert bins.estimate(counts_of(data), 95) == pytest.approx(69.6, rel=0.13)


def test_estimate_within_two_percent_of_exact_on_lognormal() -> None:
    rng = random.Random(20260310)
    data = [rng.lognormvariate(math.log(60), 1.6) for _ in range(50_000)]
    counts = counts_of(data)
    lo, hi = min(data), max(data)
    for pct in (1, 5, 10, 25, 50, 75, 90, 95, 99):
        got = bins.estimate(counts, pct, lo, hi)
        assert got == pytest.approx(exact(data, pct), rel=0.02), pct
        assert bins.estimate(counts, pct) == pytest.approx(exact(data, pct), rel=0.02), pct
    assert bins.estimate(counts, 0, lo, hi) == lo and bins.estimate(counts, 100, lo, hi) == hi


@pytest.mark.parametrize(
    "data",
    [
        [random.Random(7).lognormvariate(0, 2.5) for _ in range(5_000)],
        [1.0, 1.0, 1.0, 1.1, 59.0, 60.0, 60.0, 61.0, 1e6, 3e6],  # ties, edges, the open last bin
        [0.0, 0.0, 0.002, 0.009, 0.02],  # the open first bin, zeros
        [42.0],
    ],
    ids=["lognormal", "ties", "tiny", "one"],
)
def test_estimate_is_monotonic_in_pct(data: list[float]) -> None:
    counts = counts_of(data)
    for floor, ceiling in ((None, None), (min(data), max(data))):
        got = [bins.estimate(counts, p, floor, ceiling) for p in range(101)]
        assert all(v is not None for v in got)
        assert got == sorted(got), (floor, ceiling)  # type: ignore[type-var]
        if floor is not None:
            assert got[0] == floor and got[-1] == ceiling
            assert all(floor <= v <= ceiling for v in got)  # type: ignore[operator]


def test_merge_adds_counts() -> None:
    assert bins.merge([(3, 2), (4, 1)], [(3, 5)], []) == {3: 7, 4: 1}
    assert bisect_right(bins.DISPLAY_EDGES, 60) == 7  # the display bin 60 s opens
