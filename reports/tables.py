"""Reports layer: the report's tables as headers and formatted text cells, and the order of its sections, shared
by the HTML and PDF renderers. Cells are plain text here; each renderer escapes them for its own format."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from db.read.task_view import TASKS
from db.read.views import Fmt
from db.reporting.queries import STUCK_FIELDS, report_name
from reports import fmt
from reports.model import Report

ERROR_SHOWN = 160  # characters of an error in a table (the CSV export has all of it)


@dataclass(frozen=True)
class Table:
    key: str
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: tuple[bool, ...]  # right-aligned columns
    empty_text: str = "Nothing in this period."


def _clip(text: Any, size: int = ERROR_SHOWN) -> str:
    if text is None or (isinstance(text, float) and pd.isna(text)):
        return ""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= size else flat[: size - 1] + "…"


# A column: the frame's column, how a cell reads, whether it is right-aligned, and its heading where HEADERS
# (or the column's name) does not give it.
Column = tuple[str, Callable[[Any], str], bool] | tuple[str, Callable[[Any], str], bool, str]


def _table(
    key: str,
    title: str,
    frame: pd.DataFrame,
    columns: Sequence[Column],
    empty_text: str = "Nothing in this period.",
) -> Table:
    rows = (
        tuple(
            tuple(c[1](row[i]) for i, c in enumerate(columns))
            for row in frame[[c[0] for c in columns]].itertuples(index=False, name=None)
        )
        if not frame.empty
        else ()
    )
    headers = tuple(
        c[3] if len(c) > 3 else _header(HEADERS.get(c[0], c[0].replace("_", " "))) for c in columns
    )
    return Table(key, title, headers, rows, tuple(c[2] for c in columns), empty_text)


def _task_field(name: str, cell: Callable[[Any], str] | None = None) -> Column:
    """A field of the tasks view (db/read/task_view.py) as a column: the frame's column by its report name,
    the cell in its format kind's style (reports/fmt.KINDS; text clipped), its heading."""
    field = TASKS[name]
    default = text if field.fmt is Fmt.TEXT else fmt.KINDS[field.fmt]
    return report_name(name), cell or default, field.fmt in fmt.NUMERIC, field.heading


def _header(text: str) -> str:
    return text[:1].upper() + text[1:]


HEADERS = {
    "task_id": "#",
    "p50_s": "p50",
    "p95_s": "p95",
    "avg_s": "avg",
    "avg_task_s": "avg task",
    "key": "",
    "cost": "spend",
    "failure_rate": "failure rate",
    "previous_failure_rate": "previous",
    "timed_out": "timed out",
    "success_rate": "success",
    "silent_s": "silent",
    "count": "tasks",
}


def error(v: Any) -> str:
    return _clip(v)


def ident(v: Any) -> str:
    return str(v)


def text(v: Any) -> str:
    return _clip(v, 120)


# Cells in the one style of reports/fmt.py (which reads NaN and NaT as missing too).
Cell = Callable[[Any], str]
num: Cell = fmt.count
ratio: Cell = fmt.percent
secs: Cell = fmt.duration
money: Cell = fmt.money
toks: Cell = fmt.tokens


def by_kind(r: Report) -> Table:
    cols = [("kind", text, False), ("created", num, True), ("completed", num, True), ("failed", num, True),
            ("timed_out", num, True), ("cancelled", num, True), ("success_rate", ratio, True),
            ("p50_s", secs, True), ("p95_s", secs, True)]  # fmt: skip
    return _table("by_kind", "Tasks by kind", r.by_kind, cols)


def by_status(r: Report) -> Table:
    return _table(
        "by_status",
        "Tasks created in the period by current status",
        r.by_status,
        [("status", text, False), ("count", num, True)],
    )


def cost_by(r: Report, dim: str) -> Table:
    cols = [("key", text, False), ("cost", money, True), ("share", ratio, True), ("calls", num, True),
            ("input", toks, True), ("output", toks, True), ("cache", toks, True)]  # fmt: skip
    table = _table(f"cost_by_{dim}", f"Spend by {dim}", r.cost_by[dim], cols, "No spend in this period.")
    return Table(
        table.key,
        table.title,
        (_header(dim), *table.headers[1:]),
        table.rows,
        table.numeric,
        table.empty_text,
    )


def top_tasks(r: Report) -> Table:
    cols = [("task_id", ident, True), ("title", text, False), ("kind", text, False), ("status", text, False),
            ("cost", money, True), ("calls", num, True)]  # fmt: skip
    return _table("top_tasks", "Most expensive tasks", r.top_tasks, cols, "No spend in this period.")


def roles(r: Report) -> Table:
    cols = [("role", text, False), ("calls", num, True), ("failed", num, True), ("failure_rate", ratio, True),
            ("previous_failure_rate", ratio, True), ("cost", money, True), ("avg_s", secs, True),
            ("p95_s", secs, True)]  # fmt: skip
    return _table("roles", "Agent roles", r.roles, cols, "No calls in this period.")


def workers(r: Report) -> Table:
    cols = [("name", text, False), ("id", text, False), ("status", text, False), ("done", num, True),
            ("failed", num, True), ("success_rate", ratio, True), ("avg_task_s", secs, True),
            ("utilization", ratio, True)]  # fmt: skip
    table = _table("workers", "Workers", r.workers, cols, "No worker finished a task in this period.")
    return Table(table.key, table.title, ("Worker", "Id", *table.headers[2:]), table.rows, table.numeric,
                 table.empty_text)  # fmt: skip


def failure_reasons(r: Report) -> Table:
    cols = [("status", text, False), ("reason", text, False), ("count", num, True)]
    return _table(
        "failure_reasons", "Failure reasons", r.failure_reasons, cols, "No failures in this period."
    )


def failed_tasks(r: Report) -> Table:
    shown = ("id", "title", "kind", "status", "failure_reason", "error_message", "completed_at", "attempt")
    cols = [_task_field(n, error if n == "error_message" else None) for n in shown]
    return _table("failed_tasks", "Failed and timed-out tasks (newest first)", r.failed_tasks, cols,
                  "No failures in this period.")  # fmt: skip


def stuck_tasks(r: Report) -> Table:
    cols = [*(_task_field(n) for n in STUCK_FIELDS), ("silent_s", secs, True)]
    return _table("stuck_tasks", f"Possibly stuck at {fmt.timestamp(r.as_of)}", r.stuck_tasks, cols,
                  "No running task is silent.")  # fmt: skip


def budgets(r: Report) -> Table:
    rows = tuple(
        (
            b.name,
            "all spend" if b.scope_kind == "all" else f"{b.scope_kind.replace('_', ' ')} {b.scope_value}",
            f"{b.period} from {b.period_start:%Y-%m-%d}",
            fmt.money(b.limit_usd),
            fmt.money(b.spent),
            fmt.money(b.projected),
            "OVER" if b.over else "projected over" if b.projected_over else "on track",
        )
        for b in r.budgets
    )
    return Table(
        "budgets",
        f"Budgets at {fmt.timestamp(r.as_of)}",
        ("Budget", "Scope", "Period", "Limit", "Spent", "Projected", "State"),
        rows,
        (False, False, False, True, True, True, False),
        "No budgets are set.",
    )


def alerts(r: Report) -> Table:
    rows = tuple(
        (
            a.metric,
            fmt.timestamp(a.at),
            fmt.money(a.value) if a.metric == "cost" else fmt.count(a.value),
            fmt.money(a.threshold) if a.metric == "cost" else f"{a.threshold:.1f}",
        )
        for a in r.alerts
    )
    return Table("alerts", "Spikes", ("Metric", "At", "Value", "Usual at most"), rows, (False, False, True, True),
                 "No spikes in failures or spend.")  # fmt: skip


def alerting(r: Report) -> Table:
    a = r.alerting
    ack = fmt.duration(a.mean_ack_s) if a.mean_ack_s is not None else "—"
    resolve = fmt.duration(a.mean_resolve_s) if a.mean_resolve_s is not None else "—"
    title = (
        f"{a.fired} fired, {a.acknowledged} acknowledged, {a.resolved} resolved; mean time to acknowledge "
        f"{ack}, to resolve {resolve}. Noisiest rules"
    )
    rows = tuple((rule, severity, fmt.count(n)) for rule, severity, n in a.noisiest)
    return Table(
        "alerting", title, ("Rule", "Severity", "Fired"), rows, (False, False, True), "No alert fired."
    )


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    items: tuple[str, ...]  # "chart:KEY" or "table:KEY"


SECTIONS = (
    Section("tasks", "Task completion", ("chart:volume", "chart:outcomes_by_kind", "table:by_kind",
                                         "table:by_status")),
    Section("costs", "Cost breakdown", ("chart:cost_over_time", "chart:cost_by_model", "table:cost_by_model",
                                        "chart:cost_by_role", "table:cost_by_role", "table:cost_by_kind",
                                        "table:cost_by_tag", "table:top_tasks")),
    Section("agents", "Agents and roles", ("chart:role_failures", "table:roles", "table:workers")),
    Section("failures", "Failures and notable events", ("table:failure_reasons", "table:failed_tasks",
                                                        "table:stuck_tasks", "table:budgets", "table:alerts")),
    Section("alerting", "Alerts in this period", ("table:alerting",)),
)  # fmt: skip


def tables(r: Report) -> dict[str, Table]:
    found = [by_kind(r), by_status(r), *(cost_by(r, d) for d in r.cost_by), top_tasks(r), roles(r), workers(r),
             failure_reasons(r), failed_tasks(r), stuck_tasks(r), budgets(r), alerts(r), alerting(r)]  # fmt: skip
    return {t.key: t for t in found}
