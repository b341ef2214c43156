"""Worker layer: example `python` task callables (documented in the README, used by the tests)."""

from __future__ import annotations

from typing import Any

from worker.context import TaskContext


def count_to(ctx: TaskContext) -> dict[str, Any]:
    """Counts to payload["n"] (default 5), one iteration each, sleeping payload["delay"] between steps."""
    n = int(ctx.payload.get("n", 5))
    delay = float(ctx.payload.get("delay", 0.05))
    for i in range(1, n + 1):
        ctx.progress(iteration=i, max_iterations=n, message=f"step {i}")
        ctx.activity(f"counted {i}")
        ctx.sleep(delay)
    return {"counted": n}


def summarize(ctx: TaskContext) -> dict[str, Any]:
    """A pretend model call: one invocation with usage, cost inferred from the price table."""
    text = str(ctx.payload.get("text", ""))
    with ctx.invocation("summarizer", "anthropic", "claude-haiku-4-5", prompt=text[:200]) as inv:
        inv.activity("tokenize input")
        ctx.sleep(float(ctx.payload.get("delay", 0.05)))
        inv.usage(input_tokens=max(1, len(text) // 4), output_tokens=50)
        inv.response = text[:60]
    return {"summary": text[:60], "chars": len(text)}


def fail(ctx: TaskContext) -> None:
    """Always raises: for trying retries."""
    raise RuntimeError(str(ctx.payload.get("message", "this task always fails")))


def noop(ctx: TaskContext) -> None:
    """Does nothing: the tiny task of bench/bench_worker_throughput.py (the worker's own cost per task)."""
    return None
