"""Tests: the OpenAPI 3.1 document of /api/v1 — valid, listing exactly the endpoints the app serves with the
roles they declare — and schemathesis generating requests from it against the real app on SQLite and
PostgreSQL: no 5xx, and every answer's status, content type and body as the document says. Every operation
on both databases gets schemathesis's explicit-example and coverage phases (the boundary values of each
parameter, in full) and a bounded number of random examples (TASKLENS_API_FUZZ_EXAMPLES, 15 by default; raise
it for a deeper run), so the suite pays seconds, not minutes, for it."""

from __future__ import annotations

import os
import typing
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis import checks

from config import Settings
from dashboard.api.openapi import document, flask_to_openapi
from dashboard.api.registry import ENDPOINTS, PREFIX, Role, endpoint
from dashboard.api.schemas import PageQuery, SortName
from dashboard.bridge import ChangeFeed
from dashboard.server import create_app
from dashboard.services import Services
from db.core.engine import open_database
from db.live.changefeed import Hub
from db.read.tasks.listing import SORTS
from db.write.recorder import Recorder
from db.write.workers import WorkerIdentity
from tests.api_support import agent_life, api_client, call
from tests.conftest import pg_database, sqlite_database

EXAMPLES = int(os.environ.get("TASKLENS_API_FUZZ_EXAMPLES", "15"))


def test_the_document_is_valid_openapi_3_1() -> None:
    spec = document()
    assert spec["openapi"] == "3.1.0"
    validate(spec)


def test_the_document_lists_exactly_the_served_endpoints_and_their_roles() -> None:
    served = {(ep.method.lower(), flask_to_openapi(ep.rule)): ep.role.value for ep in ENDPOINTS}
    documented = {
        (method, path): op["x-required-role"]
        for path, ops in document()["paths"].items()
        for method, op in ops.items()
    }
    assert documented == served
    assert {op["operationId"] for ops in document()["paths"].values() for op in ops.values()} == {
        ep.operation_id for ep in ENDPOINTS
    }


def test_every_rule_the_app_serves_under_the_prefix_is_documented_and_nothing_else(svc: Services) -> None:
    """Read from the app's URL map, not the endpoint table: a route added under /api/v1 by hand (bypassing
    `@endpoint`) or a declaration that never reached the app both fail here."""
    server = create_app(svc).server
    catch_all = {"api_v1.unrouted", "api_v1.unrouted_root"}
    served = {
        (method.lower(), flask_to_openapi(rule.rule.removeprefix(PREFIX)))
        for rule in server.url_map.iter_rules()
        if rule.rule.startswith(PREFIX + "/") and rule.endpoint not in catch_all
        for method in rule.methods or ()
        if method not in ("HEAD", "OPTIONS")
    }
    documented = {(method, path) for path, ops in document()["paths"].items() for method in ops}
    assert served == documented


def test_a_handler_whose_signature_disagrees_with_its_declaration_is_refused_at_import() -> None:
    declare = endpoint(
        "GET", "/nowhere", Role.VIEWER, summary="-", responses={200: ("-", None)}, query=PageQuery
    )
    with pytest.raises(TypeError, match=r"takes \[\], its declaration passes \['q'\]"):
        declare(lambda: "")
    assert all(ep.rule != "/nowhere" for ep in ENDPOINTS)


def test_sortable_fields_match_the_data_layer() -> None:
    assert set(typing.get_args(SortName)) == {f"{sign}{name}" for name in SORTS for sign in ("", "-")}


def test_the_app_serves_the_document(svc: Services) -> None:
    client = api_client(svc)
    assert call(client, "GET", "/openapi.json") == document()


def _fuzz_app(kind: str, folder: Path, stack: ExitStack) -> Any:
    """The real dashboard app on a fresh database of its own (PostgreSQL's is not the session one, which other
    tests empty) holding a few tasks, external ones too, and a worker."""
    url = sqlite_database(folder) if kind == "sqlite" else stack.enter_context(pg_database())
    db = open_database(url)
    stack.callback(db.dispose)
    hub = Hub()
    # A worker heard from within the hour keeps /ready at 200: its 503 is a documented answer, but a 5xx all the
    # same to the not-a-server-error check (tests/test_api_ops.py covers it).
    svc = Services(
        Settings(database_url=url, lease_seconds=3600, rate_limit="off"),
        db,
        Recorder(db, hub),
        ChangeFeed(db, hub),
    )
    svc.recorder.register_worker(WorkerIdentity("fuzz-worker", "fuzz", "localhost", os.getpid(), 1))
    app = create_app(svc)
    client = app.server.test_client()
    call(client, "POST", "/events", {"events": agent_life("fuzz-1") + agent_life("fuzz-2")[:5]})
    call(client, "POST", "/tasks", {"title": "queued", "kind": "demo"}, status=201)
    return app.server


@pytest.fixture(scope="session")
def fuzz_apps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Any]]:
    """`fuzz_apps(kind)`: the fuzz's app on "sqlite" or "postgresql", made on first use and kept for the session.
    Session-wide, not a module fixture: under xdist each operation's test runs wherever the scheduler sends it,
    between other modules' tests, and a module fixture would be set up again after each of those."""
    apps: dict[str, Any] = {}
    with ExitStack() as stack:

        def get(kind: str) -> Any:
            if kind not in apps:
                apps[kind] = _fuzz_app(kind, tmp_path_factory.mktemp(f"fuzz-{kind}"), stack)
            return apps[kind]

        yield get


# The document as the app serves it (test_the_app_serves_the_document), once per database: one test per
# operation and database, which xdist spreads over its workers (one test of every operation ran for minutes).
sqlite_schema = schemathesis.openapi.from_dict(document())
postgresql_schema = schemathesis.openapi.from_dict(document())


def fuzz(case: Any, app: Any) -> None:
    """Schemathesis's explicit-example, coverage and random phases for one operation against `app`."""
    case.call_and_validate(
        app=app,
        # Schemathesis advertises zstd (its HTTP stack can decode it) but over WSGI reads the body as it comes:
        # ask for it uncompressed, as the answers' contents are what is checked here (tests/test_compression.py
        # covers the encodings).
        headers={"Accept-Encoding": "identity"},
        checks=[
            checks.not_a_server_error,
            checks.status_code_conformance,
            checks.content_type_conformance,
            checks.response_schema_conformance,
        ],
    )


@sqlite_schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_generated_requests_get_documented_answers_and_never_a_5xx_on_sqlite(
    case: Any, fuzz_apps: Callable[[str], Any]
) -> None:
    fuzz(case, fuzz_apps("sqlite"))


@postgresql_schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_generated_requests_get_documented_answers_and_never_a_5xx_on_postgresql(
    case: Any, fuzz_apps: Callable[[str], Any]
) -> None:
    fuzz(case, fuzz_apps("postgresql"))
