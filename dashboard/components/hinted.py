"""Dashboard layer (component): a text field whose placeholder is kept short enough for its box, with the whole
hint as its accessible name (a visually hidden label) and as a tooltip (the wrapper's title: dbc.Input takes
no title of its own)."""

from __future__ import annotations

from typing import Any

from dash import html


def hinted(field: Any, hint: str) -> html.Div:
    """`field` (a dbc.Input with an id) with `hint` said in full: read by screen readers, shown on hover."""
    return html.Div([html.Label(hint, htmlFor=field.id, className="visually-hidden"), field], title=hint)
