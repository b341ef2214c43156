"""Issue 16: usage_minutely and created_minutely, the per-minute rollups of the hour in progress, so an
analytics answer reads buckets, never every call of the current hour

Revision ID: 0016
Revises: 0015
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _per_minute(name: str, *columns: sa.Column[object]) -> None:
    """A table of `columns` per minute, with its id and an index on the minute."""
    op.create_table(
        name,
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("minute", sa.DateTime(), nullable=False),
        *columns,
    )
    op.create_index(f"ix_{name}_minute", name, ["minute"])


def upgrade() -> None:
    text, count, big, real = (sa.String, sa.Integer(), sa.BigInteger(), sa.Float())
    _per_minute(
        "usage_minutely",
        *(
            sa.Column(c, text(n), nullable=False)
            for c, n in (("model", 200), ("role", 100), ("provider", 100))
        ),
        sa.Column("kind", text(20), nullable=False),
        *(sa.Column(c, count, nullable=False) for c in ("calls", "failed_calls", "finished_calls")),
        *(sa.Column(c, big, nullable=False) for c in ("input_tokens", "output_tokens", "cache_read_tokens")),
        *(sa.Column(c, real, nullable=False) for c in ("cost_usd", "duration_s")),
    )
    _per_minute(
        "created_minutely",
        sa.Column("kind", text(20), nullable=False),
        sa.Column("status", text(20), nullable=False),
        sa.Column("tasks", count, nullable=False),
    )


def downgrade() -> None:
    for name in ("created_minutely", "usage_minutely"):
        op.drop_index(f"ix_{name}_minute", table_name=name)
        op.drop_table(name)
