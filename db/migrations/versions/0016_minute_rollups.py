"""Issue 16: usage_minutely and created_minutely, the per-minute rollups of the hour in progress, so an
analytics answer reads buckets, never every call of the current hour

Revision ID: 0016
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "usage_minutely",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("minute", sa.DateTime(), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("role", sa.String(100), nullable=False),
        sa.Column("provider", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("failed_calls", sa.Integer(), nullable=False),
        sa.Column("finished_calls", sa.Integer(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cache_read_tokens", sa.BigInteger(), nullable=False),
        sa.Column("cost_usd", sa.Float(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
    )
    op.create_index("ix_usage_minutely_minute", "usage_minutely", ["minute"])
    op.create_table(
        "created_minutely",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("minute", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("tasks", sa.Integer(), nullable=False),
    )
    op.create_index("ix_created_minutely_minute", "created_minutely", ["minute"])


def downgrade() -> None:
    op.drop_index("ix_created_minutely_minute", table_name="created_minutely")
    op.drop_table("created_minutely")
    op.drop_index("ix_usage_minutely_minute", table_name="usage_minutely")
    op.drop_table("usage_minutely")
