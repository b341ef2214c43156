"""Data layer: concurrency limits per task kind or tag across the fleet — set, listed, removed, and applied by
the claim. Race-free: on PostgreSQL a claim that may be limited first locks the limit rows (claims of limited
work then take turns; SQLite's BEGIN IMMEDIATE already serialises every claim), so the running tasks it counts
cannot change under it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, delete, insert, select, update
from sqlalchemy.orm import Session

from db.core.models import ConcurrencyLimit, Task
from db.domain.states import TaskKind, TaskStatus

L = cast(Table, ConcurrencyLimit.__table__)
T = cast(Table, Task.__table__)
SCOPES = ("kind", "tag")

Key = tuple[str, str]  # (scope, value)


class LimitError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def parse_key(text: str) -> Key:
    """`kind:command` or `tag:deploy`."""
    scope, sep, value = text.strip().partition(":")
    if not sep or scope not in SCOPES or not value.strip():
        raise LimitError("key", f"write kind:<kind> or tag:<tag>, got {text!r}")
    value = value.strip()
    if scope == "kind" and value not in {k.value for k in TaskKind}:
        raise LimitError("key", f"unknown kind {value!r}")
    if len(value) > 200:
        raise LimitError("key", "at most 200 characters")
    return scope, value


def set_limit(session: Session, key: Key, max_running: int, now: datetime) -> None:
    if not 1 <= max_running <= 100_000:
        raise LimitError("max_running", "must be between 1 and 100000")
    scope, value = key
    where = (L.c.scope == scope) & (L.c.value == value)
    if session.scalar(select(L.c.scope).where(where)) is None:
        session.execute(insert(L).values(scope=scope, value=value, max_running=max_running, updated_at=now))
    else:
        session.execute(update(L).where(where).values(max_running=max_running, updated_at=now))


def remove_limit(session: Session, key: Key) -> bool:
    scope, value = key
    where = (L.c.scope == scope) & (L.c.value == value)
    if session.scalar(select(L.c.scope).where(where)) is None:
        return False
    session.execute(delete(L).where(where))
    return True


def list_limits(session: Session) -> list[dict[str, Any]]:
    """Each limit with how many tasks it covers run now."""
    rows = [dict(r) for r in session.execute(select(L).order_by(L.c.scope, L.c.value)).mappings()]
    usage = running_usage(session)
    return [{**r, "running": usage[(r["scope"], r["value"])]} for r in rows]


@dataclass
class Budget:
    """The limits and how much of each the running tasks use, inside one claim transaction."""

    limits: dict[Key, int]
    usage: Counter[Key]

    def full(self) -> tuple[frozenset[str], frozenset[str]]:
        """(kinds, tags) whose limit is reached: no task of these may be claimed now."""
        done = [k for k, cap in self.limits.items() if self.usage[k] >= cap]
        return (
            frozenset(v for s, v in done if s == "kind"),
            frozenset(v for s, v in done if s == "tag"),
        )

    def take(self, kind: str, tags: Iterable[str]) -> None:
        self.usage[("kind", kind)] += 1
        for tag in set(tags):
            self.usage[("tag", tag)] += 1


def budget(session: Session) -> Budget | None:
    """None when no limit is set (the claim is then unlimited and takes no lock)."""
    rows = session.execute(select(L.c.scope, L.c.value, L.c.max_running).with_for_update()).all()
    if not rows:
        return None
    return Budget({(r.scope, r.value): r.max_running for r in rows}, running_usage(session))


def running_usage(session: Session) -> Counter[Key]:
    """Running tasks per kind and tag: read from the running tasks alone (few, by the status index), not from
    a tag's whole history."""
    usage: Counter[Key] = Counter()
    for kind, tags in session.execute(
        select(T.c.kind, T.c.tags).where(T.c.status == TaskStatus.RUNNING.value)
    ):
        usage[("kind", kind)] += 1
        for tag in set(tags or ()):
            usage[("tag", tag)] += 1
    return usage
