"""Tests: API tokens (stored hashed, verified, revoked) and the audit log, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from db.access.audit import entries, record
from db.access.tokens import (
    TokenError,
    create_token,
    hash_secret,
    list_tokens,
    revoke_token,
    role_allows,
    touch,
    verify_token,
)
from db.core.engine import Database, open_database
from db.core.models import ApiToken
from db.core.timeutil import utcnow
from tests.helpers import run_cli


def test_create_verify_revoke(db: Database) -> None:
    now = utcnow()
    with db.writing() as session:
        token, secret = create_token(session, "ci", "operator", now)
    assert secret.startswith(token.prefix) and len(secret) > 30
    with db.reading() as session:
        rows = session.scalars(select(ApiToken)).all()
        assert [r.token_hash for r in rows] == [hash_secret(secret)]
        assert all(secret not in (r.token_hash, r.prefix, r.name) for r in rows)  # never the secret
        found = verify_token(session, secret)
        assert found is not None and found.name == "ci" and found.role == "operator"
        assert verify_token(session, secret + "x") is None
        assert verify_token(session, "") is None
    with db.writing() as session:
        touch(session, found, now)
    with db.writing() as session:
        revoked = revoke_token(session, token.id, now)
        assert revoked.revoked_at is not None
        assert revoke_token(session, token.id, now).revoked_at == revoked.revoked_at  # idempotent
    with db.reading() as session:
        assert verify_token(session, secret) is None
        [listed] = list_tokens(session)
        assert not listed.active and listed.last_used_at is not None


def test_bad_token_requests(db: Database) -> None:
    with db.writing() as session:
        with pytest.raises(TokenError, match="role"):
            create_token(session, "x", "root", utcnow())
        with pytest.raises(TokenError, match="name"):
            create_token(session, "  ", "viewer", utcnow())
        with pytest.raises(TokenError, match="no token"):
            revoke_token(session, 99, utcnow())


def test_roles_include_lower_ones() -> None:
    assert role_allows("admin", "operator") and role_allows("operator", "viewer")
    assert not role_allows("viewer", "operator") and not role_allows("operator", "admin")
    assert not role_allows("nobody", "viewer")


def test_audit_rows(db: Database) -> None:
    with db.writing() as session:
        record(session, "token:ci", "task.cancel", "task:7", {"why": "test"}, now=utcnow())
        record(session, "cli", "token.create", "token:1", now=utcnow())
    with db.reading() as session:
        latest = entries(session)
        assert [(e.actor, e.action, e.target) for e in latest] == [
            ("cli", "token.create", "token:1"),
            ("token:ci", "task.cancel", "task:7"),
        ]
        assert entries(session, action="task.cancel")[0].details == {"why": "test"}


def test_token_cli(tmp_path: Path) -> None:
    """`python app.py token create|list|revoke` as users run it: the secret printed once, exit 2 on bad input."""
    url = f"sqlite:///{tmp_path}/t.db"
    made = run_cli("token", "create", "--role", "operator", "--name", "ci", "--db", url)
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip().splitlines()[-1]
    listed = run_cli("token", "list", "--db", url)
    assert listed.returncode == 0 and " ci " in listed.stdout and secret not in listed.stdout
    assert "active" in listed.stdout
    db = open_database(url)
    try:
        with db.reading() as session:
            assert verify_token(session, secret) is not None
            assert [e.action for e in entries(session)] == ["token.create"]
        assert run_cli("token", "revoke", "1", "--db", url).returncode == 0
        with db.reading() as session:
            assert verify_token(session, secret) is None
            assert [e.action for e in entries(session)] == ["token.revoke", "token.create"]
    finally:
        db.dispose()
    for args, message in (
        (["token", "revoke", "9"], "error: no token with id 9"),
        (["token", "create", "--role", "root", "--name", "x"], "invalid choice: 'root'"),
        (["token", "create", "--role", "viewer", "--name", " "], "error: a token needs a name"),
        (["token"], "required"),
    ):
        result = run_cli(*args, "--db", url)
        assert result.returncode == 2, (args, result.stdout)
        assert message in result.stderr and "Traceback" not in result.stderr, result.stderr
