"""API layer: what the handlers share in one web process — the services, the price table (read once, so a
bad price file fails the start, not a request) and the metrics — kept on the Flask app, never global."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Response, current_app
from pydantic import BaseModel

from dashboard.api.coalesce import Coalesced
from dashboard.api.metrics import Metrics
from dashboard.services import Services
from db.domain.pricing import Price

KEY = "tasklens_api"


@dataclass(frozen=True)
class ApiContext:
    svc: Services
    prices: dict[str, Price]
    metrics: Metrics
    stats: Coalesced[dict[str, Any]]  # /stats: many dashboards and scrapers ask at once


def ctx() -> ApiContext:
    context: ApiContext = current_app.extensions[KEY]
    return context


def respond(
    model: type[BaseModel], data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """`data` checked against the response model and written as its JSON (what the OpenAPI document says)."""
    body = model.model_validate(data).model_dump_json(by_alias=True)
    return Response(body, status=status, mimetype="application/json", headers=headers)
