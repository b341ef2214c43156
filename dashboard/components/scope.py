"""Dashboard layer: the analytics scope bar — time range (presets or custom dates) and dimension filters —
whose state is the page URL's query string, so a view can be bookmarked and shared (pure builders)."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard import ids
from db.read.scope import DIMENSIONS, Scope
from db.read.timerange import CUSTOM, LABELS, RANGES

RANGE_LABELS = {**LABELS, CUSTOM: "custom…"}


def scope_bar(scope: Scope, options: dict[str, list[str]], dims: tuple[str, ...] = DIMENSIONS) -> dbc.Row:
    """`options` holds the choices per dimension (from the database); `dims`, the dimensions the page can be
    filtered by (a worker's page has no worker filter: its worker is the page's subject)."""
    custom = scope.range_key == "custom"
    controls: list[Any] = [
        dbc.Col(
            dcc.Dropdown(
                id=ids.SCOPE_RANGE,
                value=scope.range_key,
                clearable=False,
                options=[{"label": RANGE_LABELS[k], "value": k} for k in [*RANGES, CUSTOM]],
            ),
            md=2,
        ),
        dbc.Col(
            [
                html.Label("from", htmlFor=ids.SCOPE_FROM, className="visually-hidden"),
                dbc.Input(
                    id=ids.SCOPE_FROM, type="date", value=scope.start.date().isoformat(), disabled=not custom
                ),
            ],
            xs=6,
            md="auto",
            className="scope-date",
        ),
        dbc.Col(
            [
                html.Label("to", htmlFor=ids.SCOPE_TO, className="visually-hidden"),
                dbc.Input(
                    id=ids.SCOPE_TO, type="date", value=scope.end.date().isoformat(), disabled=not custom
                ),
            ],
            xs=6,
            md="auto",
            className="scope-date",
        ),
    ]
    for dim in dims:
        controls.append(
            dbc.Col(
                dcc.Dropdown(
                    id={"type": ids.SCOPE_DIM, "dim": dim},
                    value=list(getattr(scope, dim)),
                    multi=True,
                    placeholder=dim,
                    # The chosen values are always among the choices: a dropdown drops a value it does not
                    # list, which (before the choices arrive, or for a value unused lately) emptied the filter.
                    options=sorted({*options.get(dim, []), *getattr(scope, dim)}),
                ),
                md=True,
            )
        )
    return dbc.Row(controls, className="g-2 mb-3 scope-bar")


def scope_error(message: str) -> dbc.Alert:
    return dbc.Alert(message, color="warning", className="py-2")
