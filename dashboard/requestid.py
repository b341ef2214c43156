"""Dashboard layer: a request id per HTTP request — the caller's X-Request-ID when it is a plain token, else a
new one — answered in the same header and carried by every JSON log line written while the request runs
(jsonlog.py), so a user's report and the server's log meet."""

from __future__ import annotations

import re
import uuid

from flask import Flask, Response, request

import jsonlog

HEADER = "X-Request-ID"
_TOKEN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def install(server: Flask) -> None:
    @server.before_request
    def _start() -> None:
        given = request.headers.get(HEADER, "")
        jsonlog.CONTEXT.request_id = given if _TOKEN.match(given) else uuid.uuid4().hex[:16]

    @server.after_request
    def _answer(response: Response) -> Response:
        rid = getattr(jsonlog.CONTEXT, "request_id", None)
        if rid:
            response.headers[HEADER] = rid
        return response

    @server.teardown_request
    def _end(_exc: BaseException | None) -> None:
        jsonlog.CONTEXT.request_id = None  # the thread serves other requests (and sockets) next
