"""Dashboard layer: the "Download CSV" link a table carries, and the address of a table's CSV (pure)."""

from __future__ import annotations

from urllib.parse import urlencode

from dash import html

EXPORT_PREFIX = "/export/"


def export_url(table: str, params: list[tuple[str, str]] | None = None) -> str:
    """/export/<table>.csv with `params` as its query string (dashboard/exports.py serves it)."""
    query = urlencode(params or [])
    return f"{EXPORT_PREFIX}{table}.csv" + (f"?{query}" if query else "")


def download_link(ident: str, href: str) -> html.A:
    """A plain link, not a dcc.Link: the browser itself fetches the file (the server sends it as an attachment,
    so the page stays where it is) instead of Dash's router treating it as a page."""
    return html.A(
        "Download CSV",
        id=ident,
        href=href,
        download="",
        className="btn btn-sm btn-outline-secondary py-0 text-nowrap",
        title="the rows of this table with the filters shown, as a CSV file (UTF-8, opens in a spreadsheet)",
    )
