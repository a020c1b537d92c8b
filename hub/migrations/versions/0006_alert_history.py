"""alert history: the alerts table holds one row per alert message (type, key, severity, event,
numbers, what to do, deliveries per channel); alert_states holds what the checks watch (suppression
window, reminders, resolution)

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 18:30:00

Existing rows of ``alerts`` (failure records) keep their columns; the new ones are nullable. The
message id is unique through an index (SQLite adds a UNIQUE constraint only by rebuilding the table).
"""

import sqlalchemy as sa
from alembic import op

from hub.schema import JSON_DOC, TS

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

NEW_ALERT_COLUMNS = (
    sa.Column(
        "alert_key",
        sa.String(length=200),
        nullable=True,
        comment="what the alert is about, e.g. a plant or gate:source",
    ),
    sa.Column("severity", sa.String(length=10), nullable=True, comment="info | warning | critical"),
    sa.Column("event", sa.String(length=10), nullable=True, comment="raised | reminder | escalated | resolved | event"),
    sa.Column(
        "occurrence", sa.Integer(), nullable=True, comment="which opening of the alert state this message belongs to"
    ),
    sa.Column(
        "message_id",
        sa.String(length=64),
        nullable=True,
        comment="stable id of this message: the ledger key on every channel",
    ),
    sa.Column("title", sa.Text(), nullable=True),
    sa.Column("action", sa.Text(), nullable=True, comment="what to do"),
    sa.Column("facts", JSON_DOC, nullable=True, comment="the numbers that triggered it"),
    sa.Column(
        "deliveries",
        JSON_DOC,
        nullable=True,
        comment="channel → {status: pending | sent | waiting | refused | skipped, detail}",
    ),
)


def upgrade() -> None:
    for column in NEW_ALERT_COLUMNS:
        op.add_column("alerts", column)
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column(
            "alerts",
            "kind",
            existing_type=sa.String(length=32),
            existing_nullable=False,
            comment="alert type: task_failed, order_delay, low_stock, ...",
            existing_comment="task_failed | deadline_missed | threshold",
        )
    op.create_index("ix_alerts_message_id", "alerts", ["message_id"], unique=True)
    op.create_table(
        "alert_states",
        sa.Column("alert_type", sa.String(length=32), nullable=False),
        sa.Column("alert_key", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False, comment="open | resolved"),
        sa.Column("severity", sa.String(length=10), nullable=False),
        sa.Column("occurrence", sa.Integer(), nullable=False, comment="how many times it opened"),
        sa.Column("announced", sa.Boolean(), nullable=False, comment="this opening was told (raised or reminder)"),
        sa.Column("reminders", sa.Integer(), server_default="0", nullable=False, comment="reminders of this opening"),
        sa.Column("escalations", sa.Integer(), server_default="0", nullable=False),
        sa.Column("opened_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column(
            "last_raised_at", TS, nullable=True, comment="the last raised message of this type + key (the window)"
        ),
        sa.Column("last_notified_at", TS, nullable=True),
        sa.Column("resolved_at", TS, nullable=True),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("facts", JSON_DOC, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint("status IN ('open', 'resolved')", name=op.f("ck_alert_states_status")),
        sa.PrimaryKeyConstraint("alert_type", "alert_key", name=op.f("pk_alert_states")),
    )


def downgrade() -> None:
    op.drop_table("alert_states")
    op.drop_index("ix_alerts_message_id", table_name="alerts")
    with op.batch_alter_table("alerts") as batch_op:
        for column in reversed(NEW_ALERT_COLUMNS):
            batch_op.drop_column(column.name)
