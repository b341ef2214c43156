"""Tests: charts fit the card they are drawn in, at a phone's width (390 px) as at a desktop's — empty states in
short lines, legends that grow away from the data, axis titles off the neighbouring panel, every bucket of a
range drawn whole, labels inside the figure."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pandas as pd
import plotly.graph_objects as go

from dashboard import figures, figures_agents, figures_database, figures_performance
from dashboard.figures import _layout
from db.analytics import agents

NOW = datetime(2026, 12, 4, 13, 5)  # naive UTC, as the database hands times back
QUALITY = pd.DataFrame(
    [
        ["builder", 2, 1, 0, 0.0, 2.25, 200, 20, 0, 100.0, 120.0],
        ["tester", 3, 3, 1, 1 / 3, 2.5, 300, 30, 0, 20.0, 25.0],
    ],
    columns=agents.ROLE_COLUMNS,
)


def _visible_lines(text: str) -> list[str]:
    """An annotation's lines as plotly draws them (tags dropped, entities as one character)."""
    plain = (
        re.sub(r"<(?!br>)[^>]+>", "", text).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    )
    return plain.split("<br>")


def test_the_empty_state_fits_a_phone_width_card() -> None:
    """At 390 px one centred line of 56 characters lost "a task" off the right edge of a chart with a 70 px
    left margin: the message and the hint come in short lines, with small margins (there are no axes)."""
    for message in (figures.NO_DATA, "this worker finished no task in this range"):
        fig = figures.empty_figure(message)
        lines = _visible_lines(fig.layout.annotations[0].text)
        assert all(len(line) <= figures.EMPTY_LINE for line in lines), lines
        assert " ".join(lines) == f"{message} {figures.START_HINT}"
        assert any("python app.py --demo" in line for line in lines)  # the command is never broken
        assert max(fig.layout.margin.l, fig.layout.margin.r) <= 10
    escaped = figures.empty_figure("<b>no</b> data", hint=False).layout.annotations[0].text
    assert escaped == "&lt;b&gt;no&lt;/b&gt; data"


def seven_models(prefix: str) -> pd.DataFrame:
    """A day's cost for each of seven models over a week: enough names to wrap a legend on a phone."""
    days = range(7)
    return pd.DataFrame(
        {
            "bucket": [NOW - timedelta(days=d) for d in days],
            "model": [f"{prefix}{d}" for d in days],
            "cost": 1.0,
        }
    )


def test_a_wrapping_legend_grows_up_from_the_top_of_the_plot() -> None:
    """A legend hung from y=1.12 by its top grew down over the bars when 7 models wrapped to 7 rows at 390 px;
    hung by its bottom just above the plot it grows upward, into the margin plotly widens for it."""
    spent = seven_models("m")
    for fig in (
        figures.cost_over_time(spent, (NOW - timedelta(days=7), NOW), "day"),
        _layout(go.Figure(go.Bar(x=["a"], y=[1], name="a")), None),
        figures_agents.role_quality(QUALITY),
    ):
        legend = fig.layout.legend
        assert (legend.yanchor, legend.xanchor, legend.x) == ("bottom", "left", 0), fig.layout.title
        assert 1 < legend.y < 1.15


def test_the_right_panel_of_role_quality_has_no_axis_title_over_the_left_panel() -> None:
    """At 390 px the duration panel's "seconds" y-axis title was drawn in the gap, over the failure panel's
    bars: the units are in the panels' titles and on the ticks."""
    fig = figures_agents.role_quality(QUALITY)
    assert fig.layout.yaxis.title.text is None and fig.layout.yaxis2.title.text is None
    assert (fig.layout.yaxis.ticksuffix, fig.layout.yaxis2.ticksuffix) == ("%", "s")
    assert [a.text for a in fig.layout.annotations] == ["failure rate (%)", "call duration (s)"]


def test_two_stacked_time_charts_title_only_the_bottom_axis() -> None:
    """The top chart of two_rows hides its tick labels (the axis is shared): a "UTC" title there was wedged
    between the panels, squashing the top one ("$0", "UTC" and "100" stacked)."""
    times = [NOW - timedelta(hours=h) for h in range(3)]
    traces = [
        {"type": "bar", "x": times, "y": [1, 2, 3], "xaxis": "x", "yaxis": "y"},
        {"type": "bar", "x": times, "y": [0, 1, 0], "xaxis": "x2", "yaxis": "y2"},
    ]
    fig = figures.built(traces, figures.two_rows(), None)
    assert (fig.layout.xaxis.title.text, fig.layout.xaxis2.title.text) == (None, "UTC")
    assert fig.layout.xaxis.hoverformat == fig.layout.xaxis2.hoverformat == figures.UTC_HOVER


def test_the_first_day_of_a_7_day_range_is_drawn_whole_and_both_cost_charts_agree() -> None:
    """Daily buckets sit at midnight but "last 7 days" starts at now − 7 days: from there the first day's bar
    (centred on midnight) was not drawn at all and the tokens line ran off the left edge. The axis starts half a
    bucket before the first bucket, on both charts of the card."""
    window = (NOW - timedelta(days=7), NOW)
    days = [pd.Timestamp(NOW - timedelta(days=d)).floor("D") for d in range(8)]
    spent = pd.DataFrame(
        {"bucket": days, "model": "m", "cost": 1.0, "input": 10, "output": 5, "cache": 0}
    ).sort_values("bucket")
    cost = figures.cost_over_time(spent, window, "day")
    tokens = figures.tokens_over_time(spent, window)
    start, end = (pd.Timestamp(t) for t in cost.layout.xaxis.range)
    half_bar = pd.Timedelta(milliseconds=cost.data[0].width / 2)
    assert start <= min(days) - half_bar and end >= max(days) + half_bar and end >= NOW
    assert start > min(days) - timedelta(days=1)  # no empty day before it
    assert tuple(tokens.layout.xaxis.range) == tuple(cost.layout.xaxis.range)
    hourly = figures.bucket_range((NOW - timedelta(hours=24), NOW), "hour")
    assert hourly == [
        pd.Timestamp(NOW - timedelta(hours=24)).floor("h") - timedelta(minutes=30),
        NOW + timedelta(minutes=25),
    ]
    weekly = figures.bucket_range((datetime(2026, 11, 27, 13), datetime(2026, 12, 4, 13)), "week")
    assert weekly[0] == pd.Timestamp(2026, 11, 23) - timedelta(
        days=3.5
    )  # weeks start on Monday, as in the db


def test_the_first_day_is_whole_on_the_performance_and_database_charts_too() -> None:
    """The same clipped first day on Performance ("success %" ran off the left edge) and Database (the event-log
    growth's first bar halved; writes and commit latency from the window's own start): every daily chart of a
    page starts half a day before its first day, as the Costs charts do."""
    window = (NOW - timedelta(days=7), NOW)
    days = [pd.Timestamp(NOW - timedelta(days=d)).floor("D") for d in range(8)][::-1]
    whole = figures.bucket_range(window, "day")
    outcomes = pd.DataFrame({"bucket": days, "kind": "demo", "status": "completed", "count": 3})
    latency = pd.DataFrame({"bucket": days, "p50_ms": 1.0, "p95_ms": 2.0, "commits": 10, "processes": 1})
    writes = pd.DataFrame({"bucket": days, "events": 60, "per_second": 1.0})
    growth = pd.DataFrame({"day": days, "events": 5, "cumulative": range(5, 45, 5)})
    charts = [
        figures_performance.outcomes_by_kind(outcomes, window, "day"),
        figures_database.commit_latency(latency, window),
        figures_database.writes_over_time(writes, writes.iloc[0:0], None, window, "day"),
        figures_database.event_growth(growth, window),
    ]
    for fig in charts:
        assert [pd.Timestamp(t) for t in fig.layout.xaxis.range] == whole
    assert whole[0] == min(days) - timedelta(hours=12)


def test_worker_throughput_counts_in_the_unit_of_its_buckets() -> None:
    """Over 7 days the worker page passes daily buckets: drawn per minute the axis read 0.01–0.05 tasks/min.
    The bars are the tasks finished in each bucket, the axis says per what."""
    for step, unit in (
        (timedelta(days=1), "day"),
        (timedelta(hours=1), "hour"),
        (timedelta(minutes=1), "minute"),
    ):
        minutes = step.total_seconds() / 60
        frame = pd.DataFrame(
            {"bucket": [NOW - step * i for i in (2, 1, 0)], "done": [40, 0, 72], "failed": [3, 0, 0]}
        )
        frame["done_per_minute"] = frame["done"] / minutes
        frame["failed_per_minute"] = frame["failed"] / minutes
        fig = figures_agents.worker_throughput(frame)
        assert fig.layout.yaxis.title.text == f"tasks / {unit}"
        assert [list(t.y) for t in fig.data] == [[40, 0, 72], [3, 0, 0]]
        assert f"tasks / {unit}" in fig.data[0].hovertemplate


def _task(queued_s: float, run_s: float) -> tuple[pd.DataFrame, pd.DataFrame, datetime]:
    """A task queued `queued_s` before its first call, then two calls over `run_s`, then failed."""
    start = NOW + timedelta(seconds=queued_s)
    calls = pd.DataFrame(
        {
            "role": ["analyst", "tester"],
            "model": ["m", "m"],
            "status": ["completed", "failed"],
            "started_at": [start, start + timedelta(seconds=run_s / 2)],
            "completed_at": [start + timedelta(seconds=run_s / 2), start + timedelta(seconds=run_s)],
        }
    )
    moves = pd.DataFrame(
        {
            "at": [NOW, start, start + timedelta(seconds=run_s)],
            "from_status": [None, "queued", "running"],
            "to_status": ["queued", "running", "failed"],
        }
    )
    return calls, moves, start + timedelta(seconds=run_s)


def test_the_timeline_labels_are_not_cut_off() -> None:
    """The labels "queued", "completed", "failed" above the top row were clipped at the plot's edges at every
    width: they draw past the plot, and the axis has room on both sides of the first and last moments."""
    calls, moves, end = _task(queued_s=10, run_s=20)
    fig = figures.task_timeline(calls, moves, end)
    marks = next(t for t in fig.data if t.type == "scatter")
    assert marks.cliponaxis is False and list(marks.text) == ["queued", "running", "failed"]
    left, right = (pd.Timestamp(t) for t in fig.layout.xaxis.range)
    assert left < pd.Timestamp(NOW) and right > pd.Timestamp(end)
    assert not fig.layout.shapes and not fig.layout.annotations  # a short wait: drawn to scale


def test_a_long_queue_wait_is_folded_so_the_calls_are_readable() -> None:
    """A 5-minute wait before a 20-second run left the calls as slivers in the rightmost 3 % of the axis: the
    axis spans the run, and the wait is a band off its left edge with its length as a label."""
    calls, moves, end = _task(queued_s=300, run_s=20)
    fig = figures.task_timeline(calls, moves, end)
    left, right = (pd.Timestamp(t) for t in fig.layout.xaxis.range)
    run = pd.Timestamp(calls["started_at"].min())
    assert left < run and (run - left) < (right - left) * 0.1  # the calls fill ~90 % of the axis
    assert [a.text for a in fig.layout.annotations] == ["◀ queued 5m 00s"]
    (band,) = fig.layout.shapes
    assert pd.Timestamp(band.x0) == pd.Timestamp(NOW) and pd.Timestamp(band.x1) == run
    marks = next(t for t in fig.data if t.type == "scatter")
    assert list(marks.text) == ["running", "failed"]  # the queued mark is off the axis
    # Below the wait's label; each from its marker inward (a centred label ran past the axis' ends).
    assert list(marks.textposition) == ["bottom right", "top left"]


def test_transition_labels_close_together_keep_clear_of_each_other_and_the_state_label() -> None:
    """At 390 px "queued" and "running", a second apart at the start of a 60-second run, were centred on their
    markers: "queued" ran left of the axis into the "state" tick label and "running" into "queued". A label
    that would cross an end of the axis starts at its marker and runs inward, and close labels go above and
    below in turn."""
    calls, moves, end = _task(queued_s=1, run_s=60)
    fig = figures.task_timeline(calls, moves, end)
    marks = next(t for t in fig.data if t.type == "scatter")
    assert list(marks.text) == ["queued", "running", "failed"]
    assert list(marks.textposition) == ["top right", "bottom right", "top left"]
    # Each label's estimated reach (a phone's character width) stays inside the axis.
    left, right = (pd.Timestamp(t) for t in fig.layout.xaxis.range)
    for at, text, place in zip(marks.x, marks.text, marks.textposition, strict=True):
        x, width = (pd.Timestamp(at) - left) / (right - left), len(text) * figures.LABEL_CHAR
        start = {"right": x, "left": x - width, "center": x - width / 2}[place.split()[1]]
        assert start >= 0 and start + width <= 1, (text, place)


def test_a_label_with_no_room_is_left_to_the_hover_and_the_latest_state_is_always_labelled() -> None:
    """Three transitions within a few per cent of the axis cannot all be labelled: the latest state is (they
    are placed from the latest back), the one before goes to the other side, and the earliest shows in the
    hover only."""
    texts, places = figures.transition_labels(["queued", "running", "failed"], [0.05, 0.06, 0.07])
    assert texts == ["", "running", "failed"]
    assert places[1:] == ["bottom right", "top right"]
    # With room, every label shows; a folded wait's label above the left end sends the first one below.
    texts, places = figures.transition_labels(["running", "completed"], [0.05, 0.95], taken=16)
    assert texts == ["running", "completed"] and places == ["bottom right", "top left"]


def test_a_wrapping_legend_takes_at_most_three_rows() -> None:
    """At 390 px each of Costs' 7 model names takes a legend row of its own: plotly lets a horizontal legend
    take half the figure's height, which left ~110 px of the 320 px chart to the bars. Three rows show, the rest
    scroll (measured in Chromium at a 334 px card: 112 px of plot before, 189 px after)."""
    spent = seven_models("claude-sonnet-4-")
    for fig in (
        figures.cost_over_time(spent, (NOW - timedelta(days=7), NOW), "day"),
        figures_agents.role_quality(QUALITY),
    ):
        cap = fig.layout.legend.maxheight
        assert cap is not None and 30 <= cap <= 3 * 22  # px: three rows of 11–12 px text, plotly's minimum 30
        assert cap <= 0.25 * fig.layout.height


def test_bar_labels_stand_off_the_bars_and_amounts_have_separators() -> None:
    """Costs' "by model" labels touched their bars; the tool-calls axis read "1000" and the cost axes "$1000"
    (plotly writes no thousands separator below 10,000)."""
    from dashboard.figures import count_axis

    by_model = figures.breakdown_bars(
        pd.DataFrame({"key": ["gpt-4.1", "claude-sonnet-4-5"], "cost": [300.0, 1200.0], "calls": [30, 90]}),
        "model",
    )
    tools = figures_performance.tool_bars(
        pd.DataFrame({"tool": ["bash", "grep"], "calls": [1400, 120], "share": [0.92, 0.08]})
    )
    roles = figures_agents.role_cost_bars(QUALITY)
    for fig in (by_model, tools, roles):
        assert fig.data[0].orientation == "h"
        assert fig.layout.yaxis.ticklabelstandoff >= 6, fig.layout.yaxis  # a gap between label and bar
    assert tools.layout.xaxis.tickformat == ",d"  # "1,000", whole calls
    spent = pd.DataFrame({"bucket": [NOW], "model": ["m"], "cost": [1200.0]})
    over_time = figures.cost_over_time(spent, (NOW - timedelta(days=1), NOW), "hour")
    for axis in (by_model.layout.xaxis, roles.layout.xaxis, over_time.layout.yaxis):
        assert axis.tickformat == "," and axis.tickprefix == "$"  # "$1,000", cents kept below a dollar
    assert count_axis(3)["dtick"] == 1 and "dtick" not in count_axis(1400)


def test_the_cost_legend_lists_the_most_expensive_model_first() -> None:
    """Plotly lists a stacked bar chart's legend in reverse (the cheapest model first): with the legend capped at
    three rows on a phone, the three cheapest showed and the models that cost most had to be scrolled to."""
    spent = pd.DataFrame(
        {"bucket": [NOW] * 3, "model": ["cheap", "dear", "middling"], "cost": [0.1, 9.0, 1.0]}
    )
    fig = figures.cost_over_time(spent, (NOW - timedelta(days=1), NOW), "hour")
    assert [t.name for t in fig.data] == ["dear", "middling", "cheap"]
    assert fig.layout.legend.traceorder == "normal"
    assert fig.layout.legend.maxheight == figures.LEGEND_ROWS_PX and fig.layout.legend.yanchor == "bottom"


def test_costs_fade_the_partial_first_and_last_buckets_as_performance_does() -> None:
    """Performance faded the buckets a range covers only in part (the first, from the range's start; the one
    in progress) and Costs drew them full, so a 7-day range's first and last days read as falls in spend: Costs'
    bars are faded by the same rule and opacity, on every model's trace."""
    window = (NOW - timedelta(days=7), NOW)  # 13:05 to 13:05: the first and the last day partial
    days = [datetime(2026, 11, 27) + timedelta(days=d) for d in range(8)]
    spent = pd.DataFrame({"bucket": days * 2, "model": ["a"] * 8 + ["b"] * 8, "cost": [2.0] * 8 + [1.0] * 8})
    cost = figures.cost_over_time(spent, window, "day")
    faded = [figures.PARTIAL_OPACITY] + [1.0] * 6 + [figures.PARTIAL_OPACITY]
    for trace in cost.data:
        assert list(trace.marker.opacity) == faded, trace.name
    # Performance's bars over the same buckets, their `complete` as db.analytics.volume marks it.
    volume = pd.DataFrame({"bucket": days, "created": 5})
    volume["complete"] = (volume["bucket"] >= window[0]) & (volume["bucket"] + timedelta(days=1) <= window[1])
    created = figures_performance.volume_forecast(volume, None, "day")
    assert list(created.data[0].marker.opacity) == faded
    # Whole days (a window from midnight to midnight) are drawn full; months end where the calendar says.
    whole = figures.cost_over_time(spent, (days[0], days[-1] + timedelta(days=1)), "day")
    assert list(whole.data[0].marker.opacity) == [1.0] * 8
    months = [datetime(2026, m, 1) for m in (1, 2, 3)]
    assert figures.bucket_complete(months, (months[0], datetime(2026, 3, 31)), "month") == [True, True, False]
