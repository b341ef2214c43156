"""Issue 17: a finished call's last_activity_at is stored as NULL — it repeated completed_at (an 8-byte time a call
on both databases); readers take COALESCE(last_activity_at, completed_at) (db/domain/liveness.py).
A call that reported something after its end keeps that later time.

Revision ID: 0020
Revises: 0019
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Both columns have one type per database (integers on SQLite, timestamps on PostgreSQL): compared as stored.
    op.execute(
        "UPDATE invocations SET last_activity_at = NULL "
        "WHERE completed_at IS NOT NULL AND last_activity_at = completed_at"
    )


def downgrade() -> None:
    op.execute(
        "UPDATE invocations SET last_activity_at = completed_at "
        "WHERE last_activity_at IS NULL AND completed_at IS NOT NULL"
    )
