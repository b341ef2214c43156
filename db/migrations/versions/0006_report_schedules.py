"""report_schedules and report_runs: scheduled and manual report runs; the three default schedules

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# The defaults (daily 06:00, weekly Monday 08:00, monthly on the 1st at 09:00, UTC), seeded here so a
# fresh database shows them. A copy of db/reporting/schedules.DEFAULT_SCHEDULES: a migration must not change when
# the code does.
DEFAULTS = (
    {"name": "Daily report", "period": "daily", "hour": 6, "weekday": None, "day_of_month": None},
    {"name": "Weekly report", "period": "weekly", "hour": 8, "weekday": 0, "day_of_month": None},
    {"name": "Monthly report", "period": "monthly", "hour": 9, "weekday": None, "day_of_month": 1},
)


def upgrade() -> None:
    schedules = op.create_table(
        "report_schedules",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("minute", sa.Integer(), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=True),
        sa.Column("day_of_month", sa.Integer(), nullable=True),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("formats", sa.JSON(), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("recipients", sa.JSON(), nullable=False),
        sa.Column("webhook_url", sa.String(length=2000), nullable=True),
        sa.Column("enabled_at", sa.DateTime(), nullable=True),
        sa.Column("last_fire_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "report_runs",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("schedule_id", BIG_ID, nullable=True),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("period_kind", sa.String(length=10), nullable=False),
        sa.Column("period_start", sa.DateTime(), nullable=False),
        sa.Column("period_end", sa.DateTime(), nullable=False),
        sa.Column("filters", sa.JSON(), nullable=False),
        sa.Column("formats", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("progress", sa.Float(), nullable=False),
        sa.Column("stage", sa.String(length=200), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("scheduled_for", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=True),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.Column("worker_id", sa.String(length=200), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("delivery", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["schedule_id"], ["report_schedules.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("idempotency_key", name="uq_report_runs_idempotency_key"),
    )
    op.create_index("ix_report_runs_status", "report_runs", ["status", "id"])

    now = datetime.now(UTC).replace(tzinfo=None)
    op.bulk_insert(
        schedules,
        [
            {
                **d,
                "enabled": True,
                "minute": 0,
                "timezone": "UTC",
                "formats": ["html", "pdf"],
                "filters": {},
                "recipients": [],
                "webhook_url": None,
                "enabled_at": now,
                "last_fire_at": None,
                "created_at": now,
                "updated_at": now,
            }
            for d in DEFAULTS
        ],
    )


def downgrade() -> None:
    op.drop_index("ix_report_runs_status", table_name="report_runs")
    op.drop_table("report_runs")
    op.drop_table("report_schedules")
