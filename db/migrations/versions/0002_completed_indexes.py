"""index tasks.completed_at and (status, completed_at): today's outcomes, the board's finished lanes

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_tasks_completed_at", "tasks", ["completed_at"])
    op.create_index("ix_tasks_status_completed", "tasks", ["status", "completed_at"])


def downgrade() -> None:
    op.drop_index("ix_tasks_status_completed", table_name="tasks")
    op.drop_index("ix_tasks_completed_at", table_name="tasks")
