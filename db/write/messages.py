"""Data layer: a call's messages (system / user / assistant / tool parts, a tool's arguments and result) packed
into one compact column — minified JSON, zlib-compressed when that is smaller and the text is large."""

from __future__ import annotations

import json
import zlib
from typing import Any

# Under this many bytes compression saves little and costs a header; above it agent messages (repetitive
# JSON and prose) shrink 2–4×.
COMPRESS_FROM = 512
_PLAIN, _ZLIB = b"j", b"z"
# What one call may keep: longer message sets are cut (with a note), so one call can never bloat a row.
MAX_TEXT = 256 * 1024


def pack(messages: dict[str, Any]) -> bytes | None:
    """`{"input": [...], "output": [...]}` (each message a dict with at least role and content) as stored
    bytes; None when there is nothing to keep."""
    if not any(messages.values()):
        return None
    text = json.dumps(messages, separators=(",", ":"), ensure_ascii=False)
    if len(text) > MAX_TEXT:
        text = json.dumps(
            {"truncated": True, "input": [], "output": [{"role": "note", "content": text[:MAX_TEXT]}]}
        )
    raw = text.encode()
    if len(raw) >= COMPRESS_FROM:
        packed = zlib.compress(raw, 6)
        if len(packed) < len(raw):
            return _ZLIB + packed
    return _PLAIN + raw


def unpack(blob: bytes | None) -> dict[str, Any]:
    """The messages `pack` stored; empty lists for a call that has none."""
    if not blob:
        return {"input": [], "output": []}
    data = bytes(blob)
    body = zlib.decompress(data[1:]) if data[:1] == _ZLIB else data[1:]
    value: dict[str, Any] = json.loads(body)
    value.setdefault("input", [])
    value.setdefault("output", [])
    return value
