"""Command-line layer: `python app.py alerts list|rules|ack|silence|unsilence` — open alerts (or a state) listed,
one acknowledged, a silence made or ended — through the recorder's transaction (so open dashboards hear it),
each change written to the audit log as the CLI's."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from typing import TextIO

from db.access.audit import record
from db.alerts import queries as alert_queries
from db.alerts import silences as alert_silences
from db.alerts.rules import list_rules
from db.alerts.silences import SilenceError
from db.alerts.store import AlertNotOpen, acknowledge
from db.core.timeutil import iso, utcnow
from db.write.recorder import Recorder

ACTOR = "cli"


class AlertCliError(ValueError):
    """A request the CLI refuses; the message says why (exit 1)."""


def show(recorder: Recorder, states: list[str], as_json: bool, limit: int, out: TextIO = sys.stdout) -> int:
    with recorder.db.reading() as session:
        rows = alert_queries.list_alerts(
            session, utcnow(), states=tuple(states or ("pending", "firing")), limit=limit
        )
    if as_json:
        print(
            json.dumps(rows, default=lambda v: iso(v) if hasattr(v, "isoformat") else str(v), indent=1),
            file=out,
        )
        return 0
    if not rows:
        print("no alerts", file=out)
        return 0
    print(f"{'ID':>5}  {'STATE':<9} {'SEVERITY':<9} {'SINCE':<20} {'ACK':<14} SUMMARY", file=out)
    for a in rows:
        since = a["fired_at"] or a["pending_at"]
        ack = (a["acknowledged_by"] or "")[:14] or ("silenced" if a["silenced_by"] else "-")
        print(
            f"{a['id']:>5}  {a['state']:<9} {a['severity']:<9} {since:%Y-%m-%d %H:%M:%S}  {ack:<14} {a['summary']}",
            file=out,
        )
    return 0


def rules(recorder: Recorder, out: TextIO = sys.stdout) -> int:
    """The rules, built-in ones first (the API and the Alerts page edit them)."""
    with recorder.db.reading() as session:
        found = list_rules(session)
    print(
        f"{'ID':>4}  {'ON':<3} {'KIND':<19} {'SEVERITY':<9} {'THRESHOLD':>9}  {'CHANNELS':>8}  NAME", file=out
    )
    for r in found:
        threshold = "default" if r.threshold is None else f"{r.threshold:g}"
        on = "yes" if r.enabled else "no"
        print(
            f"{r.id:>4}  {on:<3} {r.kind:<19} {r.severity:<9} {threshold:>9}  {len(r.channels):>8}  {r.name}",
            file=out,
        )
    return 0


def ack(recorder: Recorder, alert_id: int, note: str, out: TextIO = sys.stdout) -> int:
    now = utcnow()
    try:
        with recorder.transaction() as session:
            acknowledge(session, alert_id, ACTOR, note, now)
            record(session, ACTOR, "alert.ack", f"alert:{alert_id}", {"note": note}, now=now)
    except AlertNotOpen as exc:
        raise AlertCliError(str(exc)) from None
    print(f"acknowledged alert {alert_id}", file=out)
    return 0


def silence(
    recorder: Recorder, matchers: list[str], hours: float, comment: str, out: TextIO = sys.stdout
) -> int:
    now = utcnow()
    try:
        with recorder.transaction() as session:
            made = alert_silences.create_silence(
                session,
                matchers,
                now,
                now + timedelta(hours=hours),
                created_by=ACTOR,
                comment=comment,
                now=now,
            )
            record(
                session,
                ACTOR,
                "alert.silence",
                f"silence:{made.id}",
                {"matchers": list(made.matchers)},
                now=now,
            )
    except SilenceError as exc:
        raise AlertCliError(str(exc)) from None
    what = ", ".join(f"{m['name']}={m['value']}" for m in made.matchers)
    print(f"silence {made.id}: {what} until {iso(made.ends_at)}", file=out)
    return 0


def unsilence(recorder: Recorder, silence_id: int, out: TextIO = sys.stdout) -> int:
    now = utcnow()
    with recorder.transaction() as session:
        if not alert_silences.expire_silence(session, silence_id, now):
            raise AlertCliError(f"silence {silence_id} does not exist")
        record(session, ACTOR, "alert.unsilence", f"silence:{silence_id}", {}, now=now)
    print(f"silence {silence_id} ended", file=out)
    return 0
