"""Data layer: the alerts of a period, for the periodic report — how many fired, how many were acknowledged
and resolved, the mean time from firing to acknowledgement and to resolution, and the noisiest rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from db.alerts.store import AL
from db.core.models import AlertRule
from db.core.sqlfuncs import seconds_between

AR = cast(Table, AlertRule.__table__)
NOISIEST = 5


@dataclass(frozen=True)
class AlertPeriod:
    fired: int = 0
    acknowledged: int = 0
    resolved: int = 0
    mean_ack_s: float | None = None
    mean_resolve_s: float | None = None
    noisiest: tuple[tuple[str, str, int], ...] = field(default=())  # rule, severity, alerts fired


def period_alerts(session: Session, start: datetime, end: datetime) -> AlertPeriod:
    """Alerts that fired in [start, end); their acknowledgement and resolution whenever they came."""
    in_period = (AL.c.fired_at >= start, AL.c.fired_at < end)
    row = session.execute(
        select(
            func.count(),
            func.count(AL.c.acknowledged_at),
            func.count(AL.c.resolved_at),
            func.avg(seconds_between(AL.c.fired_at, AL.c.acknowledged_at)),
            func.avg(seconds_between(AL.c.fired_at, AL.c.resolved_at)),
        ).where(*in_period)
    ).one()
    noisy = session.execute(
        select(AR.c.name, AL.c.severity, func.count().label("n"))
        .join(AR, AR.c.id == AL.c.rule_id)
        .where(*in_period)
        .group_by(AR.c.name, AL.c.severity)
        .order_by(func.count().desc(), AR.c.name)
        .limit(NOISIEST)
    )
    return AlertPeriod(
        fired=int(row[0]),
        acknowledged=int(row[1]),
        resolved=int(row[2]),
        mean_ack_s=None if row[3] is None else float(row[3]),
        mean_resolve_s=None if row[4] is None else float(row[4]),
        noisiest=tuple((str(n), str(s), int(c)) for n, s, c in noisy),
    )
