"""Dashboard layer: the navbar as the pages declare it. Each page module says either where it sits in the navbar
(`NAV = NavEntry(label, order, role)`) or, with `NAV = None`, how people reach it (`LINKED_FROM`: the page that
links it, or SHELL for the shell's alert bell). dashboard/routes.py hands that declaration to
`dash.register_page`, and the shell draws its links from Dash's page registry: no list of links is kept by hand.

The navbar is full at 1400 px (Bootstrap's xxl breakpoint, where it stops folding): a new page links from an
existing one rather than adding an eleventh link."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import dash

SHELL = "shell"  # LINKED_FROM of a page that the shell itself opens (the alert bell opens /alerts)


@dataclass(frozen=True)
class NavEntry:
    label: str
    order: int  # left to right
    role: str = (
        "viewer"  # the least role (db/access/tokens.py) the page is of use to; with access control on,
    )
    # a user below it does not see the link (the page itself still says why when opened directly)


@dataclass(frozen=True)
class Link:
    label: str
    href: str
    role: str


def links(declared: Iterable[tuple[str | None, NavEntry | None]]) -> tuple[Link, ...]:
    """(path, declaration) pairs → the navbar's links in their declared order."""
    entries = [(nav, path) for path, nav in declared if nav is not None and path is not None]
    return tuple(Link(nav.label, path, nav.role) for nav, path in sorted(entries, key=lambda e: e[0].order))


def registered(registry: Mapping[str, Mapping[str, Any]] | None = None) -> tuple[Link, ...]:
    """The links of the pages registered with Dash (routes.mount passes each page's NAV as `nav`)."""
    pages = dash.page_registry if registry is None else registry
    return links((page.get("path"), page.get("nav")) for page in pages.values())


def visible(all_links: Iterable[Link], allowed: Callable[[str], bool]) -> list[Link]:
    """The links of the pages the caller's role may use."""
    return [link for link in all_links if allowed(link.role)]
