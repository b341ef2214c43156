"""Data layer: result rows to a pandas DataFrame, fast."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd


def to_frame(rows: Iterable[Any], columns: Sequence[str]) -> pd.DataFrame:
    """Rows as plain tuples first: pandas probes every SQLAlchemy Row for array attributes, and each probe
    costs a KeyError raised and caught inside the Row — 100 ms for 9,000 rows, against 1 ms for tuples."""
    return pd.DataFrame([tuple(row) for row in rows], columns=list(columns))


def add_up(frames: Iterable[pd.DataFrame], keys: Sequence[str], columns: Sequence[str]) -> pd.DataFrame:
    """Rows read from a rollup and from the raw edges of a range, added up per key (sorted by key); an empty
    frame with those columns when there are none."""
    parts = [f for f in frames if not f.empty]
    if not parts:
        return pd.DataFrame(columns=[*keys, *columns])
    return (
        pd.concat(parts, ignore_index=True)
        .groupby(list(keys), as_index=False, sort=True)[list(columns)]
        .sum()
    )
