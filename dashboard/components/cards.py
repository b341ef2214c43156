"""Dashboard layer: card pieces shared by pages (pure)."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import html


def header_with(title: str, control: Any) -> dbc.CardHeader:
    """A card header with its title on the left and a control (switch, radio items) on the right."""
    return dbc.CardHeader(
        html.Div([html.Span(title), control], className="d-flex justify-content-between align-items-center")
    )
