"""invocations.kind, parent_id, name and messages: calls form a tree (llm, tool, agent, retriever, other) and
keep their messages (compressed when large); tasks.placeholder: a task created because an event or span
referred to it before it was described

Revision ID: 0011
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A constant default is a plain ADD COLUMN on both databases (no rewrite on PostgreSQL 11+): every call
    # recorded so far was a model call.
    op.add_column(
        "invocations", sa.Column("kind", sa.String(length=20), nullable=False, server_default="llm")
    )
    op.add_column("invocations", sa.Column("parent_id", sa.String(length=64), nullable=True))
    op.add_column("invocations", sa.Column("name", sa.String(length=200), nullable=False, server_default=""))
    op.add_column("invocations", sa.Column("messages", sa.LargeBinary(), nullable=True))
    op.add_column(
        "invocations", sa.Column("placeholder", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.add_column("tasks", sa.Column("placeholder", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("placeholder")
    with op.batch_alter_table("invocations") as batch:
        batch.drop_column("placeholder")
        batch.drop_column("messages")
        batch.drop_column("name")
        batch.drop_column("parent_id")
        batch.drop_column("kind")
