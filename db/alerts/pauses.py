"""Data layer: what alert actions hold back from the queue — the kinds (a failure-rate rule's pause_kind) and
tags (a tag budget's pause_tag) of firing alerts that nobody has acknowledged yet. Workers read this before
they claim; acknowledging the alert (or its resolving) lets the tasks go again."""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.orm import Session

from db.alerts.store import AL, AlertState
from db.core.models import AlertRule

AR = cast(Table, AlertRule.__table__)


@dataclass(frozen=True)
class Pauses:
    kinds: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()


def current(session: Session) -> Pauses:
    # Firing alerts are a handful (ix_alerts_state); the rules' actions are read with them.
    rows = session.execute(
        select(AL.c.labels, AR.c.actions, AR.c.scope_kind, AR.c.scope_value)
        .join(AR, AR.c.id == AL.c.rule_id)
        .where(AL.c.state == AlertState.FIRING.value, AL.c.acknowledged_at.is_(None))
    )
    kinds: set[str] = set()
    tags: set[str] = set()
    for labels, actions, scope_kind, scope_value in rows:
        names = {a.get("type") for a in actions or []}
        if "pause_kind" in names and scope_kind == "kind" and scope_value:
            kinds.add(scope_value)
        tag = (labels or {}).get("tag")
        if "pause_tag" in names and tag:
            tags.add(str(tag))
    return Pauses(frozenset(kinds), frozenset(tags))
