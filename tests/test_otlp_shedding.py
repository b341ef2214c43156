"""Tests: the OTLP receiver sheds with what exporters retry — 429 with Retry-After past the rate limit, 503
with Retry-After while PostgreSQL is away (a real cut connection) — and the retried export then stores
everything once."""

from __future__ import annotations

import pytest

from config import Settings
from dashboard.bridge import ChangeFeed
from dashboard.services import Services
from db.core.engine import open_database
from db.core.migrate import upgrade
from db.live.changefeed import Hub
from db.write.recorder import Recorder
from tests.api_support import api_client, call
from tests.conftest import pg_database
from tests.otlp_support import now, request
from tests.outages import DbProxy
from tests.test_otlp import PB, genai_trace

pytestmark = pytest.mark.slow


def test_past_the_rate_limit_it_answers_429_with_retry_after(svc: Services) -> None:
    limited = Services(
        svc.settings.with_(rate_limit="1/minute", rate_burst=1), svc.db, svc.recorder, svc.feed
    )
    client = api_client(limited)
    _, spans = genai_trace(now() - 10)
    body = request("svc", *spans).SerializeToString()
    assert client.post("/v1/traces", data=body, content_type=PB).status_code == 200
    shed = client.post("/v1/traces", data=body, content_type=PB)
    assert shed.status_code == 429 and shed.mimetype == PB and int(shed.headers["Retry-After"]) >= 1


def test_while_postgresql_is_away_it_answers_503_and_the_retry_stores_it_once() -> None:
    with pg_database() as direct, DbProxy() as proxy:
        setup = open_database(direct)
        upgrade(setup)
        setup.dispose()
        url = proxy.url(direct)
        db = open_database(url)
        recorder = Recorder(db, Hub())
        svc = Services(Settings(database_url=url), db, recorder, ChangeFeed(db, recorder.hub))
        client = api_client(svc)
        trace, spans = genai_trace(now() - 10)
        body = request("svc", *spans).SerializeToString()
        try:
            proxy.cut()
            away = client.post("/v1/traces", data=body, content_type=PB)
            assert away.status_code == 503 and int(away.headers["Retry-After"]) >= 1
            proxy.restore()
            for _ in range(2):  # the exporter's retry, then a duplicate of it: stored once
                response = client.post("/v1/traces", data=body, content_type=PB)
                if response.status_code == 503:  # the pool's first checkout may meet a dead connection
                    response = client.post("/v1/traces", data=body, content_type=PB)
                assert response.status_code == 200
            [task] = call(client, "GET", f"/tasks?text={trace.hex()}")["items"]
            assert call(client, "GET", f"/tasks/{task['id']}")["invocation_count"] == 3
        finally:
            db.dispose()
