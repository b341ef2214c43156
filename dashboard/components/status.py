"""Dashboard layer: status badges, progress bars and the "possibly stuck" marker (pure)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import html

from dashboard.components.fmt import STATUS_COLORS, duration, missing
from db.core.timeutil import iso
from db.domain.liveness import possibly_stuck
from reports.fmt import ACTIVE, NO_ACTIVITY, STUCK


def status_badge(status: str) -> dbc.Badge:
    """The status's colour; its class (status-badge-<status>) gives a colour of its own its text colour."""
    return dbc.Badge(
        status.replace("_", " "),
        color=STATUS_COLORS.get(status, "light"),
        className=f"me-1 status-badge status-badge-{status}",
    )


def progress_bar(
    progress: float | None, iteration: int | None, max_iterations: int | None, status: str
) -> html.Div:
    """The bar is the task's reported percent and the label says the same number, so "iteration 2 of 2"
    never sits silently over a half-full bar; only a completed task reads as done (100 %), and a task that
    ended otherwise keeps the bar where it stopped and says so."""
    value = 0.0 if progress is None or missing(progress) else float(progress)
    if status == "completed":
        value = 100.0
    step = ""
    if max_iterations and not missing(max_iterations):
        step = f"iteration {int(0 if missing(iteration) else iteration or 0)} of {int(max_iterations)}"
    elif iteration and not missing(iteration):
        step = f"iteration {int(iteration)}"
    if status == "completed":
        label = f"done in {step}" if step else "done"
    elif status in ("failed", "timed_out", "cancelled"):
        where = f" in {step}" if step else ""
        label = f"{status.replace('_', ' ')}{where} at {value:.0f}%"
    else:
        label = f"{step} · {value:.0f}%" if step else f"{value:.0f}%"
    bar = dbc.Progress(
        value=value,
        color=STATUS_COLORS.get(status, "primary"),
        striped=status == "running",
        animated=status == "running",
        style={"height": "0.5rem"},
    )
    return html.Div([bar, html.Small(label, className="text-muted")], className="mt-1")


def stuck_marker(silence_s: float | None, threshold_s: float) -> dbc.Badge | None:
    """For a running task: nothing while it reports, a warning once it has been silent past the threshold."""
    if not possibly_stuck(silence_s, threshold_s):
        return None
    return dbc.Badge(
        STUCK.format(duration(silence_s)),
        color="warning",
        text_color="dark",
        className="ms-1 stuck-badge",
    )


def liveness(silence_s: float | None, threshold_s: float, last_activity: datetime | None = None) -> html.Span:
    """'active 2 s ago' or the stuck marker: the answer to "is it working or stuck?". The data attributes
    let assets/live.js keep the silence counting between pushes (a stuck task sends none)."""
    ticking: dict[str, Any] = (
        {"data-activity-at": iso(last_activity), "data-stuck-after": str(threshold_s)}
        if last_activity
        else {}
    )
    marker = stuck_marker(silence_s, threshold_s)
    if marker is not None:
        return html.Span(marker, className="liveness", **ticking)
    text = NO_ACTIVITY if silence_s is None else ACTIVE.format(duration(silence_s))
    return html.Span(html.Span(text, className="text-success small"), className="liveness", **ticking)


def elapsed(label: str, started: datetime | None, seconds: float | None) -> html.Span:
    """'elapsed 1m 05s', kept counting in the browser (data-since) between pushes."""
    ticking: dict[str, Any] = {"data-since": iso(started), "data-label": label} if started else {}
    text = f"{label} {duration(seconds)}" if label else duration(seconds)
    return html.Span(text, className="text-muted small", **ticking)


def ticking(seconds: float | None, since: datetime | None, suffix: str = "") -> html.Span:
    """A duration that keeps counting in the browser (assets/live.js updates every [data-since]); a fixed one
    when `since` is None."""
    attrs: dict[str, Any] = {"data-since": iso(since)} if since is not None and not missing(since) else {}
    return html.Span([html.Span(duration(seconds), **attrs), suffix])
