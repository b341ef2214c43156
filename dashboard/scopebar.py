"""Dashboard layer: the analytics scope shared by every analytics page — the section a page puts at its top
(rendered from the URL query), and the callbacks, registered once, that keep bar and URL in step."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import dash
from dash import ALL, Input, Output, State, dcc, html

from dashboard import ids
from dashboard.components.scope import scope_bar, scope_error
from dashboard.services import Services
from db.analytics import costs
from db.core.timeutil import utcnow
from db.read.scope import DIMENSIONS, Scope, ScopeError, parse_scope

BAR_HOLDER = "scope-bar-holder"


def page_scope(query: dict[str, Any]) -> tuple[Scope, str | None]:
    """The scope of a page from the query parameters Dash passes to `layout(**query)`."""
    search = "?" + urlencode({k: v for k, v in query.items() if isinstance(v, str | list)}, doseq=True)
    now = utcnow()
    try:
        return parse_scope(search, now), None
    except ScopeError as exc:
        return parse_scope("", now), str(exc)


def scope_section(query: dict[str, Any], dims: tuple[str, ...] = DIMENSIONS) -> html.Div:
    """Put at the top of an analytics page; its callbacks take Input(ids.PAGE_SCOPE, "data") (a URL query).
    `dims`: the dimension filters the bar offers (all of them unless the page says otherwise)."""
    scope, problem = page_scope(query)
    return html.Div(
        [
            dcc.Store(id=ids.PAGE_SCOPE, data=scope.to_query()),
            html.Div(id=ids.SCOPE_ERROR, children=scope_error(problem) if problem else None),
            html.Div(scope_bar(scope, {}, dims), id=BAR_HOLDER),
        ]
    )


def scope_query(
    range_key: str | None, start: str | None, end: str | None, dims: list[Any], dim_ids: list[dict[str, str]]
) -> str:
    """The URL query for the bar's current values (custom ranges keep their dates)."""
    params: list[tuple[str, str]] = []
    if range_key == "custom":
        now = utcnow()
        params += [
            ("from", start or (now - timedelta(days=7)).date().isoformat()),
            ("to", end or now.date().isoformat()),
        ]
    else:
        params.append(("range", range_key or "7d"))
    for ident, values in zip(dim_ids, dims, strict=True):
        if ident.get("dim") in DIMENSIONS:
            params += [(ident["dim"], str(v)) for v in values or []]
    return "?" + urlencode(params)


def choices(svc: Services, query: str, dims: list[str]) -> list[list[str]]:
    """Each dimension dropdown's choices (in the order of `dims`): what the last 30 days used, plus the values
    the page's scope already holds, which a dropdown would otherwise drop."""
    now = utcnow()
    scope = parse_scope(query, now)
    with svc.db.reading() as session:
        options = costs.dimension_values(session, since=now - timedelta(days=30))
    return [sorted({*options.get(dim, []), *getattr(scope, dim, ())}) for dim in dims]


def register(app: dash.Dash, svc: Services) -> None:
    # Only the dropdowns' choices are filled in, not the bar redrawn: a redraw closed a dropdown the user had
    # just opened, and reset one being chosen from, while the choices were on their way.
    @app.callback(
        Output({"type": ids.SCOPE_DIM, "dim": ALL}, "options"),
        Input(ids.PAGE_SCOPE, "data"),
        State({"type": ids.SCOPE_DIM, "dim": ALL}, "id"),
    )
    def _choices(query: str, dim_ids: list[dict[str, str]]) -> list[list[str]]:
        return choices(svc, query, [ident["dim"] for ident in dim_ids])

    @app.callback(
        Output(ids.URL, "search"),
        Input(ids.SCOPE_RANGE, "value"),
        Input(ids.SCOPE_FROM, "value"),
        Input(ids.SCOPE_TO, "value"),
        Input({"type": ids.SCOPE_DIM, "dim": ALL}, "value"),
        State({"type": ids.SCOPE_DIM, "dim": ALL}, "id"),
        State(ids.PAGE_SCOPE, "data"),
        prevent_initial_call=True,
    )
    def _to_url(
        range_key: str | None,
        start: str | None,
        end: str | None,
        dims: list[Any],
        dim_ids: list[dict[str, str]],
        current: str,
    ) -> str:
        query = scope_query(range_key, start, end, dims, dim_ids)
        try:
            parse_scope(query, utcnow())
        except ScopeError:
            raise dash.exceptions.PreventUpdate from None
        if query == current:
            raise dash.exceptions.PreventUpdate
        return query
