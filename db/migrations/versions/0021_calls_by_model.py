"""Issue 16: an index for the calls list under one model, newest first — `?model=x&sort=-started_at` walks
(model, started_at) instead of every call since the first of that model (bench/bench_calls.py).

Revision ID: 0021
Revises: 0020
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_invocations_model_started", "invocations", ["model", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_invocations_model_started", table_name="invocations")
