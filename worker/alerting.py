"""Worker layer: alerting in the workers — the evaluator (one across the fleet, by a database lease) that
brings alerts in line with each rule's condition, woken by the change feed and every TASKLENS_ALERT_EVAL_SECONDS
for absence and rates, and the delivery loop (on every worker) that sends the outbox's due notifications."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from config import Settings
from db.alerts import outbox as alert_outbox
from db.alerts.conditions import Condition, conditions
from db.alerts.rules import Rule, RuleKind, list_rules
from db.alerts.silences import active_silences
from db.alerts.store import AlertState, Context, Finding, open_by_rule, owes_first, reconcile
from db.control import leases
from db.core.timeutil import utcnow
from db.live.changefeed import TOPIC_EVENTS, Hub
from db.write.recorder import Recorder
from reports.deliver import DeliveryError
from worker.alert_actions import retry_cancelled, run_actions
from worker.alert_channels import send
from worker.alert_digest import EVENT as DIGEST_EVENT
from worker.alert_digest import enqueue_digest, send_digest

log = logging.getLogger(__name__)

LEASE = "alerts:evaluator"
# Commits wake the evaluator; it evaluates at most this often however busy the feed is.
MIN_GAP_SECONDS = 0.5
# Budgets and spend read more than the other kinds (a budget per tag sums its calls): every 30 evaluation
# periods is enough (30 s by default).
SLOW_KINDS = frozenset({RuleKind.BUDGET_USED, RuleKind.BUDGET_PROJECTED, RuleKind.COST_SPIKE})
SLOW_PERIODS = 30
DIGEST_CHECK_SECONDS = 60.0
SEND_GAP_SECONDS = 0.2
# A claimed notification is this worker's for this long (a webhook times out after 10 s).
CLAIM_SECONDS = 60.0


def would_change(rule: Rule, findings: list[Finding], rows: list[Any], ctx: Context) -> bool:
    """Whether reconcile would write anything: a quiet cycle then costs reads only."""
    if {f.target for f in findings} != {r.target for r in rows}:
        return True
    now = ctx.now
    for r in rows:
        if owes_first(rule, r, ctx):
            return True
        if r.state == AlertState.PENDING.value and (now - r.pending_at).total_seconds() >= rule.for_seconds:
            return True
        if (
            r.state == AlertState.FIRING.value
            and rule.repeat_seconds
            and r.acknowledged_at is None
            and r.last_notified_at is not None
            and (now - r.last_notified_at).total_seconds() >= rule.repeat_seconds
        ):
            return True
    return False


class Evaluator:
    """One evaluation cycle over every rule; testable without a thread (`cycle`)."""

    def __init__(self, settings: Settings, recorder: Recorder, actor: str) -> None:
        self.settings, self.recorder, self.actor = settings, recorder, actor
        self.conditions: dict[RuleKind, Condition] = conditions(
            settings.stuck_after_seconds, settings.lease_seconds
        )
        # Slow kinds keep their last findings between their evaluations (else they would resolve meanwhile).
        self._slow: dict[int, tuple[float, list[Finding]]] = {}
        self._next_digest = 0.0

    def findings(self, session: Session, rule: Rule, now: datetime) -> list[Finding]:
        if not rule.enabled:
            return []  # a rule switched off resolves its open alerts
        kind = RuleKind(rule.kind)
        if kind in SLOW_KINDS:
            last = self._slow.get(rule.id)
            if (
                last is not None
                and time.monotonic() - last[0] < SLOW_PERIODS * self.settings.alert_eval_seconds
            ):
                return last[1]
        found = self.conditions[kind](session, rule, now)
        if kind in SLOW_KINDS:
            self._slow[rule.id] = (time.monotonic(), found)
        return found

    def cycle(self, now: datetime | None = None) -> list[int]:
        """Evaluate every rule; returns the ids of alerts that changed."""
        now = now or utcnow()
        todo: list[tuple[Rule, list[Finding]]] = []
        with self.recorder.db.reading() as session:
            ctx = Context(now, active_silences(session, now), self.settings.alert_webhook_url, self.actor)
            rules = list_rules(session)
            opened = open_by_rule(session)
            for rule in rules:
                found = self.findings(session, rule, now)
                if would_change(rule, found, opened.get(rule.id, []), ctx):
                    todo.append((rule, found))
        changed: list[int] = []
        for rule, found in todo:  # one transaction per rule: one rule's failure does not hold the others
            with self.recorder.transaction() as session:
                ids = reconcile(session, rule, found, ctx)
            changed += ids
            if rule.actions:
                run_actions(self.recorder, rule, ids, self.actor)
        retry_cancelled(self.recorder, rules, self.actor)
        if time.monotonic() >= self._next_digest:  # a cheap check a minute, the digest itself once a day
            self._next_digest = time.monotonic() + DIGEST_CHECK_SECONDS
            enqueue_digest(self.recorder, self.settings, now)
        return changed


class AlertLoops:
    """The two threads of a worker: the evaluator (acts only while it holds the fleet's lease) and delivery."""

    def __init__(self, settings: Settings, recorder: Recorder, hub: Hub, worker_id: str) -> None:
        self.settings, self.recorder, self.hub, self.worker_id = settings, recorder, hub, worker_id
        self.evaluator = Evaluator(settings, recorder, actor="alerts")
        self.lease_seconds = max(10.0, settings.alert_eval_seconds * 5)
        self._lease_until = 0.0  # monotonic; renewed when half of it has passed
        self._wake_eval = threading.Event()
        self._wake_send = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._unsubscribe: Callable[[], None] = lambda: None

    def start(self) -> None:
        self._unsubscribe = self.hub.subscribe(self._on_change)
        for target, name in (
            (self._evaluate_loop, "alert-evaluator"),
            (self._deliver_loop, "alert-delivery"),
        ):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        self._wake_eval.set()
        self._wake_send.set()
        self._unsubscribe()
        for t in self._threads:
            t.join(timeout=2.0)
        if self._lease_until:
            try:
                with self.recorder.transaction() as session:
                    leases.release(session, LEASE, self.worker_id)
            except Exception:
                log.warning("could not release the alert evaluator lease; it expires", exc_info=True)

    def _on_change(self, topics: frozenset[str]) -> None:
        if TOPIC_EVENTS in topics:
            self._wake_eval.set()
            self._wake_send.set()

    def holds_lease(self) -> bool:
        now = time.monotonic()
        if now < self._lease_until - self.lease_seconds / 2:
            return True
        with self.recorder.transaction() as session:
            held = leases.acquire(session, LEASE, self.worker_id, utcnow(), self.lease_seconds)
        self._lease_until = now + self.lease_seconds if held else 0.0
        return held

    def _guard(self, what: str, step: Callable[[], object]) -> None:
        try:
            step()
        except Exception as exc:  # keep the thread alive: the next wake-up tries again
            if self.recorder.db.health.failed(exc) is None:
                log.exception("alert %s failed; retrying shortly", what)
            self._stop.wait(max(0.5, self.recorder.db.health.wait_seconds()))

    def _evaluate_loop(self) -> None:
        while not self._stop.is_set():
            self._wake_eval.wait(timeout=self.settings.alert_eval_seconds)
            self._wake_eval.clear()
            if self._stop.is_set():
                break
            self._guard("evaluation", lambda: self.holds_lease() and self.evaluator.cycle())
            self._stop.wait(MIN_GAP_SECONDS)

    def _deliver_loop(self) -> None:
        while not self._stop.is_set():
            self._wake_send.wait(timeout=1.0)
            self._wake_send.clear()
            self._guard("delivery", self.deliver_due)
            self._stop.wait(
                SEND_GAP_SECONDS
            )  # a busy feed wakes this on every commit: look at most 5 times a second

    def deliver_due(self) -> int:
        """Claim and send what is due until nothing is; returns how many were sent."""
        sent = 0
        while not self._stop.is_set():
            with self.recorder.db.reading() as session:
                if not alert_outbox.has_due(session, utcnow()):
                    return sent
            with self.recorder.transaction() as session:
                ids = alert_outbox.claim_due(session, self.worker_id, utcnow(), CLAIM_SECONDS)
                batch = alert_outbox.load(session, ids)
            if not batch:
                return sent
            for n in batch:
                try:
                    (send_digest if n.event == DIGEST_EVENT else send)(n, self.settings)
                except DeliveryError as exc:
                    with self.recorder.transaction() as session:
                        status = alert_outbox.mark_failed(session, n.id, self.worker_id, str(exc), utcnow())
                    log.warning("alert notification %s via %s: %s (%s)", n.id, n.channel_type, exc, status)
                    continue
                with self.recorder.transaction() as session:
                    alert_outbox.mark_sent(session, n.id, self.worker_id, utcnow())
                sent += 1
        return sent
