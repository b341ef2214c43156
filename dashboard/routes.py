"""Dashboard layer: the whole HTTP surface in one place — the pages, the websocket, health and vendored
static files, the CSV downloads (/export/<table>.csv), the REST API under /api/v1 (dashboard/api/) and the
OTLP/HTTP trace receiver at /v1/traces (dashboard/otlp/)."""

from __future__ import annotations

import logging
from contextlib import suppress
from types import ModuleType
from typing import Any

import dash
from dash.exceptions import DependencyException
from flask import request, send_from_directory
from flask.typing import ResponseReturnValue
from flask_sock import ConnectionClosed, Sock

from dashboard import access, api, bundles, compression, exports, navigation, requestid, scopebar, wslimits
from dashboard.bundles import BOOTSTRAP_CSS, BOOTSTRAP_DIR
from dashboard.otlp import receiver as otlp
from dashboard.pages import (
    agents,
    alerts,
    audit,
    budgets,
    calls,
    costs,
    data,
    database,
    overview,
    performance,
    reports,
    schedules,
    submit,
    task_detail,
    tasks,
    worker,
)
from dashboard.services import Services
from dashboard.throttle import Throttled
from dashboard.websocket import MAX_ID, error_message, serve

log = logging.getLogger(__name__)

PAGES: tuple[ModuleType, ...] = (
    overview,
    tasks,
    task_detail,
    calls,
    submit,
    costs,
    budgets,
    agents,
    worker,
    performance,
    database,
    data,
    reports,
    schedules,
    audit,
    alerts,
)
# The navbar's links as the pages declare them: what mount() registers with Dash, whose page registry the
# shell then draws from (tests compare the two).
NAV_LINKS = navigation.links((getattr(page, "PATH", None), page.NAV) for page in PAGES)
PLAIN = {"Content-Type": "text/plain; charset=utf-8"}


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
            nav=page.NAV,  # the navbar's entry or None (dashboard/navigation.py): the shell reads it back
            snapshot=getattr(page, "SNAPSHOT", False),  # drawn into its HTML too (dashboard/snapshot.py)
        )
        page.register(app, svc)
    scopebar.register(app, svc)  # once, for every analytics page

    server = app.server
    requestid.install(server)  # first, so every later hook's log lines carry the id
    access.install(server, svc)  # sign-in, security headers, request size limit
    compression.install(server)  # zstd/br/gzip, kept once per immutable bundle; year-long asset caching
    server.config["SOCK_SERVER_OPTIONS"] = wslimits.server_options()  # the largest message read
    sock = Sock(server)

    @sock.route("/ws")
    def websocket(ws: Any) -> None:
        guard = wslimits.guard(ws)  # before the first send: every send then has a stall deadline
        try:
            _websocket(ws)
        finally:
            guard.finish()

    def _websocket(ws: Any) -> None:
        acc = access.current()
        if acc.enabled and acc.cross_site():
            # Another site's page opening a socket with this browser's session (cross-site hijacking).
            ws.send(error_message("cross_site", "this socket was opened by a page of another site"))
            return
        try:
            who = acc.caller() if acc.enabled else None
        except Throttled as exc:
            ws.send(error_message("too_many_failures", str(exc.description)))
            return
        if acc.enabled and who is None:
            ws.send(
                error_message("unauthorized", "sign in first (/login), or send Authorization: Bearer <token>")
            )
            return
        try:
            serve(ws, svc.feed, svc.db)
        except ConnectionClosed:
            raise
        except wslimits.SendStalled as exc:
            log.info("websocket dropped: %s", exc)
        except wslimits.ClientGone as exc:  # reset or gone mid-send: the client left, the server is fine
            log.debug("websocket client went away: %s", exc)
        except Exception:
            # Never let Werkzeug write an HTTP 500 into an upgraded socket: say so in the protocol, then close.
            log.exception("websocket handler failed")
            with suppress(ConnectionClosed, wslimits.ClientGone):
                ws.send(error_message("internal", "the server could not serve this subscription"))

    def healthz() -> ResponseReturnValue:
        return {"status": "ok", "feed_seq": svc.feed.cursor, "sockets": svc.feed.connections}

    def bootstrap_css() -> ResponseReturnValue:
        return send_from_directory(BOOTSTRAP_DIR, "bootstrap.min.css", max_age=86400)

    def joined_bundle(name: str) -> ResponseReturnValue:
        # A page's scripts or stylesheets joined into one body (dashboard/bundles.py), from memory.
        item = bundles.joined(name)
        return compression.respond(item, request) if item is not None else ("not found\n", 404, PLAIN)

    def report_file(run_id: int, name: str) -> ResponseReturnValue:
        return reports.serve_file(svc, run_id, name)

    exports.mount(server, svc)  # /export/<table>.csv
    api.mount(server, svc)  # /api/v1/… (dashboard/api/registry.py lists every endpoint and its role)
    otlp.mount(server, svc)  # POST /v1/traces: OTLP/HTTP spans (protobuf or JSON) from instrumented agents
    # A run's files; ids past BIGINT are simply not found (SQLite would overflow on them).
    server.add_url_rule(f"/reports/files/<int(max={MAX_ID}):run_id>/<name>", "report_file", report_file)
    # Dash answers a component-suite path it never registered (a typo, `..%2f..%2fetc%2fpasswd`) by raising:
    # that is a 404, not a 500.
    server.register_error_handler(DependencyException, lambda _exc: ("not found\n", 404, PLAIN))
    server.add_url_rule("/healthz", "healthz", healthz)
    server.add_url_rule(BOOTSTRAP_CSS, "bootstrap_css", bootstrap_css)
    joined_at = app.config.routes_pathname_prefix + bundles.JOINED.lstrip("/")
    server.add_url_rule(f"{joined_at}<name>", "joined_bundle", joined_bundle)
