"""Worker layer: a rule's automations run when its alert fires — cancel a stuck task, or cancel it and queue
it again once the cancel has landed. Each action is audited and recorded on the alert it answered."""

from __future__ import annotations

import logging

from sqlalchemy import select

from db import audit
from db.alert_rules import Rule
from db.alert_store import AL, record_action
from db.recorder import Recorder
from db.states import IllegalTransition
from db.timeutil import utcnow
from db.writes import TaskNotFound

log = logging.getLogger(__name__)


def run_actions(recorder: Recorder, rule: Rule, alert_ids: list[int], actor: str) -> None:
    """For each alert that just fired (has no actions yet), the rule's actions on its task."""
    with recorder.db.reading() as session:
        rows = list(session.execute(select(AL).where(AL.c.id.in_(alert_ids), AL.c.state == "firing")))
    who = f"{actor}:rule:{rule.id}"
    for row in rows:
        if row.actions_taken:
            continue
        task_id = (row.labels or {}).get("task_id")
        if not isinstance(task_id, int):
            continue
        for action in rule.actions:
            name = action["type"]
            try:
                status = recorder.cancel(task_id, actor=who)
                outcome = f"cancel requested (task {status})"
            except (IllegalTransition, TaskNotFound) as exc:
                outcome = f"not done: {exc}"
            entry = {"type": name, "task_id": task_id, "at": utcnow().isoformat() + "Z", "outcome": outcome}
            if name == "cancel_and_retry":
                entry["retry"] = "pending"  # queued again by retry_cancelled once the cancel has landed
            with recorder.transaction() as session:
                record_action(session, row.id, entry, utcnow(), who)
                audit.record(session, who, "alert.action", f"task:{task_id}", entry, now=utcnow())
            log.info("alert %s: %s on task %s: %s", row.id, name, task_id, outcome)
