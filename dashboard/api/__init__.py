"""API layer: the REST API under /api/v1 — JSON in and out, validated with pydantic, described by an OpenAPI
document; `mount` puts it on the dashboard's Flask server (dashboard/routes.py)."""

from dashboard.api.blueprint import mount

__all__ = ["mount"]
