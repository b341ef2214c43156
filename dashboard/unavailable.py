"""Dashboard layer: while the database is away or its storage full, every route outside /api/v1 — pages, Dash
callbacks, CSV downloads, report files — answers 503 (507 for a full disk) with Retry-After instead of a 500;
JSON for Dash's callbacks and the CSV downloads (as their other errors), plain text for pages and files."""

from __future__ import annotations

import logging
import sqlite3

import psycopg
from flask import Flask, Response, request
from sqlalchemy.exc import SQLAlchemyError

from dashboard.api.errors import unavailable_response
from db.core.unavailable import classify

log = logging.getLogger(__name__)

# What can carry an outage: the ORM's errors, a driver's error met outside SQLAlchemy, an OSError (ENOSPC).
# Registered by class, not as Exception, so 404s and other HTTP errors keep Flask's own handling.
# Dash's renderer reads JSON; the CSV downloads answer their other errors in JSON too.
JSON_PATHS = ("/_dash-", "/export/")
CARRIERS: tuple[type[Exception], ...] = (SQLAlchemyError, sqlite3.Error, psycopg.Error, OSError)


def install(server: Flask) -> None:
    """Registers the handler on the Flask server. /api/v1 has its own (dashboard/api/errors.py), which Flask
    asks first for the API's routes."""

    def handle(exc: Exception) -> Response:
        outage = classify(exc)
        if outage is None:
            raise exc  # not an outage: Flask's usual 500 (logged with its traceback)
        log.debug("%s %s: %s", request.method, request.path, outage.detail)
        if request.path.startswith(JSON_PATHS):
            return unavailable_response(outage)
        response = Response(f"{outage.message}\n", status=outage.status, mimetype="text/plain")
        response.headers["Retry-After"] = str(outage.retry_after)
        response.headers["Cache-Control"] = "no-store"
        return response

    for carrier in CARRIERS:
        server.register_error_handler(carrier, handle)
