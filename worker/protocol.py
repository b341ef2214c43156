"""Worker layer: the JSON-lines protocol of command tasks — turns one line of output into recorder ops.
A line that is a JSON object with an "event" key is structured; anything else is plain output. A malformed
structured line is kept as output and flagged, never dropped."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from db.domain.ops import (
    ActivityLine,
    InvocationFinished,
    InvocationStarted,
    Op,
    Progress,
    SetResult,
    Usage,
)
from db.domain.pricing import DEFAULT_PRICES, Price, cost_of
from db.domain.states import ActivityType


class ProtocolError(ValueError):
    pass


@dataclass
class ProtocolState:
    """Per-run memory: invocation ids are namespaced per task attempt so scripts may use "1", "2", …"""

    prefix: str
    prices: dict[str, Price] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    open_invocations: list[str] = field(default_factory=list)
    known: set[str] = field(default_factory=set)
    counter: int = 0
    has_result: bool = False
    last_output: str | None = None

    def new_id(self, given: Any) -> str:
        self.counter += 1
        local = _id(given) if given is not None else f"auto{self.counter}"
        return f"{self.prefix}{local}"[:64]

    def resolve(self, given: Any) -> str:
        if given is not None:
            full = f"{self.prefix}{_id(given)}"[:64]
            if full not in self.known:
                raise ProtocolError(f"unknown invocation id {given!r}")
            return full
        if not self.open_invocations:
            raise ProtocolError("no invocation is open")
        return self.open_invocations[-1]


def _id(given: Any) -> str:
    """A script's call id as text. Ids are matched as stored and PostgreSQL cannot store NUL, so one holding
    it is refused, as the REST API refuses it."""
    local = str(given)
    if "\x00" in local:
        raise ProtocolError("an invocation id must not contain NUL (U+0000) characters")
    return local


def parse_line(line: str, stream: str, state: ProtocolState) -> list[Op]:
    text = line.rstrip("\r\n")
    if not text.strip():
        return []
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            obj = json.loads(stripped)
        except ValueError:
            obj = None
        if isinstance(obj, dict) and "event" in obj:
            try:
                return _structured(obj, state)
            except ProtocolError as exc:
                return [
                    ActivityLine(text, ActivityType.OUTPUT, stream=stream),
                    ActivityLine(f"ignored malformed event: {exc}", ActivityType.ERROR, stream=stream),
                ]
    if stream == "stdout":
        state.last_output = text
    return [ActivityLine(text, ActivityType.OUTPUT, stream=stream)]


def _structured(obj: dict[str, Any], state: ProtocolState) -> list[Op]:
    event = obj["event"]
    if event == "progress":
        return [
            Progress(
                iteration=_int(obj, "iteration"),
                max_iterations=_int(obj, "max_iterations"),
                percent=_num(obj, "percent"),
                message=_str(obj, "message"),
            )
        ]
    if event == "activity":
        try:
            kind = ActivityType(obj.get("type", "output"))
        except ValueError:
            allowed = ", ".join(t.value for t in ActivityType)
            raise ProtocolError(f"activity type must be one of {allowed}") from None
        message = _str(obj, "message")
        if message is None:
            raise ProtocolError("activity needs a message")
        return [ActivityLine(message, kind, invocation_id=_optional_invocation(obj, state))]
    if event == "invocation.started":
        inv = state.new_id(obj.get("id"))
        if inv in state.known:
            raise ProtocolError(f"invocation id {obj.get('id')!r} was already started")
        state.known.add(inv)
        state.open_invocations.append(inv)
        return [
            InvocationStarted(
                inv,
                role=_str(obj, "role") or "",
                provider=_str(obj, "provider") or "",
                model=_str(obj, "model") or "",
                prompt=_str(obj, "prompt"),
                iteration=_int(obj, "iteration"),
            )
        ]
    if event in ("invocation.completed", "invocation.failed"):
        inv = state.resolve(obj.get("id"))
        if inv not in state.open_invocations:
            raise ProtocolError("invocation already finished")
        state.open_invocations.remove(inv)
        ok = event == "invocation.completed"
        return [InvocationFinished(inv, ok=ok, response=_str(obj, "response"), error=_str(obj, "error"))]
    if event == "usage":
        model = _str(obj, "model") or ""
        inp = _int(obj, "input_tokens") or 0
        out = _int(obj, "output_tokens") or 0
        cache = _int(obj, "cache_read_tokens") or 0
        if min(inp, out, cache) < 0:
            raise ProtocolError("token counts must not be negative")
        cost = _num(obj, "cost_usd")
        if cost is None:
            cost = cost_of(model, inp, out, cache, state.prices)  # tokens only: infer from the price table
        return [Usage(model, inp, out, cache, cost, invocation_id=_optional_invocation(obj, state))]
    if event == "result":
        if "result" not in obj:
            raise ProtocolError("result event needs a result")
        state.has_result = True
        return [SetResult(obj["result"])]
    raise ProtocolError(f"unknown event {event!r}")


def _optional_invocation(obj: dict[str, Any], state: ProtocolState) -> str | None:
    if obj.get("invocation_id") is not None:
        return state.resolve(obj["invocation_id"])
    return state.open_invocations[-1] if state.open_invocations else None


def _int(obj: dict[str, Any], key: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProtocolError(f"{key} must be a number")
    return int(value)


def _num(obj: dict[str, Any], key: str) -> float | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProtocolError(f"{key} must be a number")
    return float(value)


def _str(obj: dict[str, Any], key: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)
