"""Worker layer: the `demo` handler — a simulated multi-role agent (analyst, planner, builder, tester, reviewer)
with realistic iterations, tool calls, tokens, costs, occasional failures and hangs."""

from __future__ import annotations

import random
from typing import Any

from worker.context import RunHandle, TaskContext
from worker.simulation import FAILURE_MESSAGES, failing_call, plan_call, tool_line, work_plan

DEFAULT_FAIL_RATE = 0.08


class DemoFailure(Exception):
    pass


def run_demo(handle: RunHandle) -> Any:
    ctx = TaskContext(handle)
    p = ctx.payload
    rng = random.Random(p.get("seed", handle.task.id * 7919 + handle.task.attempt))
    speed = float(p.get("speed", 1.0)) or 1.0
    fail_rate = float(p.get("fail_rate", DEFAULT_FAIL_RATE))
    hang_rate = float(p.get("hang_rate", 0.03))
    iterations = int(p.get("iterations") or ctx.max_iterations or rng.randint(2, 5))
    plan = work_plan(rng, iterations)
    # One draw per run (not per call), so fail_rate is the share of runs that fail.
    fail_at = failing_call(rng, plan) if rng.random() < fail_rate else None
    builders = [n for n, (_, role) in enumerate(plan) if role == "builder"]
    hang_at = rng.choice(builders) if builders and rng.random() < hang_rate else None
    total_cost = 0.0
    tokens = 0

    for n, (it, role) in enumerate(plan):
        if n == 0 or plan[n - 1][0] != it:
            # An iteration begins: the ones before it are done.
            percent = 100.0 * (it - 1) / iterations
            ctx.progress(it, iterations, percent, message=f"iteration {it}: working")
        call = plan_call(rng, role)
        with ctx.invocation(
            role, call.provider, call.model, prompt=f"{role}: {ctx.title}", iteration=it
        ) as inv:
            for tool in call.tools:
                inv.activity(tool_line(rng, tool))
                ctx.sleep(rng.uniform(0.1, 0.6) / speed)
            if n == hang_at:
                # A stuck agent: silence until it is cancelled or times out.
                ctx.activity("waiting for provider response…", "progress")
                ctx.sleep(3600)
            ctx.sleep(call.seconds / speed)
            inv.usage(call.input_tokens, call.output_tokens, call.cache_read_tokens, call.cost_usd)
            total_cost += call.cost_usd
            tokens += call.input_tokens + call.output_tokens
            if n == fail_at:
                raise DemoFailure(f"{role}: {rng.choice(FAILURE_MESSAGES)}")
            inv.response = f"{role} finished step {it}"
        ctx.activity(f"{role} done ({call.model}, {call.output_tokens} tokens out)")
    ctx.progress(iteration=iterations, max_iterations=iterations, percent=100, message="done")
    return {
        "iterations": iterations,
        "tokens": tokens,
        "cost_usd": round(total_cost, 6),
        "summary": "goal met",
    }
