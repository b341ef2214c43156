"""Reports layer: which charts a report shows, as plain specs (categories, series, colours) derived from its
frames, so the HTML (plotly) and PDF (reportlab) renderers draw the same charts from the same numbers."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import pandas as pd

from reports.model import Report, Unit

STATUS_COLORS = {
    "completed": "#198754",
    "failed": "#dc3545",
    "timed_out": "#ffc107",
    "cancelled": "#6c757d",
}
PALETTE = ("#0d6efd", "#6f42c1", "#20c997", "#fd7e14", "#0dcaf0", "#d63384", "#6c757d")
MAX_SERIES = 6  # more models than this are summed into "other"
MAX_BARS = 12


class ChartKind(StrEnum):
    BARS = "bars"  # vertical, grouped
    STACKED = "stacked"  # vertical, stacked
    HBARS = "hbars"  # horizontal, grouped
    HSTACKED = "hstacked"  # horizontal, stacked


@dataclass(frozen=True)
class Series:
    name: str
    values: tuple[float, ...]
    color: str


@dataclass(frozen=True)
class Chart:
    key: str
    title: str
    kind: ChartKind
    categories: tuple[str, ...]
    series: tuple[Series, ...]
    unit: Unit

    @property
    def empty(self) -> bool:
        return not self.categories or not any(v for s in self.series for v in s.values)


def bucket_label(at: pd.Timestamp, unit: str) -> str:
    return str(at.strftime("%H:%M") if unit in ("hour", "minute") else at.strftime("%b %d"))


def _values(column: pd.Series) -> tuple[float, ...]:
    return tuple(float(v) for v in column.fillna(0.0))


def volume(report: Report) -> Chart:
    frame = report.volume
    labels = tuple(bucket_label(pd.Timestamp(b), report.volume_unit) for b in frame["bucket"])
    return Chart(
        "volume",
        f"Tasks per {report.volume_unit}",
        ChartKind.BARS,
        labels,
        (
            Series("created", _values(frame["created"]), PALETTE[0]),
            Series("finished", _values(frame["finished"]), STATUS_COLORS["completed"]),
            Series("failed or timed out", _values(frame["failed"]), STATUS_COLORS["failed"]),
        ),
        Unit.COUNT,
    )


def cost_over_time(report: Report) -> Chart:
    """Spend per bucket stacked by model: the most expensive models by name, the rest as "other"."""
    frame = report.cost_over_time
    buckets = sorted(pd.Timestamp(b) for b in frame["bucket"].unique())
    unit = report.volume_unit
    top = list(report.cost_by["model"]["key"].head(MAX_SERIES))
    named = frame.assign(model=frame["model"].where(frame["model"].isin(top), "other"))
    wide = named.pivot_table(index="bucket", columns="model", values="cost", aggfunc="sum", fill_value=0.0)
    wide.index = pd.to_datetime(wide.index)
    wide = wide.reindex(buckets, fill_value=0.0)
    order = [m for m in [*top, "other"] if m in wide.columns]
    return Chart(
        "cost_over_time",
        f"Spend per {unit} by model",
        ChartKind.STACKED,
        tuple(bucket_label(b, unit) for b in buckets),
        tuple(
            Series(str(m) or "(none)", _values(wide[m]), PALETTE[n % len(PALETTE)])
            for n, m in enumerate(order)
        ),
        Unit.USD,
    )


def cost_by(report: Report, dim: str) -> Chart:
    frame = report.cost_by[dim].head(MAX_BARS)
    return Chart(
        f"cost_by_{dim}",
        f"Spend by {dim}",
        ChartKind.HBARS,
        tuple(str(k) or "(none)" for k in frame["key"]),
        (Series("spend", _values(frame["cost"]), PALETTE[0]),),
        Unit.USD,
    )


def outcomes_by_kind(report: Report) -> Chart:
    frame = report.by_kind
    return Chart(
        "outcomes_by_kind",
        "Outcomes by kind",
        ChartKind.HSTACKED,
        tuple(str(k) for k in frame["kind"]),
        tuple(Series(s, _values(frame[s]), c) for s, c in STATUS_COLORS.items()),
        Unit.COUNT,
    )


def role_failures(report: Report) -> Chart:
    frame = report.roles.head(MAX_BARS)
    return Chart(
        "role_failures",
        "Failure rate by role (this period and the previous)",
        ChartKind.HBARS,
        tuple(str(r) or "(none)" for r in frame["role"]),
        (
            Series("this period", _values(frame["failure_rate"]), STATUS_COLORS["failed"]),
            Series("previous", _values(frame["previous_failure_rate"]), "#adb5bd"),
        ),
        Unit.RATIO,
    )


def charts(report: Report) -> dict[str, Chart]:
    """Every chart of the report by key (renderers place them by key in their sections)."""
    found = [
        volume(report),
        outcomes_by_kind(report),
        cost_over_time(report),
        cost_by(report, "model"),
        cost_by(report, "role"),
        role_failures(report),
    ]
    return {c.key: c for c in found}
