"""Worker layer: the `python` handler — imports a dotted-path callable and calls it with a TaskContext."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from typing import Any, cast

from worker.context import RunHandle, TaskContext


def resolve(target: str) -> Callable[..., Any]:
    """`pkg.module:func` or `pkg.module.func`."""
    module_name, _, attr = target.partition(":") if ":" in target else target.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise RuntimeError(f"cannot import {module_name!r}: {exc}") from exc
    func: Any = module
    for part in attr.split("."):
        func = getattr(func, part, None)
        if func is None:
            raise RuntimeError(f"{module_name!r} has no attribute {attr!r}")
    if not callable(func):
        raise RuntimeError(f"{target!r} is not callable")
    return cast(Callable[..., Any], func)


def run_python(handle: RunHandle) -> Any:
    func = resolve(handle.task.payload["callable"])
    result = func(TaskContext(handle))
    try:
        json.dumps(result)
    except (TypeError, ValueError):
        result = repr(result)  # results are stored as JSON; keep something readable rather than fail
    return result
