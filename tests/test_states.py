"""Tests: the allowed-transitions map and task spec validation (pure)."""

from __future__ import annotations

import pytest

from db.domain.ops import SpecError, TaskSpec
from db.domain.states import (
    ALLOWED_TRANSITIONS,
    TERMINAL,
    IllegalTransition,
    TaskKind,
    TaskStatus,
    check_transition,
)


def test_every_status_has_an_entry() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(TaskStatus)


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
def test_terminal_states_only_go_back_to_queue(terminal: TaskStatus) -> None:
    assert ALLOWED_TRANSITIONS[terminal] == {TaskStatus.QUEUED}
    for target in TaskStatus:
        if target is not TaskStatus.QUEUED:
            with pytest.raises(IllegalTransition):
                check_transition(1, terminal, target)


def test_lifecycle_paths() -> None:
    check_transition(1, TaskStatus.QUEUED, TaskStatus.RUNNING)
    check_transition(1, TaskStatus.QUEUED, TaskStatus.CANCELLED)
    for end in TERMINAL:
        check_transition(1, TaskStatus.RUNNING, end)
    check_transition(1, TaskStatus.RUNNING, TaskStatus.QUEUED)  # lease expired: re-queue
    with pytest.raises(IllegalTransition, match="queued to completed"):
        check_transition(7, TaskStatus.QUEUED, TaskStatus.COMPLETED)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"title": "  "}, "title"),
        ({"title": "x" * 501}, "title"),
        ({"kind": "nope"}, "kind"),
        ({"priority": 5000}, "priority"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"timeout_seconds": -1}, "timeout_seconds"),
        ({"payload": {}}, "payload.command"),
        ({"payload": {"command": ""}}, "payload.command"),
        ({"kind": "python", "payload": {"callable": "nodots"}}, "payload.callable"),
        ({"tags": tuple(f"t{i}" for i in range(30))}, "tags"),
    ],
)
def test_spec_rejects_bad_fields(kwargs: dict[str, object], field: str) -> None:
    base: dict[str, object] = {"title": "ok", "kind": "command", "payload": {"command": "true"}}
    base.update(kwargs)
    with pytest.raises(SpecError) as info:
        TaskSpec(**base)  # type: ignore[arg-type]
    assert info.value.field == field


def test_spec_normalises() -> None:
    spec = TaskSpec(title="  hi ", kind="demo", tags=(" a", "a", "", "b"))  # type: ignore[arg-type]
    assert spec.title == "hi"
    assert spec.kind is TaskKind.DEMO
    assert spec.tags == ("a", "b")
