"""Issue 18: the Celery broker's queue lengths as the Celery source last measured them, for the Agents page, the
API and the broker_queue_depth alert rule

Revision ID: 0013
Revises: 0012
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "broker_queues",
        sa.Column("broker", sa.String(200), primary_key=True),
        sa.Column("name", sa.String(200), primary_key=True),
        sa.Column("messages", sa.Integer(), nullable=True),
        sa.Column("measured_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("broker_queues")
