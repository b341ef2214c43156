"""Dashboard layer: the `/ws` protocol. The server says hello with the latest seq; the client subscribes
(optionally from a seq, optionally to one task); the server replays every event after that seq from the
database, then streams live ones, with heartbeats. Every event message carries seq, type, at and ids."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any, Protocol

from dashboard.bridge import ChangeFeed, Subscriber
from db.core.engine import Database
from db.core.timeutil import iso, utcnow
from db.live.feed import events_between

HEARTBEAT_SECONDS = 15.0
SUBSCRIBE_WAIT_SECONDS = 5.0
# Events read (and held, decoded) per replay query: a socket whose sends stall mid-replay keeps one page.
REPLAY_PAGE = 200
MAX_ID = 2**63 - 1  # ids and seqs are BIGINT


class Socket(Protocol):
    def send(self, data: str) -> None: ...
    def receive(self, timeout: float | None = None) -> Any: ...


class ProtocolViolation(ValueError):
    pass


@dataclass(frozen=True)
class Subscription:
    since: int | None = None
    task_id: int | None = None


def parse_subscribe(raw: Any) -> Subscription:
    """`{"type": "subscribe", "since": 123, "task_id": 7}`; both keys optional."""
    try:
        msg = json.loads(raw) if isinstance(raw, str | bytes) else None
    except ValueError:
        raise ProtocolViolation("message is not JSON") from None
    except RecursionError:  # `[[[[…` nested past the parser's depth limit, well inside the size limit
        raise ProtocolViolation("message is nested too deeply") from None
    if not isinstance(msg, dict) or msg.get("type") != "subscribe":
        raise ProtocolViolation('expected {"type": "subscribe", "since": <seq>, "task_id": <id>}')
    values: dict[str, int | None] = {}
    for key in ("since", "task_id"):
        value = msg.get(key)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_ID
        ):
            raise ProtocolViolation(f"{key} must be an integer from 0 to {MAX_ID}, or null")
        values[key] = value
    return Subscription(**values)


def _control(type_: str, seq: int, **extra: Any) -> str:
    return json.dumps({"type": type_, "seq": seq, "at": iso(utcnow()), **extra}, separators=(",", ":"))


def error_message(code: str, message: str) -> str:
    return json.dumps({"type": "error", "error": {"code": code, "message": message, "details": {}}})


def serve(ws: Socket, feed: ChangeFeed, db: Database, heartbeat: float | None = None) -> None:
    """Runs one connection until the client goes away (ConnectionClosed ends it)."""
    heartbeat = HEARTBEAT_SECONDS if heartbeat is None else heartbeat
    ws.send(_control("hello", feed.cursor, heartbeat=heartbeat))
    raw = ws.receive(timeout=SUBSCRIBE_WAIT_SECONDS)
    if raw is None:
        # Refuse rather than guess: a subscribe arriving later would otherwise be ignored silently.
        ws.send(error_message("subscribe_timeout", f"send a subscribe within {SUBSCRIBE_WAIT_SECONDS:g} s"))
        return
    try:
        sub_req = parse_subscribe(raw)
    except ProtocolViolation as exc:
        ws.send(error_message("bad_subscribe", str(exc)))
        return
    sub = Subscriber(task_id=sub_req.task_id)
    upto = feed.attach(sub)
    try:
        # A `since` ahead of this process's cursor (its feed lags another's) is kept: nothing at or below it
        # is sent again, and the replay simply has nothing to do.
        last = upto if sub_req.since is None else sub_req.since
        last = _replay(ws, db, last, upto, sub_req.task_id)
        ws.send(_control("subscribed", upto, task_id=sub_req.task_id))
        next_beat = time.monotonic() + heartbeat
        while not feed.stopped:  # the process is shutting down: end the socket instead of holding it open
            items, overflowed = sub.take(timeout=0.5)
            if overflowed:
                # This client fell behind: catch it up from the database, then carry on from the queue.
                last = _replay(ws, db, last, feed.cursor, sub_req.task_id)
            for seq, text in items:
                if seq > last:  # items already covered by a replay are skipped, so nothing arrives twice
                    ws.send(text)
                    last = seq
            if time.monotonic() >= next_beat:
                ws.send(_control("ping", feed.cursor))
                next_beat = time.monotonic() + heartbeat
            incoming = ws.receive(timeout=0)
            if incoming is not None and _is_ping(incoming):
                ws.send(_control("pong", feed.cursor))
    finally:
        feed.detach(sub)


def _replay(ws: Socket, db: Database, after: int, upto: int, task_id: int | None) -> int:
    while after < upto:
        with db.reading() as session:
            events = events_between(session, after, upto, limit=REPLAY_PAGE, task_id=task_id)
        if not events:
            return upto
        for ev in events:
            ws.send(ev.text())
        after = events[-1].seq
    return max(after, upto)


def _is_ping(raw: Any) -> bool:
    try:
        msg = json.loads(raw)
    except (TypeError, ValueError, RecursionError):
        return False
    return isinstance(msg, dict) and msg.get("type") == "ping"
