"""Dashboard layer: `Svg`, one Dash component that shows SVG markup drawn by the server (dashboard/figures_svg.py)
in a <div> (assets/static.js), and the snapshot draws as the same <div> (dashboard/snapshot.py).

Dash's html.* components have no SVG elements and would need one wrapped component per node; a chart is one
string of markup instead, built and escaped by figures_svg, never from a browser's input."""

from __future__ import annotations

from dash.development.base_component import Component

CLASS = "tl-svg"


class Svg(Component):
    """`markup`: an <svg> element as text (dashboard/figures_svg.py)."""

    _children_props: list[str] = []  # noqa: RUF012  (as Dash declares it)
    _base_nodes = ["children"]  # noqa: RUF012  (as Dash declares it: an instance attribute of Component)
    _namespace = "tasklens"  # window.tasklens.Svg (assets/static.js)
    _type = "Svg"

    def __init__(self, markup: str = "", id: str | None = None) -> None:
        self._prop_names = ["id", "markup"]
        self._valid_wildcard_attributes: list[str] = []
        self.available_properties = ["id", "markup"]
        self.available_wildcard_properties: list[str] = []
        super().__init__(markup=markup, **({"id": id} if id is not None else {}))
