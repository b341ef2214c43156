"""alert_rules, alerts, alert_silences, alert_notifications, alert_acks: alerting as data, and the built-in
rules a fresh database starts with

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Literal copies (a migration must not change when the code does); db/alerts/rules.BUILTIN_RULES is the same list.
# name, kind, threshold, window_seconds, for_seconds, severity, repeat_seconds
BUILTIN = (
    ("Stuck task", "stuck_task", None, 0.0, 0.0, "high", 3600.0),
    ("Failure rate over 20%", "failure_rate", 0.2, 900.0, 60.0, "high", 3600.0),
    ("Queue depth over 100", "queue_depth", 100.0, 0.0, 60.0, "medium", 3600.0),
    ("Budget 80% used", "budget_used", 0.8, 0.0, 0.0, "medium", None),
    ("Budget exceeded", "budget_used", 1.0, 0.0, 0.0, "critical", 3600.0),
    ("Budget projected over", "budget_projected", 1.0, 0.0, 300.0, "medium", None),
    ("Worker offline", "worker_offline", None, 3600.0, 0.0, "high", None),
    ("Cost spike", "cost_spike", 2.0, 3600.0, 0.0, "medium", None),
)


def upgrade() -> None:
    rules = op.create_table(
        "alert_rules",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        sa.Column("scope_kind", sa.String(length=20), nullable=False),
        sa.Column("scope_value", sa.String(length=200), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("pattern", sa.String(length=500), nullable=True),
        sa.Column("window_seconds", sa.Float(), nullable=False),
        sa.Column("for_seconds", sa.Float(), nullable=False),
        sa.Column("severity", sa.String(length=20), nullable=False),
        sa.Column("repeat_seconds", sa.Float(), nullable=True),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name", name="uq_alert_rules_name"),
    )
    op.create_table(
        "alerts",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("rule_id", BIG_ID, nullable=False),
        sa.Column("target", sa.String(length=200), nullable=False),
        sa.Column("open_key", sa.String(length=250), nullable=True),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("severity", sa.String(length=20), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("pending_at", sa.DateTime(), nullable=False),
        sa.Column("fired_at", sa.DateTime(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(), nullable=True),
        sa.Column("acknowledged_by", sa.String(length=200), nullable=True),
        sa.Column("ack_note", sa.Text(), nullable=True),
        sa.Column("last_notified_at", sa.DateTime(), nullable=True),
        sa.Column("notify_round", sa.Integer(), nullable=False),
        sa.Column("actions_taken", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["rule_id"], ["alert_rules.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("open_key", name="uq_alerts_open_key"),
    )
    op.create_index("ix_alerts_state", "alerts", ["state", "id"])
    op.create_index("ix_alerts_rule", "alerts", ["rule_id", "id"])
    op.create_table(
        "alert_silences",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("matchers", sa.JSON(), nullable=False),
        sa.Column("starts_at", sa.DateTime(), nullable=False),
        sa.Column("ends_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alert_silences_ends_at", "alert_silences", ["ends_at"])
    op.create_table(
        "alert_notifications",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("alert_id", BIG_ID, nullable=False),
        sa.Column("channel", sa.String(length=300), nullable=False),
        sa.Column("channel_type", sa.String(length=20), nullable=False),
        sa.Column("event", sa.String(length=20), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("target", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column("claimed_until", sa.DateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("sent_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("alert_id", "channel", "event", "round", name="uq_alert_notifications_once"),
    )
    op.create_index("ix_alert_notifications_due", "alert_notifications", ["status", "next_attempt_at"])
    op.create_table(
        "alert_acks",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("alert_id", BIG_ID, nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alert_acks_alert", "alert_acks", ["alert_id"])
    now = datetime.now(UTC).replace(tzinfo=None)
    op.bulk_insert(
        rules,
        [
            {
                "name": name,
                "kind": kind,
                "enabled": True,
                "builtin": True,
                "scope_kind": "all",
                "scope_value": None,
                "threshold": threshold,
                "window_seconds": window,
                "for_seconds": for_,
                "severity": severity,
                "repeat_seconds": repeat,
                "channels": [],
                "actions": [],
                "created_at": now,
                "updated_at": now,
            }
            for name, kind, threshold, window, for_, severity, repeat in BUILTIN
        ],
    )


def downgrade() -> None:
    op.drop_index("ix_alert_acks_alert", table_name="alert_acks")
    op.drop_table("alert_acks")
    op.drop_index("ix_alert_notifications_due", table_name="alert_notifications")
    op.drop_table("alert_notifications")
    op.drop_index("ix_alert_silences_ends_at", table_name="alert_silences")
    op.drop_table("alert_silences")
    op.drop_index("ix_alerts_rule", table_name="alerts")
    op.drop_index("ix_alerts_state", table_name="alerts")
    op.drop_table("alerts")
    op.drop_table("alert_rules")
