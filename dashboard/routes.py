"""Dashboard layer: the whole HTTP surface in one place — the pages, the websocket, health and vendored
static files, the CSV downloads (/export/<table>.csv) and the REST API under /api/v1 (dashboard/api/)."""

from __future__ import annotations

import logging
from pathlib import Path
from types import ModuleType
from typing import Any

import dash
import flask_bootstrap
from flask import send_from_directory
from flask.typing import ResponseReturnValue
from flask_sock import ConnectionClosed, Sock

from dashboard import access, api, exports, scopebar
from dashboard.pages import (
    agents,
    audit,
    budgets,
    costs,
    database,
    overview,
    performance,
    reports,
    submit,
    task_detail,
    tasks,
)
from dashboard.services import Services
from dashboard.websocket import error_message, serve

log = logging.getLogger(__name__)

PAGES: tuple[ModuleType, ...] = (
    overview,
    tasks,
    task_detail,
    submit,
    costs,
    budgets,
    agents,
    performance,
    database,
    reports,
    audit,
)
# Bootstrap 5.3's CSS, served from the installed Bootstrap-Flask wheel: the dashboard works offline.
BOOTSTRAP_DIR = Path(flask_bootstrap.__file__).parent / "static" / "bootstrap5" / "css"
BOOTSTRAP_CSS = "/vendor/bootstrap.min.css"


def mount(app: dash.Dash, svc: Services) -> None:
    for page in PAGES:
        path = getattr(page, "PATH", None)
        template = getattr(page, "PATH_TEMPLATE", None)
        dash.register_page(
            page.__name__,
            path=path,
            path_template=template,
            title=f"{page.TITLE} · TaskLens",
            name=page.TITLE,
            layout=page.layout,
        )
        page.register(app, svc)
    scopebar.register(app, svc)  # once, for every analytics page

    server = app.server
    access.install(server, svc)  # sign-in, security headers, request size limit
    sock = Sock(server)

    @sock.route("/ws")
    def websocket(ws: Any) -> None:
        acc = access.current()
        if acc.enabled and acc.cross_site():
            # Another site's page opening a socket with this browser's session (cross-site hijacking).
            ws.send(error_message("cross_site", "this socket was opened by a page of another site"))
            return
        if acc.enabled and acc.caller() is None:
            ws.send(
                error_message("unauthorized", "sign in first (/login), or send Authorization: Bearer <token>")
            )
            return
        try:
            serve(ws, svc.feed, svc.db)
        except ConnectionClosed:
            raise
        except Exception:
            # Never let Werkzeug write an HTTP 500 into an upgraded socket: say so in the protocol, then close.
            log.exception("websocket handler failed")
            ws.send(error_message("internal", "the server could not serve this subscription"))

    def healthz() -> ResponseReturnValue:
        return {"status": "ok", "feed_seq": svc.feed.cursor, "sockets": svc.feed.connections}

    def bootstrap_css() -> ResponseReturnValue:
        return send_from_directory(BOOTSTRAP_DIR, "bootstrap.min.css", max_age=86400)

    def report_file(run_id: int, name: str) -> ResponseReturnValue:
        return reports.serve_file(svc, run_id, name)

    exports.mount(server, svc)  # /export/<table>.csv
    api.mount(server, svc)  # /api/v1/… (dashboard/api/registry.py lists every endpoint and its role)
    server.add_url_rule("/reports/files/<int:run_id>/<name>", "report_file", report_file)  # a run's files
    server.add_url_rule("/healthz", "healthz", healthz)
    server.add_url_rule(BOOTSTRAP_CSS, "bootstrap_css", bootstrap_css)
