"""Issue 17: ix_invocations_task narrows to (task_id) — every read by task loads all of the task's calls and
sorts them by (started_at, id), which the index's started_at never spared — and the two schedule indexes of
tasks become partial (WHERE schedule_id IS NOT NULL), so the tasks no schedule made pay for neither

Revision ID: 0015
Revises: 0014
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEDULED = sa.text("schedule_id IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_invocations_task", table_name="invocations")
    op.create_index("ix_invocations_task", "invocations", ["task_id"])
    op.drop_index("ix_tasks_schedule_status", table_name="tasks")
    op.drop_index("uq_tasks_schedule_fire", table_name="tasks")
    # `schedule_id = ?` implies IS NOT NULL, so both planners still pick them; NULLs never conflicted anyway.
    for name, columns, unique in (
        ("uq_tasks_schedule_fire", ["schedule_id", "scheduled_for"], True),
        ("ix_tasks_schedule_status", ["schedule_id", "status"], False),
    ):
        op.create_index(
            name, "tasks", columns, unique=unique, sqlite_where=SCHEDULED, postgresql_where=SCHEDULED
        )


def downgrade() -> None:
    op.drop_index("ix_tasks_schedule_status", table_name="tasks")
    op.drop_index("uq_tasks_schedule_fire", table_name="tasks")
    op.create_index("uq_tasks_schedule_fire", "tasks", ["schedule_id", "scheduled_for"], unique=True)
    op.create_index("ix_tasks_schedule_status", "tasks", ["schedule_id", "status"])
    op.drop_index("ix_invocations_task", table_name="invocations")
    op.create_index("ix_invocations_task", "invocations", ["task_id", "started_at"])
