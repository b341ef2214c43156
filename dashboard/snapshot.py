"""Dashboard layer: a page's first view drawn as plain HTML into the index page itself, so the browser shows
the page's content as soon as the HTML arrives instead of after Dash's ~1 MB of scripts, its layout request
and a render (issue 12: Flower's overview shows its first worker row at ~0.2 s; Dash's at ~1.4 s).

The snapshot is the same component tree the layout serves (the shell with the page drawn in it), written out
as the DOM that React draws from it: html.* as their tags, and the handful of dash-bootstrap-components,
dcc and `Static` nodes the shell and the opted-in pages use, with the classes those libraries give them. It
lies over the app's place (assets/tasklens.css) until the app has drawn the page itself; assets/handover.js
then removes it. A component this module does not know makes the whole snapshot fall back to nothing (the
page loads as it would without one): never half a page."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from html import escape
from typing import Any

from dash.development.base_component import Component

from dashboard import ids
from dashboard.components.svg import CLASS as SVG_CLASS

CLASS = "tasklens-snapshot"  # assets/handover.js and tasklens.css find it by this
# The snapshot's ids are the app's with this prefix. Both copies are in the document until the handover
# (assets/handover.js), and an id names one element: the live badge's script (getElementById), a label's `for`
# and a test's locator would otherwise find the snapshot's copy, which comes first, and the app's never.
ID_PREFIX = "snapshot-"
# The attributes whose value names an id (`id`), or several, space-separated (the rest).
ID_REFS = frozenset(
    {
        "id",
        *("for", "headers", "aria-labelledby", "aria-describedby", "aria-controls", "aria-owns"),
        *("aria-activedescendant", "aria-details", "aria-errormessage", "aria-flowto"),
    }
)
_ID_REF_ATTRIBUTE = re.compile(rf'(\s({"|".join(sorted(ID_REFS))}))="([^"]*)"')  # in markup drawn as text
VOID = frozenset(
    {"area", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)
# Props React writes under another attribute name; any other prop not listed here is not an attribute.
ATTRIBUTES = {
    "className": "class",
    "htmlFor": "for",
    "tabIndex": "tabindex",
    "colSpan": "colspan",
    "rowSpan": "rowspan",
    "autoComplete": "autocomplete",
    **{
        name: name
        for name in (
            *("id", "href", "title", "role", "hidden", "download", "target", "rel", "src", "alt", "type"),
            *("placeholder", "name", "value", "disabled", "checked", "lang", "dir", "width", "height"),
            *("scope", "headers", "style"),
        )
    },
}
# CSS properties whose numbers React writes without "px".
UNITLESS = frozenset(
    {"zIndex", "opacity", "flex", "flexGrow", "flexShrink", "fontWeight", "lineHeight", "order"}
)


# In the page's <head> (dashboard/bundles.py), before the snapshot is drawn: a browser that remembers the dark
# theme (its localStorage dcc.Store) gets the snapshot dark too, not light until the app runs the theme's callback.
THEME_FIRST = (
    f"<script>try{{if(JSON.parse(localStorage.getItem({json.dumps(ids.THEME)}))==='dark')"
    "document.documentElement.setAttribute('data-bs-theme','dark')}catch(e){}</script>"
)


_drawing: ContextVar[bool] = ContextVar("snapshot_drawing", default=False)


@contextmanager
def drawing() -> Iterator[None]:
    """While a snapshot's tree is built: a layout may leave out what the snapshot does not draw (a chart whose
    read would hold the HTML back: the snapshot draws its frame only)."""
    token = _drawing.set(True)
    try:
        yield
    finally:
        _drawing.reset(token)


def is_drawing() -> bool:
    return _drawing.get()


class Unsupported(Exception):
    """A component the snapshot cannot draw as React would."""


def _css(style: Mapping[str, Any]) -> str:
    parts = []
    for name, value in style.items():
        if value is None:
            continue
        prop = re.sub(r"[A-Z]", lambda m: "-" + m.group(0).lower(), name)
        text = f"{value}px" if isinstance(value, int | float) and name not in UNITLESS and value else value
        parts.append(f"{prop}: {text}")
    return "; ".join(parts)


def _dom_id(ident: Any) -> str:
    # Dash's renderer writes a dict id as its keys sorted, JSON-encoded (as assets/static.js's domId does).
    if isinstance(ident, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{json.dumps(ident[k])}" for k in sorted(ident)) + "}"
    return str(ident)


def _own_id(attr: str, value: Any) -> str:
    """`value` of the id-naming attribute `attr` as the snapshot writes it (ID_PREFIX)."""
    if attr == "id":
        return ID_PREFIX + str(value)
    return " ".join(ID_PREFIX + ident for ident in str(value).split())


def _own_ids(markup: str) -> str:
    # Server-drawn SVG (dashboard/figures_svg.py) names its <title> and <desc> by id: prefixed as well.
    return _ID_REF_ATTRIBUTE.sub(lambda m: f'{m.group(1)}="{_own_id(m.group(2), m.group(3))}"', markup)


def _classes(*names: Any) -> str:
    return " ".join(str(n) for n in names if n)


def element(tag: str, props: Mapping[str, Any], children: str = "", **extra: Any) -> str:
    """One tag: the props React would turn into attributes (and aria-*, data-*), then `extra`'s."""
    attrs: dict[str, Any] = {}
    for name, value in {**props, **extra}.items():
        if value is None or value is False:
            continue
        if name == "style" and isinstance(value, Mapping):
            value = _css(value)
        elif name == "id":
            value = _dom_id(value)
        attr = ATTRIBUTES.get(name) or (name if name.startswith(("aria-", "data-")) else None)
        if attr is None:
            continue
        attrs[attr] = _own_id(attr, value) if attr in ID_REFS else value
    text = "".join(f" {k}" if v is True else f' {k}="{escape(str(v))}"' for k, v in attrs.items())
    if tag in VOID:
        return f"<{tag}{text}>"
    return f"<{tag}{text}>{children}</{tag}>"


class Renderer:
    """Draws component trees for one request path (a NavLink with active="exact" compares to it)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.kinds: dict[tuple[str, str], Callable[[Mapping[str, Any]], str]] = {
            ("dash_core_components", "Store"): lambda p: "",
            ("dash_core_components", "Location"): lambda p: "",
            ("dash_core_components", "Link"): lambda p: self._tag("a", p),
            ("tasklens", "Static"): lambda p: self.draw(p.get("content")),
            # Server-drawn SVG (dashboard/components/svg.py): the same <div> assets/static.js draws.
            ("tasklens", "Svg"): lambda p: element(
                "div", {"id": p.get("id")}, _own_ids(p.get("markup") or ""), className=SVG_CLASS
            ),
            **{("dash_bootstrap_components", name): kind for name, kind in self._bootstrap().items()},
        }

    def draw(self, node: Any) -> str:
        if node is None or isinstance(node, bool):
            return ""
        if isinstance(node, str | int | float):
            return escape(str(node))
        if isinstance(node, list | tuple):
            return "".join(self.draw(child) for child in node)
        if isinstance(node, Component):
            node = node.to_plotly_json()
        if not isinstance(node, Mapping) or "type" not in node:
            raise Unsupported(repr(node)[:80])
        namespace, kind, props = str(node.get("namespace")), str(node["type"]), node.get("props") or {}
        if namespace == "dash_html_components":
            return self._tag(kind.lower(), props)
        draw = self.kinds.get((namespace, kind))
        if draw is None:
            raise Unsupported(f"{namespace}.{kind}")
        return draw(props)

    def _tag(self, tag: str, props: Mapping[str, Any], **extra: Any) -> str:
        return element(tag, props, self.draw(props.get("children")), **extra)

    def _bootstrap(self) -> dict[str, Callable[[Mapping[str, Any]], str]]:
        """dash-bootstrap-components 2's classes for the components the shell and opted-in pages use."""
        tag, cls = self._tag, _classes

        def div(name: str) -> Callable[[Mapping[str, Any]], str]:
            return lambda p: tag("div", p, className=cls(p.get("className"), name))

        def card(p: Mapping[str, Any]) -> str:
            color = p.get("color")
            tint = (f"border-{color}" if p.get("outline") else f"bg-{color}") if color else None
            return tag("div", p, className=cls(p.get("className"), "card", tint))

        def col(p: Mapping[str, Any]) -> str:
            sizes = [
                f"col-{bp}-{p[bp]}" if bp != "xs" else f"col-{p[bp]}"
                for bp in ("xxl", "xl", "lg", "md", "sm", "xs")
                if p.get(bp)
            ]
            if p.get("width"):
                sizes.append(f"col-{p['width']}")
            return tag("div", p, className=cls(p.get("className"), *(sizes or ["col"])))

        def badge(p: Mapping[str, Any]) -> str:
            names = cls(
                p.get("className"),
                "badge",
                p.get("pill") and "rounded-pill",
                p.get("text_color") and f"text-{p['text_color']}",
                f"bg-{p.get('color') or 'secondary'}",
            )
            return tag("a" if p.get("href") else "span", p, className=names)

        def table(p: Mapping[str, Any]) -> str:
            flags = ("striped", "bordered", "borderless", "hover")
            names = cls(
                p.get("className"),
                "table",
                p.get("size") and f"table-{p['size']}",
                *(f"table-{f}" for f in flags if p.get(f)),
            )
            drawn = tag("table", p, className=names, id=p.get("id"))
            return f'<div class="table-responsive">{drawn}</div>' if p.get("responsive") else drawn

        def navbar(p: Mapping[str, Any]) -> str:
            expand = p.get("expand", "md")
            names = cls(
                p.get("className"),
                "navbar",
                f"navbar-expand-{expand}" if isinstance(expand, str) else expand and "navbar-expand",
                "navbar-dark" if p.get("dark") else "navbar-light",
                p.get("color") and f"bg-{p['color']}",
            )
            return tag("nav", p, className=names)

        def brand(p: Mapping[str, Any]) -> str:
            return tag("a" if p.get("href") else "span", p, className=cls(p.get("className"), "navbar-brand"))

        def toggler(p: Mapping[str, Any]) -> str:
            icon = '<span class="navbar-toggler-icon"></span>'
            names = cls(p.get("className"), "navbar-toggler", "collapsed")
            return element(
                "button", p, icon, type="button", className=names, **{"aria-label": "Toggle navigation"}
            )

        def collapse(p: Mapping[str, Any]) -> str:
            names = cls(
                p.get("className"),
                p.get("navbar") and "navbar-collapse",
                "collapse",
                p.get("is_open") and "show",
            )
            return tag("div", p, className=names)

        def nav(p: Mapping[str, Any]) -> str:
            return tag(
                "div", p, className=cls(p.get("className"), "navbar-nav" if p.get("navbar") else "nav")
            )

        def nav_link(p: Mapping[str, Any]) -> str:
            href, active = p.get("href"), p.get("active")
            on = active is True or (active == "exact" and href == self.path)
            return tag("a", p, className=cls(p.get("className"), "nav-link", on and "active"))

        def text_input(p: Mapping[str, Any]) -> str:
            names = cls(p.get("className"), p.get("size") and f"form-control-{p['size']}", "form-control")
            return element("input", p, className=names, autoComplete=p.get("autoComplete"))

        def switch(p: Mapping[str, Any]) -> str:
            box = element(
                "input",
                {"id": p.get("id")},
                className="form-check-input",
                type="checkbox",
                checked=bool(p.get("value")),
            )
            label = element(
                "label",
                {},
                escape(str(p.get("label") or "")),
                className=cls(p.get("label_class_name"), "form-check-label", "form-label"),
                htmlFor=p.get("id"),
            )
            return element(
                "div", {}, box + label, className=cls("form-check", "form-switch", p.get("className"))
            )

        def modal(p: Mapping[str, Any]) -> str:
            if p.get("is_open"):
                raise Unsupported("an open dbc.Modal")
            return ""  # a closed modal draws nothing

        return {
            "Card": card,
            "CardBody": div("card-body"),
            "CardHeader": div("card-header"),
            "Row": div("row"),
            "Col": col,
            "Container": lambda p: tag(
                "div",
                p,
                className=cls(p.get("className"), "container-fluid" if p.get("fluid") else "container"),
            ),
            "Badge": badge,
            "Table": table,
            "Navbar": navbar,
            "NavbarBrand": brand,
            "NavbarToggler": toggler,
            "Collapse": collapse,
            "Nav": nav,
            "NavLink": nav_link,
            "Input": text_input,
            "Switch": switch,
            "Modal": modal,
        }


def render(tree: Any, path: str) -> str | None:
    """The snapshot's HTML for `tree` drawn at `path`, or None when a part of it is unknown here."""
    try:
        inner = Renderer(path).draw(tree)
    except Unsupported:
        return None
    return f'<div class="{CLASS}">{inner}</div>'
