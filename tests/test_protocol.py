"""Tests: the JSON-lines protocol of command tasks (pure)."""

from __future__ import annotations

import json

from db.domain.ops import ActivityLine, InvocationFinished, InvocationStarted, Progress, SetResult, Usage
from db.domain.pricing import cost_of
from db.domain.states import ActivityType
from worker.protocol import ProtocolState, parse_line


def line(**obj: object) -> str:
    return json.dumps(obj) + "\n"


def test_plain_lines_are_output_and_blank_lines_are_dropped() -> None:
    state = ProtocolState(prefix="t1a1-")
    assert parse_line("hello\n", "stdout", state) == [
        ActivityLine("hello", ActivityType.OUTPUT, stream="stdout")
    ]
    assert parse_line("   \n", "stdout", state) == []
    assert state.last_output == "hello"
    # JSON without an "event" key, or not an object, is just output.
    assert parse_line('{"a": 1}\n', "stdout", state)[0].message == '{"a": 1}'  # type: ignore[union-attr]
    assert parse_line("[1, 2]\n", "stderr", state)[0].stream == "stderr"  # type: ignore[union-attr]


def test_full_invocation_life() -> None:
    s = ProtocolState(prefix="t9a2-")
    [started] = parse_line(
        line(event="invocation.started", role="planner", provider="openai", model="gpt-4.1"), "stdout", s
    )
    assert isinstance(started, InvocationStarted)
    assert started.invocation_id == "t9a2-auto1" and started.role == "planner"
    [usage] = parse_line(
        line(event="usage", model="gpt-4.1", input_tokens=1000, output_tokens=100), "stdout", s
    )
    assert isinstance(usage, Usage)
    assert usage.invocation_id == "t9a2-auto1"
    assert usage.cost_usd == cost_of("gpt-4.1", 1000, 100)  # inferred from the price table
    [done] = parse_line(line(event="invocation.completed", response="ok"), "stdout", s)
    assert done == InvocationFinished("t9a2-auto1", ok=True, response="ok", error=None)


def test_explicit_ids_and_failed_invocation() -> None:
    s = ProtocolState(prefix="p-")
    parse_line(line(event="invocation.started", id="a", role="x"), "stdout", s)
    parse_line(line(event="invocation.started", id="b", role="y"), "stdout", s)
    [fin] = parse_line(line(event="invocation.failed", id="a", error="429"), "stdout", s)
    assert fin == InvocationFinished("p-a", ok=False, response=None, error="429")
    [u] = parse_line(line(event="usage", input_tokens=5, cost_usd=0.5), "stdout", s)
    assert isinstance(u, Usage) and u.invocation_id == "p-b" and u.cost_usd == 0.5


def test_progress_activity_and_result() -> None:
    s = ProtocolState(prefix="p-")
    assert parse_line(line(event="progress", iteration=2, max_iterations=4, message="half"), "stdout", s) == [
        Progress(iteration=2, max_iterations=4, percent=None, message="half")
    ]
    [act] = parse_line(line(event="activity", type="tool_exec", message="grep foo"), "stdout", s)
    assert act == ActivityLine("grep foo", ActivityType.TOOL_EXEC, invocation_id=None)
    assert parse_line(line(event="result", result={"answer": 42}), "stdout", s) == [SetResult({"answer": 42})]
    assert s.has_result


def test_malformed_events_are_kept_and_flagged() -> None:
    s = ProtocolState(prefix="p-")
    bad = [
        line(event="progress", iteration="two"),
        line(event="activity", type="shout", message="x"),
        line(event="activity"),
        line(event="usage", input_tokens=-5),
        line(event="invocation.completed"),
        line(event="invocation.completed", id="ghost"),
        line(event="result"),
        line(event="teleport"),
        line(event="progress", percent=float("inf")).replace("Infinity", "1e999"),
        line(event="invocation.started", id="c\x001"),  # NUL in an id: refused, as the REST API does
    ]
    for raw in bad:
        ops = parse_line(raw, "stdout", s)
        assert len(ops) == 2, raw
        kept, flag = ops
        assert isinstance(kept, ActivityLine) and kept.message == raw.strip()
        assert isinstance(flag, ActivityLine) and flag.type is ActivityType.ERROR
        assert flag.message.startswith("ignored malformed event")


def test_duplicate_invocation_id_is_rejected() -> None:
    s = ProtocolState(prefix="p-")
    parse_line(line(event="invocation.started", id="1"), "stdout", s)
    ops = parse_line(line(event="invocation.started", id="1"), "stdout", s)
    assert ops[-1].type is ActivityType.ERROR  # type: ignore[union-attr]
