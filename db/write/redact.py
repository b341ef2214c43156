"""Data layer: redaction at write time — TASKLENS_REDACT, the one redaction setting: its regular expressions
are replaced in titles, prompts, responses, errors, activity lines and call messages before anything is stored
(the write path, db/write/writes.py: insert_tasks and apply_ops, applies them once, from the write session's `info`,
so every source is covered), and in Celery task arguments, where the values of secret keys are masked too
(worker/celerysource/translate.py)."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, TypeVar

from db.read import search
from db.write import messages as packing

MARK = "[REDACTED]"
# The session.info key the Database's write sessions carry the redactor under.
INFO_KEY = "redactor"
# Free-text fields of ops and specs that may carry what people typed or models said.
TEXT_FIELDS = frozenset({"title", "message", "prompt", "response", "error", "search_text"})
Item = TypeVar("Item")


# Keys whose values are always masked in structured arguments (a Celery task's args and kwargs): safe by default;
# TASKLENS_REDACT's {"key": …} entries add to them.
SECRET_KEYS = frozenset(
    {
        "password",
        "passwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "authorization",
        "credentials",
        "private_key",
    }
)


class RedactError(ValueError):
    """TASKLENS_REDACT is not a regular expression nor a JSON list of them and {"key": …} entries."""


@dataclass(frozen=True)
class Rules:
    """TASKLENS_REDACT, the one redaction setting: regular expressions replaced in stored text (and in Celery
    arguments), and the keys whose values are masked in structured arguments."""

    patterns: tuple[str, ...] = ()
    keys: frozenset[str] = SECRET_KEYS


def parse_rules(raw: str) -> Rules:
    """One regular expression, or a JSON list of regular expressions and {"key": "name"} objects; each
    expression must compile."""
    raw = raw.strip()
    if not raw:
        return Rules()
    try:
        value = json.loads(raw) if raw.startswith("[") else [raw]
    except json.JSONDecodeError as exc:
        raise RedactError(f"TASKLENS_REDACT is not a JSON list: {exc}") from None
    if not isinstance(value, list):
        raise RedactError(SHAPE)
    patterns: list[str] = []
    keys: set[str] = set()
    for entry in value:
        if isinstance(entry, dict) and set(entry) == {"key"} and isinstance(entry["key"], str):
            if entry["key"].strip():
                keys.add(entry["key"].strip().lower())
            continue
        if not isinstance(entry, str):
            raise RedactError(SHAPE)
        try:
            re.compile(entry)
        except re.error as exc:
            raise RedactError(f"TASKLENS_REDACT: {entry!r} is not a regular expression: {exc}") from None
        patterns.append(entry)
    return Rules(tuple(patterns), SECRET_KEYS | keys)


SHAPE = 'TASKLENS_REDACT must be a regular expression, or a JSON list of them and {"key": "name"} entries'


def parse(raw: str) -> tuple[str, ...]:
    """TASKLENS_REDACT's regular expressions."""
    return parse_rules(raw).patterns


def with_keys(raw: str, keys: list[str]) -> str:
    """TASKLENS_REDACT with {"key": …} entries added (what the deprecated TASKLENS_CELERY_REDACT names)."""
    raw = raw.strip()
    try:
        entries = (json.loads(raw) if raw.startswith("[") else [raw]) if raw else []
    except json.JSONDecodeError:
        return raw  # left as given: parse_rules says what is wrong with it
    if not isinstance(entries, list):
        return raw
    return json.dumps(entries + [{"key": k} for k in keys])


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
