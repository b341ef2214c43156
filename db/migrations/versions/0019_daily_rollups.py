"""Issue 16: usage_daily, task_daily and tool_daily, the hourly rollups' rows per day (folded from them, as
histogram_daily is), so a range of weeks or months reads its whole days as days, not 24 buckets each;
back-filled here from the hourly tables

Revision ID: 0019
Revises: 0018
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TEXT, COUNT, BIG, REAL = sa.String, sa.Integer(), sa.BigInteger(), sa.Float()
# name -> (the hourly table, its dimensions, its measures with how a day combines them)
DAILY = {
    "usage_daily": (
        "usage_hourly",
        ("model", "role", "provider", "kind"),
        {
            **dict.fromkeys(("calls", "failed_calls", "finished_calls"), "sum"),
            **dict.fromkeys(("input_tokens", "output_tokens", "cache_read_tokens"), "sum"),
            **dict.fromkeys(("cost_usd", "duration_s"), "sum"),
        },
    ),
    "task_daily": (
        "task_hourly",
        ("kind", "status"),
        {
            **dict.fromkeys(
                ("tasks", "first_attempt", "started", "cycle_s", "processing_s", "queue_s"), "sum"
            ),
            "min_processing_s": "min",
            "max_processing_s": "max",
        },
    ),
    "tool_daily": ("tool_hourly", ("kind", "tool"), {"calls": "sum"}),
}


def _daily(name: str, *columns: sa.Column[object]) -> None:
    """A table of `columns` per day, with its id and an index on the day."""
    op.create_table(
        name,
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("day", sa.DateTime(), nullable=False),
        *columns,
    )
    op.create_index(f"ix_{name}_day", name, ["day"])


def upgrade() -> None:
    _daily(
        "usage_daily",
        *(
            sa.Column(c, TEXT(n), nullable=False)
            for c, n in (("model", 200), ("role", 100), ("provider", 100))
        ),
        sa.Column("kind", TEXT(20), nullable=False),
        *(sa.Column(c, COUNT, nullable=False) for c in ("calls", "failed_calls", "finished_calls")),
        *(sa.Column(c, BIG, nullable=False) for c in ("input_tokens", "output_tokens", "cache_read_tokens")),
        *(sa.Column(c, REAL, nullable=False) for c in ("cost_usd", "duration_s")),
    )
    _daily(
        "task_daily",
        sa.Column("kind", TEXT(20), nullable=False),
        sa.Column("status", TEXT(20), nullable=False),
        *(sa.Column(c, COUNT, nullable=False) for c in ("tasks", "first_attempt", "started")),
        *(sa.Column(c, REAL, nullable=False) for c in ("cycle_s", "processing_s", "queue_s")),
        *(sa.Column(c, REAL, nullable=True) for c in ("min_processing_s", "max_processing_s")),
    )
    _daily(
        "tool_daily",
        sa.Column("kind", TEXT(20), nullable=False),
        sa.Column("tool", TEXT(200), nullable=False),
        sa.Column("calls", COUNT, nullable=False),
    )
    # Back-filled from the hourly rows, as the refresh folds them (db/analytics/rollup_spec.Spec.fold_select):
    # no rebuild of every rollup from the source rows, and days before the retention horizon, whose source
    # rows may be pruned, keep what their hours hold. SQLite keeps times as integer microseconds (0017).
    sqlite = op.get_bind().dialect.name == "sqlite"
    day = "(hour / 86400000000) * 86400000000" if sqlite else "date_trunc('day', hour)"
    for name, (hourly, dims, measures) in DAILY.items():
        keys = ", ".join(dims)
        combined = ", ".join(f"{agg}({m})" for m, agg in measures.items())
        op.execute(
            f"INSERT INTO {name} (day, {keys}, {', '.join(measures)}) "
            f"SELECT {day}, {keys}, {combined} FROM {hourly} GROUP BY {day}, {keys}"
        )


def downgrade() -> None:
    for name in reversed(DAILY):
        op.drop_index(f"ix_{name}_day", table_name=name)
        op.drop_table(name)
