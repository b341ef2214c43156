"""Data layer: a database lease that lets exactly one of N processes act as a fleet-wide singleton (the alert
evaluator). `job_leases` holds the holder and its expiry; taking or renewing is one conditional UPDATE (or the
first INSERT), so two processes asking at once cannot both win: PostgreSQL serialises the row update, SQLite
the write transaction."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.core.models import JobLease

JL = cast(Table, JobLease.__table__)


def acquire(session: Session, name: str, holder: str, now: datetime, seconds: float) -> bool:
    """Take or renew the lease `name` for `holder` until now + seconds; True when `holder` holds it now.
    Held by someone else and not yet expired: False, nothing written."""
    until = now + timedelta(seconds=seconds)
    taken = session.execute(
        update(JL)
        .where(JL.c.name == name, or_(JL.c.holder == holder, JL.c.holder.is_(None), JL.c.expires_at < now))
        .values(holder=holder, expires_at=until, last_run_at=now)
        .returning(JL.c.name)
    ).first()
    if taken is not None:
        return True
    if session.scalar(select(JL.c.name).where(JL.c.name == name)) is not None:
        return False
    try:
        with session.begin_nested():  # a concurrent first insert (PostgreSQL) loses here, not the transaction
            session.execute(
                insert(JL).values(name=name, holder=holder, expires_at=until, last_run_at=now, last_key=None)
            )
    except IntegrityError:
        return False
    return True


def release(session: Session, name: str, holder: str) -> None:
    """Give the lease up at a clean stop, so another process takes over at once rather than at expiry."""
    session.execute(
        update(JL).where(JL.c.name == name, JL.c.holder == holder).values(holder=None, expires_at=None)
    )


def mark_once(session: Session, name: str, key: str, now: datetime) -> bool:
    """True for the first caller to mark `key` (a day, a period) under `name`, False for every later one: a
    once-per-key job (the daily alert digest) that any number of processes may try."""
    marked = session.execute(
        update(JL)
        .where(JL.c.name == name, or_(JL.c.last_key.is_(None), JL.c.last_key < key))
        .values(last_key=key, last_run_at=now)
        .returning(JL.c.name)
    ).first()
    if marked is not None:
        return True
    if session.scalar(select(JL.c.name).where(JL.c.name == name)) is not None:
        return False
    try:
        with session.begin_nested():
            session.execute(
                insert(JL).values(name=name, holder=None, expires_at=None, last_run_at=now, last_key=key)
            )
    except IntegrityError:
        return False
    return True


def unmark(session: Session, name: str, key: str) -> None:
    """Undo `mark_once` for `key` (its work failed), so the next caller marks it again."""
    session.execute(update(JL).where(JL.c.name == name, JL.c.last_key == key).values(last_key=None))
