"""Dashboard layer: plotly figures of the Agents page — cost per role, and failure rate and durations per role —
each a pure function of a `db.agents.roles` frame (unit-tested)."""

from __future__ import annotations

from html import escape

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.figures import ROLE_HEX, _layout, empty_figure

FALLBACK_HEX = "#6c757d"
FAILURE_HEX = "#dc3545"


def role_label(role: object) -> str:
    """A role name as plotly text. Plotly renders a subset of HTML in labels and decodes entities, so names
    (chosen by whoever reports the calls) are escaped to display exactly as written."""
    name = "" if role is None or pd.isna(role) else str(role)
    return escape(name, quote=False) if name else "(none)"


NO_CALLS = "no calls in this range"


def role_cost_bars(frame: pd.DataFrame, theme: str | None = None) -> go.Figure:
    """Horizontal bars of cost per role, most expensive on top, coloured like the task timeline's roles."""
    if frame.empty:
        return empty_figure(NO_CALLS, theme, height=260)
    top = frame.sort_values("cost", ascending=False, kind="stable").head(15).iloc[::-1]
    fig = go.Figure(
        go.Bar(
            x=top["cost"],
            y=[role_label(r) for r in top["role"]],
            orientation="h",
            marker_color=[ROLE_HEX.get(str(r), FALLBACK_HEX) for r in top["role"]],
            customdata=top[["calls", "failed"]].to_numpy(),
            hovertemplate="%{y}: $%{x:.4f} · %{customdata[0]} calls · %{customdata[1]} failed<extra></extra>",
        )
    )
    fig.update_layout(
        xaxis_title="USD",
        xaxis_tickprefix="$",
        xaxis_rangemode="tozero",
        yaxis_title="role",
        showlegend=False,
    )
    return _layout(fig, theme, height=max(260, 28 * len(top) + 80))


def role_quality(frame: pd.DataFrame, theme: str | None = None) -> go.Figure:
    """Two panels sharing the role axis: failure rate (% of finished calls) and call duration (avg and p95)."""
    if frame.empty:
        return empty_figure(NO_CALLS, theme)
    ordered = frame.sort_values("calls", ascending=False, kind="stable").head(15)
    labels = [role_label(r) for r in ordered["role"]]
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("failure rate", "call duration"), horizontal_spacing=0.12
    )
    fig.add_bar(
        x=labels,
        y=(ordered["failure_rate"] * 100).round(2),
        name="failure rate",
        marker_color=FAILURE_HEX,
        customdata=ordered[["failed", "finished"]].to_numpy(),
        hovertemplate="%{x}: %{y:.1f}% · %{customdata[0]} of %{customdata[1]} failed<extra></extra>",
        row=1,
        col=1,
    )
    for column, name, color in (("avg_s", "avg", "#0d6efd"), ("p95_s", "p95", "#6f42c1")):
        fig.add_bar(
            x=labels,
            y=ordered[column],
            name=name,
            marker_color=color,
            hovertemplate=f"%{{x}}: {name} %{{y:.1f}} s<extra></extra>",
            row=1,
            col=2,
        )
    fig.update_layout(barmode="group")
    fig.update_yaxes(title_text="%", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="seconds", rangemode="tozero", row=1, col=2)
    # The shared legend would sit on the panels' titles: lift it above them.
    return _layout(fig, theme).update_layout(margin={"t": 70}, legend={"y": 1.25})
