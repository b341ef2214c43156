"""Tests: a python task callable that ignores stop requests (blocks without checking)."""

from __future__ import annotations

import time
from typing import Any


def block(ctx: Any) -> str:
    time.sleep(float(ctx.payload.get("seconds", 5)))
    return "finished late"
