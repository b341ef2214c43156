"""Dashboard layer: `Static`, one Dash component that draws a read-only tree of ordinary components (html,
dcc.Link, dash-bootstrap-components) in the browser (assets/static.js).

Dash wraps every component it renders in its own wrapper, subscribed to the app's store: a board of 100
cards is ~1,500 wrappers, each re-checked on every store update while a page loads (measured: a quarter of a
second of the browser's main thread on /tasks). Nothing inside a card has a callback, so the tree travels as a
plain prop and is drawn with the same component classes, without the wrappers: the same DOM, for a fraction
of the work. Anything that needs a callback (an Input, a clickable id) stays an ordinary Dash component."""

from __future__ import annotations

from typing import Any

from dash.development.base_component import Component


class Static(Component):
    """`content`: a component, a string, or a list of them. Ids inside it are only DOM ids (no callback can
    use them: Dash never sees the nodes)."""

    _children_props: list[str] = []  # noqa: RUF012  (likewise)
    _base_nodes = ["children"]  # noqa: RUF012  (as Dash declares it: an instance attribute of Component)
    _namespace = "tasklens"  # window.tasklens.Static (assets/static.js)
    _type = "Static"

    def __init__(self, content: Any = None, id: str | None = None, **kwargs: Any) -> None:
        self._prop_names = ["id", "content"]
        self._valid_wildcard_attributes: list[str] = []
        self.available_properties = ["id", "content"]
        self.available_wildcard_properties: list[str] = []
        if isinstance(content, Component):
            content = (
                content.to_plotly_json()
            )  # Dash allows a Component only in `children`; its JSON anywhere
        args = {"content": content, **({"id": id} if id is not None else {}), **kwargs}
        super().__init__(**args)
