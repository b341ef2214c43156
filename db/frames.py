"""Data layer: result rows to a pandas DataFrame, fast."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd


def to_frame(rows: Iterable[Any], columns: Sequence[str]) -> pd.DataFrame:
    """Rows as plain tuples first: pandas probes every SQLAlchemy Row for array attributes, and each probe
    costs a KeyError raised and caught inside the Row — 100 ms for 9,000 rows, against 1 ms for tuples."""
    return pd.DataFrame([tuple(row) for row in rows], columns=list(columns))
