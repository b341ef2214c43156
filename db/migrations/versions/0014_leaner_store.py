"""Issue 17: drop ix_tasks_created_at, a prefix of ix_tasks_created_status (created_at, status) that serves
every query on created_at alike, so each task stopped paying for it twice

Revision ID: 0014
Revises: 0013
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_tasks_created_at", table_name="tasks")


def downgrade() -> None:
    op.create_index("ix_tasks_created_at", "tasks", ["created_at"])
