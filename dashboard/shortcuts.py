"""Dashboard layer: the keyboard shortcuts (pure) — the `g` + letter table that assets/keys.js reads from a
store, and the `?` dialog listing every shortcut."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html
from dash.development.base_component import Component

from dashboard import ids

# g then a letter: the page it opens (the letters Grafana and GitHub users expect where they fit).
GO = (
    ("o", "/", "Overview"),
    ("t", "/tasks", "Tasks"),
    ("l", "/calls", "Calls"),  # l for list: c is Costs
    ("c", "/costs", "Costs"),
    ("b", "/budgets", "Budgets"),
    ("a", "/agents", "Agents"),
    ("p", "/performance", "Performance"),
    ("d", "/database", "Database"),
    ("r", "/reports", "Reports"),
    ("u", "/audit", "Audit"),
    ("s", "/submit", "Submit"),
)
OTHER = (
    ("/", "Search: the tasks table's text filter on the tasks page, else the navbar's go-to-task box"),
    ("?", "This list"),
    ("Esc", "Close this list, a dropdown or the date picker"),
)


def _keys(*keys: str) -> list[html.Kbd | str]:
    out: list[html.Kbd | str] = []
    for i, key in enumerate(keys):
        if i:
            out.append(" then ")
        out.append(html.Kbd(key))
    return out


def layout() -> list[Component]:
    """The store assets/keys.js reads its table from, and the dialog `?` opens."""
    rows = [html.Tr([html.Td(_keys(key)), html.Td(what)]) for key, what in OTHER]
    rows += [html.Tr([html.Td(_keys("g", key)), html.Td(f"Go to {name}")]) for key, _path, name in GO]
    return [
        dcc.Store(id=ids.SHORTCUT_KEYS, data={key: path for key, path, _name in GO}),
        dbc.Modal(
            [
                dbc.ModalHeader(dbc.ModalTitle("Keyboard shortcuts", tag="h2", id=ids.SHORTCUTS_TITLE)),
                dbc.ModalBody(
                    [
                        dbc.Table(
                            [html.Thead(html.Tr([html.Th("Keys"), html.Th("Does")])), html.Tbody(rows)],
                            size="sm",
                            className="mb-2",
                        ),
                        html.P(
                            "Shortcuts never fire while you type in a field.",
                            className="small text-body-secondary",
                        ),
                    ]
                ),
            ],
            id=ids.SHORTCUTS,
            is_open=False,
            labelledby=ids.SHORTCUTS_TITLE,  # the dialog's accessible name
        ),
    ]
