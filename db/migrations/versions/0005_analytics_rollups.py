"""analytics rollups: task_hourly, created_hourly, worker_hourly, events_hourly, tool_hourly, histogram_hourly and _daily;
usage_hourly.finished_calls

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.Column[int]:
    return sa.Column(
        "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
    )


def _histogram_table(name: str, time_column: str) -> None:
    op.create_table(
        name,
        _id(),
        sa.Column(time_column, sa.DateTime(), nullable=False),
        sa.Column("metric", sa.String(length=20), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("bin", sa.Integer(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("total", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def upgrade() -> None:
    # No back-fill here: without its lease the rollup job builds every table, usage_hourly's finished_calls
    # included, on its next run (a week per transaction).
    op.execute("DELETE FROM usage_hourly")
    op.execute("DELETE FROM job_leases WHERE name = 'rollup:usage_hourly'")
    op.add_column(
        "usage_hourly", sa.Column("finished_calls", sa.Integer(), nullable=False, server_default="0")
    )
    op.create_table(
        "task_hourly",
        _id(),
        sa.Column("hour", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("tasks", sa.Integer(), nullable=False),
        sa.Column("first_attempt", sa.Integer(), nullable=False),
        sa.Column("started", sa.Integer(), nullable=False),
        sa.Column("cycle_s", sa.Float(), nullable=False),
        sa.Column("processing_s", sa.Float(), nullable=False),
        sa.Column("queue_s", sa.Float(), nullable=False),
        sa.Column("min_processing_s", sa.Float(), nullable=True),
        sa.Column("max_processing_s", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_task_hourly_hour", "task_hourly", ["hour"])
    op.create_table(
        "created_hourly",
        _id(),
        sa.Column("hour", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("tasks", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_created_hourly_hour", "created_hourly", ["hour"])
    op.create_table(
        "worker_hourly",
        _id(),
        sa.Column("hour", sa.DateTime(), nullable=False),
        sa.Column("worker_id", sa.String(length=64), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("done_s", sa.Float(), nullable=False),
        sa.Column("busy_s", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_worker_hourly_hour", "worker_hourly", ["hour"])
    op.create_table(
        "events_hourly",
        sa.Column("hour", sa.DateTime(), nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.Column("peak_minute", sa.DateTime(), nullable=False),
        sa.Column("peak_events", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("hour"),
    )
    op.create_table(
        "tool_hourly",
        _id(),
        sa.Column("hour", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("tool", sa.String(length=200), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_tool_hourly_hour", "tool_hourly", ["hour"])
    _histogram_table("histogram_daily", "day")
    op.create_index("ix_histogram_daily_day", "histogram_daily", ["day"])
    _histogram_table("histogram_hourly", "hour")
    op.create_index("ix_histogram_hourly_hour", "histogram_hourly", ["hour"])
    tool_lines = sa.text("type = 'tool_exec'")
    op.create_index(
        "ix_activity_tool_at", "activity", ["at"], sqlite_where=tool_lines, postgresql_where=tool_lines
    )


def downgrade() -> None:
    op.drop_index("ix_activity_tool_at", table_name="activity")
    for table in (
        "histogram_daily",
        "histogram_hourly",
        "tool_hourly",
        "worker_hourly",
        "created_hourly",
        "task_hourly",
    ):
        op.drop_index(f"ix_{table}_{'day' if table == 'histogram_daily' else 'hour'}", table_name=table)
        op.drop_table(table)
    op.drop_table("events_hourly")
    with op.batch_alter_table("usage_hourly") as batch:
        batch.drop_column("finished_calls")
