"""Data layer: cost and tokens per time bucket (day, week, month) and one dimension (model, role, provider,
kind, creator, tag) for the REST API — whole hours from usage_hourly where it keeps the dimension and the
scope's filters, the rest from the calls (db/rollcut.py), as the costs page reads them."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db import costs
from db.frames import to_frame
from db.rollcut import Split, bucket_hours, split
from db.scope import Scope
from db.sqlfuncs import bucket

COLUMNS = ["bucket", "key", "cost", "input", "output", "cache"]
U = costs.U
I = costs.I  # noqa: E741


def series(session: Session, scope: Scope, unit: str, dim: str) -> pd.DataFrame:
    """Columns bucket, key, cost, input, output, cache; ordered by bucket, then cost (highest first)."""
    if dim not in costs.BREAKDOWNS:
        raise ValueError(f"cannot group costs by {dim!r}")
    if dim == "model":
        frame = costs.over_time(session, scope, unit).rename(columns={"model": "key"})
        return _ordered(frame)
    cut = (
        split(session, scope, dims=("kind", "role", "model"))
        if dim in costs.ROLLED_DIMS
        else Split(None, (scope,))
    )
    frames = [_raw(session, part, unit, dim) for part in cut.raw]
    if cut.rolled is not None:
        key = costs.ROLLED_DIMS[dim]
        sums = [
            func.sum(U.cost_usd),
            func.sum(U.input_tokens),
            func.sum(U.output_tokens),
            func.sum(U.cache_read_tokens),
        ]
        rows = session.execute(
            costs._rolled(select(U.hour, key, *sums), scope, cut.rolled).group_by(U.hour, key)
        ).all()
        rolled = to_frame(rows, COLUMNS)
        rolled["bucket"] = bucket_hours(rolled["bucket"], unit)
        frames.insert(0, rolled)
    parts = [f for f in frames if not f.empty]
    if not parts:
        return pd.DataFrame(columns=COLUMNS)
    frame = pd.concat(parts).groupby(["bucket", "key"], as_index=False)[COLUMNS[2:]].sum()
    return _ordered(frame)


def _raw(session: Session, scope: Scope, unit: str, dim: str) -> pd.DataFrame:
    b = bucket(I.started_at, unit)
    key: Any = costs.BREAKDOWNS[dim]
    query = costs.scoped(
        select(
            b.label("bucket"),
            key,
            func.sum(I.cost_usd),
            func.sum(I.input_tokens),
            func.sum(I.output_tokens),
            func.sum(I.cache_read_tokens),
        ),
        scope,
    )
    if dim == "tag":
        query = query.join(costs.BREAKDOWN_TAGS, costs.BREAKDOWN_TAGS.c.task_id == costs.T.id)
    frame = to_frame(session.execute(query.group_by(b, key)).all(), COLUMNS)
    frame["bucket"] = pd.to_datetime(frame["bucket"])
    return frame


def _ordered(frame: pd.DataFrame) -> pd.DataFrame:
    frame["bucket"] = pd.to_datetime(frame["bucket"])
    return frame.sort_values(["bucket", "cost"], ascending=[True, False]).reset_index(drop=True)
