"""Dashboard layer: card pieces shared by pages (pure)."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import html


def level(card: dbc.Card, **widths: int) -> dbc.Col:
    """`card` in a stretching column it fills (h-100), the margin moved to the column: cards side by side end
    level, whatever each one's content (a 420 px chart beside a 300 px one, a table beside a one-line note,
    left a hole under the shorter). `widths`: the column's breakpoints (lg=6, …)."""
    card.className = "h-100"
    return dbc.Col(card, className="mb-3", **widths)


def header_with(title: str, control: Any) -> dbc.CardHeader:
    """A card header with its title on the left and a control (switch, radio items) on the right."""
    return dbc.CardHeader(
        html.Div([html.Span(title), control], className="d-flex justify-content-between align-items-center")
    )
