"""tasks.run_host and tasks.run_pgid: where a running attempt's command runs, so a dead worker's commands can be
killed on its host before the task is re-run

Revision ID: 0009
Revises: 0008
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: a plain ADD COLUMN that rewrites no rows on PostgreSQL or SQLite.
    op.add_column("tasks", sa.Column("run_host", sa.String(length=255), nullable=True))
    op.add_column("tasks", sa.Column("run_pgid", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("run_pgid")
        batch.drop_column("run_host")
