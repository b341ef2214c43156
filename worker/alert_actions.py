"""Worker layer: a rule's automations, run by the evaluator when its alert fires — cancel a stuck task, or
cancel it and queue it again once the cancel has landed; pause claiming of a failing kind, or a tag's queued
tasks, until the alert is acknowledged (the pause itself is read by workers from db/alerts/pauses.py). Each
action is audited and recorded on the alert it answered."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from db.access import audit
from db.alerts.rules import ActionType, Rule
from db.alerts.store import AL, record_action, set_actions
from db.core.timeutil import iso, utcnow
from db.domain.states import TERMINAL, IllegalTransition, TaskStatus
from db.read.tasks.detail import task_record
from db.write.recorder import Recorder
from db.write.writes import TaskNotFound

log = logging.getLogger(__name__)

# A cancel-and-retry whose task has not ended by then is given up (recorded so).
RETRY_PATIENCE = timedelta(hours=1)


def _cancel(recorder: Recorder, task_id: int, who: str) -> str:
    try:
        return f"cancel requested (task {recorder.cancel(task_id, actor=who)})"
    except (IllegalTransition, TaskNotFound) as exc:
        return f"not done: {exc}"


def act(recorder: Recorder, rule: Rule, row: Any, name: str, who: str) -> dict[str, Any]:
    """Carries out one action for a firing alert; returns the entry recorded on the alert."""
    labels = row.labels or {}
    entry: dict[str, Any] = {"type": name, "at": iso(utcnow())}
    if name in (ActionType.CANCEL_TASK, ActionType.CANCEL_AND_RETRY):
        task_id = labels.get("task_id")
        if not isinstance(task_id, int):
            return {**entry, "outcome": "not done: the alert names no task"}
        entry |= {"task_id": task_id, "outcome": _cancel(recorder, task_id, who)}
        if name == ActionType.CANCEL_AND_RETRY and not entry["outcome"].startswith("not done"):
            entry["retry"] = "pending"  # queued again by retry_cancelled once the cancel has landed
    elif name == ActionType.PAUSE_KIND:
        outcome = f"claiming of {rule.scope_value} tasks paused until acknowledged"
        entry |= {"kind": rule.scope_value, "outcome": outcome}
    elif name == ActionType.PAUSE_TAG:
        tag = labels.get("tag")
        outcome = (
            f"queued tasks tagged {tag} paused until acknowledged" if tag else "not done: not a tag's budget"
        )
        entry |= {"tag": tag, "outcome": outcome}
    return entry


def run_actions(recorder: Recorder, rule: Rule, alert_ids: list[int], actor: str) -> None:
    """For each alert that just fired (no actions taken yet), the rule's actions."""
    with recorder.db.reading() as session:
        rows = list(session.execute(select(AL).where(AL.c.id.in_(alert_ids), AL.c.state == "firing")))
    who = f"{actor}:rule:{rule.id}"
    for row in rows:
        if row.actions_taken:
            continue
        for action in rule.actions:
            entry = act(recorder, rule, row, action["type"], who)
            now = utcnow()
            with recorder.transaction() as session:
                record_action(session, row.id, entry, now, who)
                audit.record(session, who, "alert.action", f"alert:{row.id}", entry, now=now)
            log.info("alert %s: %s: %s", row.id, entry["type"], entry["outcome"])


def retry_cancelled(recorder: Recorder, rules: list[Rule], actor: str) -> int:
    """The second half of cancel_and_retry: each task whose cancel has landed is queued again (attempt + 1).
    Read only for rules that have the action, among alerts changed within RETRY_PATIENCE. Returns retries."""
    ids = [r.id for r in rules if any(a["type"] == ActionType.CANCEL_AND_RETRY for a in r.actions)]
    if not ids:
        return 0
    now = utcnow()
    with recorder.db.reading() as session:
        recent = select(AL.c.id, AL.c.actions_taken).where(
            AL.c.rule_id.in_(ids), AL.c.updated_at >= now - RETRY_PATIENCE
        )
        rows = list(session.execute(recent))
    done = 0
    for alert_id, taken in rows:
        entries = [dict(e) for e in taken or []]
        waiting = [e for e in entries if e.get("retry") == "pending"]
        if not waiting:
            continue
        for e in waiting:
            with recorder.db.reading() as session:
                task = task_record(session, int(e["task_id"]))
            if task is None:
                e["retry"] = "not done: the task is gone"
            elif TaskStatus(task.status) not in TERMINAL:
                continue  # the cancel has not landed yet
            else:
                try:
                    recorder.retry(task.id, actor=f"{actor}:alert:{alert_id}")
                    e["retry"] = f"queued again (attempt {task.attempt + 1})"
                    done += 1
                except (IllegalTransition, TaskNotFound) as exc:
                    e["retry"] = f"not done: {exc}"
        if entries != [dict(e) for e in taken or []]:
            with recorder.transaction() as session:
                set_actions(session, alert_id, entries, utcnow(), actor)
    return done
