"""invocations.kind, parent_id, name and messages: calls form a tree (llm, tool, agent, retriever, other) and
keep their messages (compressed when large); tasks.placeholder: a task created because an event or span
referred to it before it was described

Revision ID: 0011
Revises: 0010
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
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
    # Full-text search over calls' messages (db/read/search.py); kept outside the models: neither database's index
    # is a plain table.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TABLE call_search (task_id BIGINT NOT NULL REFERENCES tasks(id) ON DELETE CASCADE, "
            "call_id VARCHAR(64) NOT NULL, body tsvector NOT NULL)"
        )
        op.execute("CREATE INDEX ix_call_search_body ON call_search USING gin (body)")
        op.execute("CREATE INDEX ix_call_search_task ON call_search (task_id)")
    else:
        op.execute(
            "CREATE TABLE call_search_rows (id INTEGER PRIMARY KEY, "
            "task_id INTEGER NOT NULL REFERENCES tasks(id) ON DELETE CASCADE, call_id VARCHAR(64) NOT NULL)"
        )
        op.execute("CREATE INDEX ix_call_search_rows_task ON call_search_rows (task_id)")
        # Contentless (the text is kept once, compressed, in invocations.messages) and without positions.
        op.execute("CREATE VIRTUAL TABLE call_search USING fts5(body, content='', detail=none)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS call_search")
    op.execute("DROP TABLE IF EXISTS call_search_rows")
    with op.batch_alter_table("tasks") as batch:
        batch.drop_column("placeholder")
    with op.batch_alter_table("invocations") as batch:
        batch.drop_column("placeholder")
        batch.drop_column("messages")
        batch.drop_column("name")
        batch.drop_column("parent_id")
        batch.drop_column("kind")
