"""Dashboard layer: builds the JavaScript of clientside callbacks with component ids filled in as JSON
literals ($name placeholders), so ids stay constants and the JS needs no brace escaping."""

from __future__ import annotations

import json
from string import Template
from typing import Any


def js(source: str, **names: Any) -> str:
    return Template(source).substitute({key: json.dumps(value) for key, value in names.items()})
