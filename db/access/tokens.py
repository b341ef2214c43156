"""Data layer: API tokens — created with a random secret that is shown once and stored only as its SHA-256,
verified in constant time, listed and revoked. A token's role is viewer, operator or admin."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, insert, select, update
from sqlalchemy.orm import Session

from db.core.models import ApiToken

T = cast(Table, ApiToken.__table__)

ROLES = ("viewer", "operator", "admin")  # each includes the ones before it
SECRET_PREFIX = "tl_"
PREFIX_CHARS = 10  # of the secret, kept for display ("tl_AbCdEfG")
MAX_NAME = 200
# last_used_at is written at most this often per token, so a busy client does not turn reads into writes.
TOUCH_EVERY = timedelta(minutes=1)


class TokenError(ValueError):
    """A token request that cannot be carried out; the message says why."""


@dataclass(frozen=True)
class Token:
    id: int
    name: str
    role: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def role_allows(role: str, needed: str) -> bool:
    """Whether `role` may do what `needed` may (admin ⊇ operator ⊇ viewer)."""
    return role in ROLES and needed in ROLES and ROLES.index(role) >= ROLES.index(needed)


def _row(r: ApiToken) -> Token:
    return Token(r.id, r.name, r.role, r.prefix, r.created_at, r.last_used_at, r.revoked_at)


def create_token(session: Session, name: str, role: str, now: datetime) -> tuple[Token, str]:
    """A new token and its secret (returned once, never stored)."""
    name = name.strip()
    if not name:
        raise TokenError("a token needs a name (--name)")
    if len(name) > MAX_NAME:
        raise TokenError(f"a token's name has at most {MAX_NAME} characters")
    if role not in ROLES:
        raise TokenError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    token_id = session.execute(
        insert(T)
        .values(
            name=name,
            role=role,
            token_hash=hash_secret(secret),
            prefix=secret[:PREFIX_CHARS],
            created_at=now,
        )
        .returning(T.c.id)
    ).scalar_one()
    return Token(token_id, name, role, secret[:PREFIX_CHARS], now, None, None), secret


def verify_token(session: Session, secret: str) -> Token | None:
    """The active token whose secret this is, or None. The lookup is by hash (an index, not the secret); the
    hashes are then compared in constant time."""
    if not secret:
        return None
    digest = hash_secret(secret)
    row = session.scalars(select(ApiToken).where(T.c.token_hash == digest)).first()
    if row is None or not hmac.compare_digest(row.token_hash, digest) or row.revoked_at is not None:
        return None
    return _row(row)


def touch(session: Session, token: Token, now: datetime) -> None:
    """Records a use, at most once per TOUCH_EVERY."""
    if token.last_used_at is None or now - token.last_used_at >= TOUCH_EVERY:
        session.execute(update(T).where(T.c.id == token.id).values(last_used_at=now))


def list_tokens(session: Session) -> list[Token]:
    return [_row(r) for r in session.scalars(select(ApiToken).order_by(T.c.id))]


def get_token(session: Session, token_id: int) -> Token | None:
    row = session.get(ApiToken, token_id)
    return None if row is None else _row(row)


def revoke_token(session: Session, token_id: int, now: datetime) -> Token:
    """Revokes a token (idempotent); TokenError when there is no such token."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise TokenError(f"no token with id {token_id}")
    if row.revoked_at is None:
        row.revoked_at = now
        session.flush()
    return _row(row)
