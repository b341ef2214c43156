"""Command-line layer: task specs read from a JSON-lines file (`python app.py submit --from-file`), one object a line
with the fields of POST /api/v1/tasks (plus `command` / `callable` as the CLI's flags), every line checked
before anything is stored; a bad one is named by its line number and field."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from db.domain.ops import SpecError, TaskSpec

# field → the JSON types it takes (bool is refused where a number is meant: True is no priority).
FIELDS: dict[str, tuple[type, ...]] = {
    "title": (str,),
    "kind": (str,),
    "payload": (dict,),
    "priority": (int,),
    "tags": (list,),
    "created_by": (str,),
    "max_attempts": (int,),
    "max_iterations": (int, type(None)),
    "timeout_seconds": (int, float, type(None)),
    "external_id": (str, type(None)),
    "command": (str, list),
    "callable": (str,),
}


class TaskFileError(ValueError):
    def __init__(self, line: int, field: str, message: str) -> None:
        super().__init__(f"line {line}: {field + ': ' if field else ''}{message}")
        self.line = line
        self.field = field


def read_specs(lines: Iterable[str]) -> list[TaskSpec]:
    """Every non-blank line as a TaskSpec; TaskFileError for the first that is not one."""
    specs: list[TaskSpec] = []
    keys: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            item = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise TaskFileError(number, "", f"not JSON: {exc.msg}") from None
        if not isinstance(item, dict):
            raise TaskFileError(number, "", "each line must be a JSON object")
        spec = _spec(number, item)
        if spec.external_id is not None:
            if spec.external_id in keys:
                raise TaskFileError(number, "external_id", f"repeats line {keys[spec.external_id]}")
            keys[spec.external_id] = number
        specs.append(spec)
    return specs


def _spec(number: int, item: dict[str, Any]) -> TaskSpec:
    for key, value in item.items():
        types = FIELDS.get(key)
        if types is None:
            raise TaskFileError(number, key, f"unknown field; known: {', '.join(FIELDS)}")
        if isinstance(value, bool) or not isinstance(value, types):
            raise TaskFileError(number, key, f"wrong type {type(value).__name__}")
    fields = dict(item)
    payload = dict(fields.pop("payload", {}))
    for shortcut in ("command", "callable"):
        if shortcut in fields:
            payload[shortcut] = fields.pop(shortcut)
    if "kind" not in fields:
        fields["kind"] = "command" if "command" in payload else "python" if "callable" in payload else ""
    if "tags" in fields:
        if not all(isinstance(t, str) for t in fields["tags"]):
            raise TaskFileError(number, "tags", "must be strings")
        fields["tags"] = tuple(fields["tags"])
    try:
        return TaskSpec(**{"title": "", **fields, "payload": payload})
    except SpecError as exc:
        raise TaskFileError(number, exc.field, exc.message) from None
