"""Dashboard layer: POST /v1/traces, the OTLP/HTTP trace receiver on the web port — so an agent's
`OTEL_EXPORTER_OTLP_ENDPOINT=http://host:8050` works unchanged. Answers follow the OTLP/HTTP spec: the body
in the request's own encoding, a partial success naming refused spans, 400 for a malformed body (not
retryable), 429/503 with Retry-After when it must shed (exporters retry those), and 413 only for a body no
exporter batch reaches (exporters drop on it)."""

from __future__ import annotations

import logging
import math
import threading
import uuid
from typing import Any

from flask import Flask, Response, request
from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import RequestEntityTooLarge

from dashboard import access
from dashboard.otlp.decode import JSON, PROTOBUF, DecodeError, TooLarge, decode, inflate
from dashboard.otlp.mapping import map_request
from dashboard.services import Services
from dashboard.throttle import Throttled
from db.access.tokens import role_allows
from db.core.timeutil import utcnow
from db.core.unavailable import classify
from db.write.span_ingest import apply_spans

log = logging.getLogger(__name__)

PATH = "/v1/traces"
# The body as sent (compressed or not): an exporter's batch (512 spans) with messages stays well below.
MAX_BODY = 32 * 1024 * 1024
# Exports written at once by one web process; more wait up to WAIT_SECONDS for a turn, then are shed with
# 429 (the exporter retries with backoff) rather than piling threads onto the write lock.
MAX_CONCURRENT = 4
WAIT_SECONDS = 10.0
ROLE = "operator"


class Receiver:
    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.prices = svc.settings.prices()
        self.slots = threading.BoundedSemaphore(MAX_CONCURRENT)

    def handle(self) -> Response:
        fmt = PROTOBUF if request.mimetype == PROTOBUF else JSON
        if request.mimetype not in (PROTOBUF, JSON):
            return _status(
                415, f"send application/x-protobuf or application/json, not {request.mimetype!r}", JSON
            )
        denied = self._denied(fmt)
        if denied is not None:
            return denied
        if request.content_length is not None and request.content_length > MAX_BODY:
            return _status(413, f"the body is larger than {MAX_BODY:,} bytes; export smaller batches", fmt)
        request.max_content_length = MAX_BODY  # bounds a chunked body too (dashboard/bodylimit.py)
        try:
            body = inflate(request.get_data(cache=False), request.headers.get("Content-Encoding", ""))
            export = decode(body, fmt)
        except RequestEntityTooLarge:
            return _status(413, f"the body is larger than {MAX_BODY:,} bytes; export smaller batches", fmt)
        except TooLarge as exc:
            return _status(413, str(exc), fmt)
        except DecodeError as exc:
            return _status(400, str(exc), fmt)
        mapped = map_request(export, utcnow(), self.svc.settings.skew_window)
        if not self.slots.acquire(timeout=WAIT_SECONDS):
            return _status(429, "too many exports at once; retry later", fmt, retry_after=1)
        try:
            outcome = self._apply(mapped.calls)
        except IntegrityError:
            # A concurrent export created the same trace's task or stored the same span (PostgreSQL):
            # nothing of this one was kept; the exporter's retry finds them and stores the rest.
            return _status(503, "a concurrent export wrote the same trace; retry", fmt, retry_after=1)
        except Exception as exc:
            outage = classify(exc)
            if outage is None:
                raise
            # 503 even for a full disk: exporters retry 503 but drop on 507.
            return _status(503, outage.message, fmt, retry_after=outage.retry_after)
        finally:
            self.slots.release()
        rejected = mapped.rejected + outcome.rejected
        errors = [*mapped.errors, *([outcome.message] if outcome.message else [])]
        reply = ExportTraceServiceResponse()
        if rejected:
            reply.partial_success.rejected_spans = rejected
            reply.partial_success.error_message = "; ".join(errors)[:2000]
        return _message(200, reply, fmt)

    def _apply(self, calls: list[Any]) -> Any:
        who = access.current()
        principal = who.caller(allow_session=False) if who.enabled else None
        actor = principal.actor if principal is not None else "otlp"
        with self.svc.recorder.transaction() as session:
            return apply_spans(
                session, calls, actor=actor, now=utcnow(), correlation_id=uuid.uuid4().hex, prices=self.prices
            )

    def _denied(self, fmt: str) -> Response | None:
        """The API's rules: the rate limit, then with access control on a bearer token of an operator."""
        acc = access.current()
        try:
            who = acc.caller(allow_session=False)
        except Throttled as exc:
            return _status(429, str(exc.description), fmt, retry_after=exc.seconds)
        if acc.limiter is not None:
            wait = acc.limiter.take(f"token:{who.token_id}" if who else f"ip:{request.remote_addr}")
            if wait > 0:
                return _status(429, "too many requests", fmt, retry_after=max(1, math.ceil(wait)))
        if not acc.enabled:
            return None
        if who is None:
            response = _status(401, "send Authorization: Bearer <token> (OTEL_EXPORTER_OTLP_HEADERS)", fmt)
            response.headers["WWW-Authenticate"] = 'Bearer realm="tasklens"'
            return response
        if not role_allows(who.role, ROLE):
            return _status(
                403, f"exporting traces needs the {ROLE} role; token {who.name!r} is {who.role}", fmt
            )
        return None


def _message(status: int, message: Message, fmt: str) -> Response:
    if fmt == PROTOBUF:
        return Response(message.SerializeToString(), status=status, mimetype=PROTOBUF)
    body = json_format.MessageToJson(message, indent=None)
    return Response(body, status=status, mimetype=JSON)


def _status(code: int, text: str, fmt: str, retry_after: int | None = None) -> Response:
    """An error as the spec's google.rpc.Status, in the request's encoding."""
    grpc_code = {400: 3, 401: 16, 403: 7, 413: 8, 415: 3, 429: 8, 503: 14}.get(code, 2)
    response = _message(code, status_pb2.Status(code=grpc_code, message=text), fmt)
    if retry_after is not None:
        response.headers["Retry-After"] = str(retry_after)
    return response


def mount(server: Flask, svc: Services) -> None:
    receiver = Receiver(svc)
    server.add_url_rule(PATH, "otlp_traces", receiver.handle, methods=["POST"])
