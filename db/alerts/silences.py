"""Data layer: silences, as Alertmanager has them — every matcher (label = value) must hold, between starts_at
and ends_at. A silenced alert still opens, fires and resolves; it only sends no notification."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from db.core.models import AlertSilence

SI = cast(Table, AlertSilence.__table__)

# The labels every alert carries (db/alerts/store.labels_of); a matcher naming anything else matches nothing.
LABELS = ("rule", "rule_id", "rule_kind", "severity", "target", "task_kind", "worker_id", "budget", "tag")
MAX_SILENCE = timedelta(days=366)


class SilenceError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Silence:
    id: int
    matchers: tuple[dict[str, str], ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime

    def active(self, now: datetime) -> bool:
        return self.starts_at <= now < self.ends_at

    def matches(self, labels: dict[str, Any]) -> bool:
        return all(str(labels.get(m["name"], "")) == m["value"] for m in self.matchers)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "matchers": list(self.matchers),
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "created_by": self.created_by,
            "comment": self.comment,
            "created_at": self.created_at,
        }


def parse_matchers(raw: Any) -> list[dict[str, str]]:
    """[{"name": "severity", "value": "low"}, …] or the CLI's ["severity=low", …]."""
    if not isinstance(raw, list) or not raw:
        raise SilenceError("matchers", "must be a non-empty list of {name, value}")
    out = []
    for i, m in enumerate(raw):
        name: Any
        value: Any
        if isinstance(m, str) and "=" in m:
            name, value = (p.strip() for p in m.split("=", 1))
        elif isinstance(m, dict):
            name, value = m.get("name"), m.get("value")
        else:
            raise SilenceError(f"matchers[{i}]", "must be {name, value} or name=value")
        if name not in LABELS:
            raise SilenceError(f"matchers[{i}].name", f"must be one of {', '.join(LABELS)}")
        if not isinstance(value, str | int) or str(value) == "":
            raise SilenceError(f"matchers[{i}].value", "must be a non-empty value")
        out.append({"name": str(name), "value": str(value)})
    return out


def _silence(row: Any) -> Silence:
    return Silence(
        row.id, tuple(row.matchers), row.starts_at, row.ends_at, row.created_by, row.comment, row.created_at
    )


def create_silence(
    session: Session,
    matchers: Any,
    starts_at: datetime,
    ends_at: datetime,
    *,
    created_by: str,
    comment: str = "",
    now: datetime,
) -> Silence:
    clean = parse_matchers(matchers)
    if ends_at <= starts_at:
        raise SilenceError("ends_at", "must be after starts_at")
    if ends_at - starts_at > MAX_SILENCE:
        raise SilenceError("ends_at", "a silence lasts at most a year")
    silence_id = session.execute(
        insert(SI)
        .values(
            matchers=clean,
            starts_at=starts_at,
            ends_at=ends_at,
            created_by=created_by,
            comment=comment,
            created_at=now,
        )
        .returning(SI.c.id)
    ).scalar_one()
    found = get_silence(session, silence_id)
    assert found is not None
    return found


def get_silence(session: Session, silence_id: int) -> Silence | None:
    row = session.execute(select(SI).where(SI.c.id == silence_id)).first()
    return None if row is None else _silence(row)


def list_silences(session: Session, now: datetime, *, include_expired: bool = False) -> list[Silence]:
    query = select(SI).order_by(SI.c.id.desc())
    if not include_expired:
        query = query.where(SI.c.ends_at > now)
    return [_silence(r) for r in session.execute(query.limit(500))]


def active_silences(session: Session, now: datetime) -> list[Silence]:
    return [s for s in list_silences(session, now) if s.active(now)]


def expire_silence(session: Session, silence_id: int, now: datetime) -> bool:
    """Ends a silence now (kept for the history); False when there is none by that id."""
    found = session.execute(
        update(SI).where(SI.c.id == silence_id).values(ends_at=now).returning(SI.c.id)
    ).first()
    return found is not None


def silenced_by(silences: list[Silence], labels: dict[str, Any], now: datetime) -> Silence | None:
    return next((s for s in silences if s.active(now) and s.matches(labels)), None)
