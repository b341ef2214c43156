"""Command-line layer: what `python app.py token create|list|revoke` does — a token made (its secret printed once),
the tokens listed without their secrets, one revoked — each change written to the audit log as the CLI's."""

from __future__ import annotations

import sys
from typing import TextIO

from db.access.audit import record
from db.access.tokens import TokenError, create_token, list_tokens, revoke_token
from db.core.engine import Database
from db.core.timeutil import utcnow

ACTOR = "cli"


def create(db: Database, name: str, role: str, out: TextIO = sys.stdout) -> int:
    now = utcnow()
    with db.writing() as session:
        token, secret = create_token(session, name, role, now)
        record(
            session, ACTOR, "token.create", f"token:{token.id}", {"name": token.name, "role": role}, now=now
        )
    print(f"created token {token.id} {token.name!r} ({token.role}). Its secret, shown only now:", file=out)
    print(secret, file=out)
    return 0


def show_all(db: Database, out: TextIO = sys.stdout) -> int:
    with db.reading() as session:
        tokens = list_tokens(session)
    if not tokens:
        print("no tokens; create one with: python app.py token create --role viewer --name NAME", file=out)
        return 0
    print(
        f"{'ID':>4}  {'NAME':<24} {'ROLE':<9} {'PREFIX':<11} {'CREATED':<20} {'LAST USED':<20} STATE",
        file=out,
    )
    for t in tokens:
        used = t.last_used_at.strftime("%Y-%m-%d %H:%M:%S") if t.last_used_at else "never"
        state = "active" if t.active else f"revoked {t.revoked_at:%Y-%m-%d %H:%M}"
        print(
            f"{t.id:>4}  {t.name[:24]:<24} {t.role:<9} {t.prefix + '…':<11} "
            f"{t.created_at:%Y-%m-%d %H:%M:%S}  {used:<20} {state}",
            file=out,
        )
    return 0


def revoke(db: Database, token_id: int, out: TextIO = sys.stdout) -> int:
    now = utcnow()
    with db.writing() as session:
        token = revoke_token(session, token_id, now)
        record(session, ACTOR, "token.revoke", f"token:{token.id}", {"name": token.name}, now=now)
    print(f"revoked token {token.id} {token.name!r}", file=out)
    return 0


__all__ = ["TokenError", "create", "revoke", "show_all"]
