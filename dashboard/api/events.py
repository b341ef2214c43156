"""API layer: POST /events — batch ingestion for external tasks. The whole batch is validated first (shape,
then task rules, then the database's state), then applied in ONE transaction through the write path
(db/write/ingest.py → db/write/writes.apply_ops); any bad item rejects all of it, naming the item's index and field."""

from __future__ import annotations

import uuid

from flask.typing import ResponseReturnValue
from sqlalchemy.exc import IntegrityError

from dashboard.api.context import ctx, respond
from dashboard.api.errors import ApiError
from dashboard.api.event_schemas import (
    MAX_BATCH_BYTES,
    MAX_EVENTS,
    TAGS,
    BatchResult,
    EventBatch,
    ItemError,
    to_items,
)
from dashboard.api.registry import OWN_AUDIT, Role, actor, endpoint
from db.access.audit import record
from db.core.timeutil import utcnow
from db.write.ingest import BatchRejected, Rejection, apply_batch

STATUS = {Rejection.NOT_FOUND: 404, Rejection.CONFLICT: 409, Rejection.INVALID: 422}

AUDIT_DETAILS = {"method": "POST", "via": "events"}


@endpoint(
    "POST",
    "/events",
    Role.OPERATOR,
    summary="Report events of external tasks in one all-or-nothing batch",
    responses={200: ("recorded (events already recorded by an earlier batch are skipped)", BatchResult)},
    errors=(400, 404, 409, 413, 415, 422),
    body=EventBatch,
    body_limit=MAX_BATCH_BYTES,
    body_tags=TAGS,
    description=(
        f"At most {MAX_EVENTS:,} events and {MAX_BATCH_BYTES:,} bytes (413 past either). "
        "Every event is checked before anything "
        "is written; a bad one rejects the batch (details.index and details.field name it) and nothing is "
        "stored. Events are recorded in batch order per task, at their `at` when given (within the server's "
        "skew window, else 422), else the server's clock. A replayed event_id of the same task is skipped."
    ),
    audit=OWN_AUDIT,
)
def ingest(body: EventBatch) -> ResponseReturnValue:
    api = ctx()
    if len(body.events) > MAX_EVENTS:
        # Checked after parsing (the body is already within 5 MB): the count is what bounds the transaction.
        raise ApiError(
            413,
            "too_many_events",
            f"a batch holds at most {MAX_EVENTS:,} events, this one {len(body.events):,}; split it",
            limit=MAX_EVENTS,
            count=len(body.events),
        )
    try:
        items = to_items(body, api.prices, utcnow(), api.svc.settings.skew_window)
    except ItemError as exc:
        raise _item_error(422, "validation_error", exc.index, exc.field, exc.message) from None
    batch_id = uuid.uuid4().hex
    try:
        with api.svc.recorder.transaction() as session:
            now = utcnow()
            outcome = apply_batch(
                session, items, actor=actor(), now=now, correlation_id=batch_id, prices=api.prices
            )
            # The audit rows of the tasks the batch created, in the batch's own transaction: kept exactly when
            # the batch is, and no second commit per batch.
            for task in outcome.tasks:
                if task.created:
                    record(session, actor(), "task.create", f"task:{task.task_id}", AUDIT_DETAILS, now=now)
    except BatchRejected as exc:
        raise _item_error(STATUS[exc.reason], exc.code, exc.index, exc.field, exc.message) from None
    except IntegrityError:
        # Another batch created the same external_id or recorded the same event id at the same moment
        # (PostgreSQL): nothing of this one was stored, and sending it again is safe.
        raise ApiError(
            409, "conflict", "a concurrent batch wrote the same task or event ids; send it again"
        ) from None
    api.metrics.events_ingested.inc(outcome.recorded)
    return respond(
        BatchResult,
        {
            "batch_id": batch_id,
            "recorded": outcome.recorded,
            "duplicates": outcome.duplicates,
            "events_written": outcome.events_written,
            "tasks": [t.__dict__ for t in outcome.tasks],
        },
    )


def _item_error(status: int, code: str, index: int, field_name: str, message: str) -> ApiError:
    path = f"events[{index}]" + (f".{field_name}" if field_name else "")
    return ApiError(
        status, code, f"{path}: {message}; nothing of this batch was stored", index=index, field=path
    )
