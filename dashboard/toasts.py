"""Dashboard layer: the "task finished" toasts (pure) — drawn from the plan that assets/live.js keeps: the single
toasts still up (at most three), or one summary of a burst with counts by outcome and a link to the tasks table
filtered by those outcomes.

The plan is kept in the browser, not here: each plan describes the whole stack, so when Dash drops a callback
call that a newer push overtook, nothing is lost (a stack kept in a store and patched per push lost finishes
that way)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import dash_bootstrap_components as dbc
from dash import dcc, html

SHOW_MS = 6000  # assets/live.js's SHOW_MS: how long a toast stays up
OUTCOMES = ("completed", "failed", "timed_out", "cancelled")  # the summary's order, and the link's
ICONS = {"completed": "success", "failed": "danger", "timed_out": "warning", "cancelled": "secondary"}


@dataclass(frozen=True)
class Single:
    task_id: int
    to: str
    key: str  # stable while the toast is up, so a redraw keeps it (and its timer) in place
    ms_left: int


def singles_of(plan: dict[str, Any] | None) -> list[Single]:
    """The single toasts a plan asks for, malformed entries left out."""
    out = []
    for item in (plan or {}).get("finished") or []:
        task_id = item.get("task_id") if isinstance(item, dict) else None
        if not isinstance(task_id, int) or isinstance(task_id, bool):
            continue
        left = item.get("ms_left")
        ms_left = int(left) if isinstance(left, int | float) and 0 < left <= SHOW_MS else SHOW_MS
        out.append(Single(task_id, str(item.get("to")), str(item.get("key") or task_id), ms_left))
    return out


def counts_of(plan: dict[str, Any] | None) -> dict[str, int]:
    """A summary's counts by outcome (empty: no summary)."""
    counts = (plan or {}).get("counts")
    if not isinstance(counts, dict):
        return {}
    return {str(k): int(v) for k, v in counts.items() if isinstance(v, int) and v > 0}


def single_toast(item: Single, title: str) -> dbc.Toast:
    return dbc.Toast(
        [
            html.Div(title, className="text-break"),
            dcc.Link("open", href=f"/tasks/{item.task_id}", className="small"),
        ],
        id=f"finish-{item.key}",
        header=f"Task #{item.task_id} {item.to.replace('_', ' ')}",
        icon=ICONS.get(item.to, "info"),
        # What is left of its time: a redraw (another finish) neither cuts it short nor starts it over.
        duration=item.ms_left,
        dismissable=True,
        className="mb-2",
    )


def summary_href(counts: dict[str, int]) -> str:
    statuses = [s for s in OUTCOMES if counts.get(s)] + sorted(s for s in counts if s not in OUTCOMES)
    return "/tasks?" + urlencode([("status", s) for s in statuses])


def summary_toast(counts: dict[str, int]) -> dbc.Toast:
    total = sum(counts.values())
    order = [s for s in OUTCOMES if counts.get(s)] + sorted(s for s in counts if s not in OUTCOMES)
    bad = counts.get("failed") or counts.get("timed_out")
    return dbc.Toast(
        [
            html.Div(" · ".join(f"{counts[s]} {s.replace('_', ' ')}" for s in order)),
            dcc.Link("show them in the table", href=summary_href(counts), className="small"),
        ],
        # A new id per count remounts the toast (Dash keys children by id), so each update shows for SHOW_MS
        # again: dbc's timer starts when a toast opens, not when its props change.
        id=f"finish-summary-{total}",
        header=f"{total} tasks finished",
        icon="danger" if bad else "success",
        duration=SHOW_MS,
        dismissable=True,
        className="mb-2",
    )


def render(plan: dict[str, Any] | None, titles: dict[int, str]) -> list[dbc.Toast]:
    counts = counts_of(plan)
    if counts:
        return [summary_toast(counts)]
    return [single_toast(s, titles.get(s.task_id, "")) for s in singles_of(plan)]
