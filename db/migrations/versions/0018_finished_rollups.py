"""Issue 12: finished_hourly / finished_minutely and runtime_hourly / runtime_minutely, the rollups of the
tasks that ended (db/analytics/rollup_spec.FINISHED and RUNTIMES), so the overview reads today's outcomes as buckets,
never every task that ended today

Revision ID: 0018
Revises: 0017
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TABLES = ("finished_hourly", "finished_minutely", "runtime_hourly", "runtime_minutely")


def _table(name: str, grain: str, *columns: sa.Column[object]) -> None:
    """A table of `columns` per hour or minute, with its id and an index on that time."""
    op.create_table(
        name,
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column(grain, sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        *columns,
    )
    op.create_index(f"ix_{name}_{grain}", name, [grain])


def upgrade() -> None:
    for grain in ("hour", "minute"):
        suffix = "hourly" if grain == "hour" else "minutely"
        _table(
            f"finished_{suffix}",
            grain,
            sa.Column("worker", sa.String(64), nullable=True),
            sa.Column("tasks", sa.Integer(), nullable=False),
            sa.Column("started", sa.Integer(), nullable=False),
            sa.Column("run_s", sa.Float(), nullable=False),
        )
        _table(
            f"runtime_{suffix}",
            grain,
            sa.Column("bin", sa.Integer(), nullable=True),
            sa.Column("tasks", sa.Integer(), nullable=False),
        )
    # No back-fill here: without their leases the rollup jobs build every table again (as in 0005), and
    # readers read the source rows until they have.
    op.execute("DELETE FROM job_leases WHERE name IN ('rollup:usage_hourly', 'rollup:minutes')")


def downgrade() -> None:
    for name in reversed(TABLES):
        grain = "hour" if name.endswith("hourly") else "minute"
        op.drop_index(f"ix_{name}_{grain}", table_name=name)
        op.drop_table(name)
