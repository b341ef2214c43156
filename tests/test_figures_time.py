"""Tests: every chart whose x axis is time says it is UTC (on the axis and in the hover), since charts stay in
UTC whatever the local-time switch shows; charts of other axes are left alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from dashboard import figures

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)


def test_time_axes_say_utc() -> None:
    finished = pd.DataFrame(
        {"bucket": [NOW - timedelta(hours=2), NOW - timedelta(hours=1)], "status": ["completed", "failed"]}
    ).assign(count=[3, 1])
    created = pd.DataFrame({"bucket": [NOW - timedelta(hours=2)], "count": [4]})
    fig = figures.throughput(finished, created, (NOW - timedelta(hours=24), NOW))
    assert fig.layout.xaxis.title.text == "UTC"
    assert fig.layout.xaxis.hoverformat.endswith("UTC")


def test_other_axes_are_left_alone() -> None:
    top = pd.DataFrame({"key": ["gpt-4.1", "claude-opus-4-1"], "cost": [1.5, 3.0], "calls": [2, 3]})
    fig = figures.breakdown_bars(top, "model")
    assert fig.layout.xaxis.title.text == "USD" and fig.layout.xaxis.hoverformat is None
