"""Data layer: redaction at write time — TASKLENS_REDACT regular expressions replaced in titles, prompts,
responses, errors, activity lines and call messages before anything is stored. The write path (db/write/writes.py:
insert_tasks and apply_ops) applies it once, from the write session's `info`, so every source is covered."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import fields, replace
from typing import Any, TypeVar

from db.read import search
from db.write import messages as packing

MARK = "[REDACTED]"
# The session.info key the Database's write sessions carry the redactor under.
INFO_KEY = "redactor"
# Free-text fields of ops and specs that may carry what people typed or models said.
TEXT_FIELDS = frozenset({"title", "message", "prompt", "response", "error", "search_text"})
Item = TypeVar("Item")


class RedactError(ValueError):
    """TASKLENS_REDACT is not a regular expression nor a JSON list of them."""


def parse(raw: str) -> tuple[str, ...]:
    """A JSON list of regular expressions, or one expression; each must compile."""
    raw = raw.strip()
    if not raw:
        return ()
    try:
        value = json.loads(raw) if raw.startswith("[") else [raw]
    except json.JSONDecodeError as exc:
        raise RedactError(f"TASKLENS_REDACT is not a JSON list: {exc}") from None
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise RedactError("TASKLENS_REDACT must be a regular expression or a JSON list of them")
    for pattern in value:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise RedactError(f"TASKLENS_REDACT: {pattern!r} is not a regular expression: {exc}") from None
    return tuple(value)


class Redactor:
    def __init__(self, patterns: Sequence[str]) -> None:
        self.patterns = [re.compile(p) for p in patterns]

    def text(self, value: str) -> str:
        for pattern in self.patterns:
            value = pattern.sub(MARK, value)
        return value

    def value(self, value: Any) -> Any:
        """Strings inside any JSON-like value (a call's messages, a payload's text)."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, list):
            return [self.value(v) for v in value]
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        return value

    def item(self, item: Item) -> Item:
        """An op or task spec with its free-text fields (and packed messages) redacted."""
        changes: dict[str, Any] = {}
        for f in fields(item):  # type: ignore[arg-type]
            current = getattr(item, f.name)
            if f.name in TEXT_FIELDS and isinstance(current, str):
                changed: Any = self.text(current)
            elif f.name == "messages" and isinstance(current, bytes):
                changed = packing.pack(self.value(packing.unpack(current)))
            elif f.name == "spec" and current is not None:  # a late description's TaskSpec
                changed = self.item(current)
            else:
                continue
            if changed != current:
                changes[f.name] = changed
        if "messages" in changes and getattr(item, "search_text", None):
            # Indexed from the redacted messages, exactly as retention recomputes it to delete the entry.
            changes["search_text"] = search.index_text(packing.unpack(changes["messages"]))
        return replace(item, **changes) if changes else item  # type: ignore[type-var]

    def items(self, items: Sequence[Item]) -> list[Item]:
        return [self.item(i) for i in items]
