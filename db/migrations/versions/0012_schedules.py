"""Issue 15: the claim index in claim order (priority DESC, id), so a claim reads the first queued row instead
of sorting every queued row of its priority; task schedules and the tasks they make; fleet control (a worker's
control and claim filters) and concurrency limits per kind or tag

Revision ID: 0012
Revises: 0011
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.drop_index("ix_tasks_claim", table_name="tasks")
    op.create_index("ix_tasks_claim", "tasks", ["status", sa.text("priority DESC"), "id"])
    op.create_table(
        "task_schedules",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("timeout_seconds", sa.Float(), nullable=True),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("cron", sa.String(200), nullable=True),
        sa.Column("interval_seconds", sa.Float(), nullable=True),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("catch_up", sa.String(10), nullable=False),
        sa.Column("concurrency", sa.String(10), nullable=False),
        sa.Column("max_runs", sa.Integer(), nullable=True),
        sa.Column("end_at", sa.DateTime(), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("enabled_at", sa.DateTime(), nullable=True),
        sa.Column("last_fire_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    # Nullable, no default: plain ADD COLUMNs that rewrite no rows.
    op.add_column("tasks", sa.Column("schedule_id", sa.BigInteger(), nullable=True))
    op.add_column("tasks", sa.Column("scheduled_for", sa.DateTime(), nullable=True))
    # A unique index (not a table constraint, which SQLite cannot add to an existing table): one task per
    # schedule and fire time, however many workers fire it.
    op.create_index("uq_tasks_schedule_fire", "tasks", ["schedule_id", "scheduled_for"], unique=True)
    op.create_index("ix_tasks_schedule_status", "tasks", ["schedule_id", "status"])
    op.add_column("workers", sa.Column("control", sa.String(10), nullable=True))
    op.add_column("workers", sa.Column("claim_kinds", sa.JSON(), nullable=True))
    op.add_column("workers", sa.Column("claim_tags", sa.JSON(), nullable=True))
    op.create_table(
        "concurrency_limits",
        sa.Column("scope", sa.String(10), primary_key=True),
        sa.Column("value", sa.String(200), primary_key=True),
        sa.Column("max_running", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("concurrency_limits")
    with op.batch_alter_table("workers") as batch:
        batch.drop_column("claim_tags")
        batch.drop_column("claim_kinds")
        batch.drop_column("control")
    op.drop_index("ix_tasks_schedule_status", table_name="tasks")
    op.drop_index("uq_tasks_schedule_fire", table_name="tasks")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("scheduled_for")
        batch.drop_column("schedule_id")
    op.drop_table("task_schedules")
    op.drop_index("ix_tasks_claim", table_name="tasks")
    op.create_index("ix_tasks_claim", "tasks", ["status", "priority", "id"])
