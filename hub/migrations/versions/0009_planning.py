"""planning: SAP consumption history (the ERP extract), weekly planning runs, demand forecasts,
replenishment proposals with their budget verdict and purchase requisition, reorder reminders

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 22:52:35.649004
"""

import sqlalchemy as sa
from alembic import op

from hub.schema import JSON_DOC, MONEY, QUANTITY, TS

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "consumption_history",
        sa.Column("material", sa.String(length=40), nullable=False),
        sa.Column("plant", sa.String(length=4), nullable=False),
        sa.Column("month", sa.Date(), nullable=False, comment="the first day of the month"),
        sa.Column("quantity", QUANTITY, nullable=False, comment="consumed (sold), base units"),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("material", "plant", "month", name=op.f("pk_consumption_history")),
    )
    op.create_table(
        "demand_forecasts",
        sa.Column("planning_week", sa.Date(), nullable=False),
        sa.Column("material", sa.String(length=40), nullable=False),
        sa.Column("plant", sa.String(length=4), nullable=False),
        sa.Column(
            "demand_class",
            sa.String(length=12),
            nullable=False,
            comment="smooth | intermittent | erratic | lumpy | ...",
        ),
        sa.Column("adi", QUANTITY, nullable=True, comment="average demand interval, buckets"),
        sa.Column("cv2", QUANTITY, nullable=True, comment="squared coefficient of variation of non-zero demand"),
        sa.Column(
            "model", sa.String(length=60), nullable=False, comment="chosen by rolling-origin RMSSE with a bias check"
        ),
        sa.Column("rmsse", QUANTITY, nullable=True, comment="of the chosen model on the rolling origins"),
        sa.Column(
            "bias", QUANTITY, nullable=True, comment="mean forecast - actual of the chosen model, base units per bucket"
        ),
        sa.Column("history", JSON_DOC, nullable=False, comment="{periods: [...], values: [...]} forecast from"),
        sa.Column("forecast", JSON_DOC, nullable=False, comment="{periods: [...], values: [...]} ahead"),
        sa.Column("demand_per_day", QUANTITY, nullable=False, comment="forecast over the lead time, per day"),
        sa.Column("error_sd_per_day", QUANTITY, nullable=False, comment="forecast error sd, per day"),
        sa.Column("run_id", sa.String(length=250), nullable=True),
        sa.PrimaryKeyConstraint("planning_week", "material", "plant", name=op.f("pk_demand_forecasts")),
    )
    op.create_table(
        "planning_runs",
        sa.Column("planning_week", sa.Date(), nullable=False, comment="the Monday planned for"),
        sa.Column(
            "status",
            sa.String(length=16),
            nullable=False,
            comment="forecast | proposed | approved | rejected | requested | nothing_to_order",
        ),
        sa.Column("bucket", sa.String(length=5), nullable=False, comment="month | week"),
        sa.Column(
            "history_to", sa.Date(), nullable=False, comment="demand up to (not incl.) this day was forecast from"
        ),
        sa.Column("forecast", JSON_DOC, nullable=True, comment="models, classes, run time of the forecast"),
        sa.Column(
            "proposal", JSON_DOC, nullable=True, comment="what waits for approval: per plant value, budget, cuts"
        ),
        sa.Column(
            "decided_by",
            sa.String(length=200),
            nullable=True,
            comment="who approved or rejected (UI user, CLI user, timeout)",
        ),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
        sa.Column("run_id", sa.String(length=250), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint(
            "status IN ('forecast', 'proposed', 'approved', 'rejected', 'requested', 'nothing_to_order')",
            name=op.f("ck_planning_runs_status"),
        ),
        sa.PrimaryKeyConstraint("planning_week", name=op.f("pk_planning_runs")),
    )
    op.create_table(
        "reorder_reminders",
        sa.Column("reminder_key", sa.String(length=100), nullable=False, comment="CRM, customer, part, last purchase"),
        sa.Column("source", sa.String(length=16), nullable=False, comment="the CRM of the customer"),
        sa.Column("customer", sa.String(length=10), nullable=False),
        sa.Column("crm_account_id", sa.String(length=64), nullable=False),
        sa.Column("material", sa.String(length=40), nullable=False),
        sa.Column("purchases", sa.Integer(), nullable=False),
        sa.Column("interval_days", sa.Integer(), nullable=False, comment="median days between purchases"),
        sa.Column("interval_cv", QUANTITY, nullable=False),
        sa.Column("last_purchase", sa.Date(), nullable=False),
        sa.Column("typical_qty", QUANTITY, nullable=False, comment="median quantity"),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("planning_week", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False, comment="due | written"),
        sa.Column("crm_record_id", sa.String(length=64), nullable=True),
        sa.Column("run_id", sa.String(length=250), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("reminder_key", name=op.f("pk_reorder_reminders")),
    )
    with op.batch_alter_table("reorder_reminders", schema=None) as batch_op:
        batch_op.create_index("ix_reorder_reminders_due", ["status", "due_date"], unique=False)

    op.create_table(
        "replenishment_proposals",
        sa.Column("planning_week", sa.Date(), nullable=False),
        sa.Column("plant", sa.String(length=4), nullable=False),
        sa.Column("material", sa.String(length=40), nullable=False),
        sa.Column("abc_class", sa.String(length=1), nullable=False),
        sa.Column("demand_class", sa.String(length=12), nullable=False),
        sa.Column("model", sa.String(length=60), nullable=False),
        sa.Column("demand_per_day", QUANTITY, nullable=False),
        sa.Column("error_sd_per_day", QUANTITY, nullable=False),
        sa.Column("lead_time_days", QUANTITY, nullable=False),
        sa.Column("service_level", QUANTITY, nullable=False),
        sa.Column("safety_stock", QUANTITY, nullable=False, comment="z x forecast error over the lead time"),
        sa.Column("reorder_point", QUANTITY, nullable=False, comment="s, the min"),
        sa.Column("max_qty", QUANTITY, nullable=False, comment="S, the order-up-to level (max)"),
        sa.Column("on_hand", QUANTITY, nullable=False),
        sa.Column("on_order", QUANTITY, nullable=False, comment="the hub's requisitions not yet due"),
        sa.Column("reserved", QUANTITY, nullable=False),
        sa.Column("backordered", QUANTITY, nullable=False),
        sa.Column("position", QUANTITY, nullable=False),
        sa.Column("order_qty", QUANTITY, nullable=False, comment="(s,S) with MOQ and multiple, before the budget"),
        sa.Column("proposed_qty", QUANTITY, nullable=False, comment="after the budget"),
        sa.Column("unit", sa.String(length=3), nullable=True),
        sa.Column("unit_cost", MONEY, nullable=False),
        sa.Column("value", MONEY, nullable=False, comment="proposed_qty x unit_cost"),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False, comment="1 = bought first within the plant's budget"),
        sa.Column("days_of_cover", QUANTITY, nullable=True, comment="position / demand per day"),
        sa.Column(
            "budget_status", sa.String(length=10), nullable=False, comment="within | partly_cut | cut | no_budget"
        ),
        sa.Column(
            "decision", sa.String(length=10), nullable=False, comment="proposed | approved | rejected | requested"
        ),
        sa.Column("delivery_date", sa.Date(), nullable=False, comment="planning week + lead time"),
        sa.Column("purchase_requisition", sa.String(length=10), nullable=True),
        sa.Column("requisition_item", sa.String(length=5), nullable=True),
        sa.Column("run_id", sa.String(length=250), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint(
            "budget_status IN ('within', 'partly_cut', 'cut', 'no_budget')",
            name=op.f("ck_replenishment_proposals_budget"),
        ),
        sa.CheckConstraint(
            "decision IN ('proposed', 'approved', 'rejected', 'requested')",
            name=op.f("ck_replenishment_proposals_decision"),
        ),
        sa.PrimaryKeyConstraint("planning_week", "plant", "material", name=op.f("pk_replenishment_proposals")),
    )


def downgrade() -> None:
    op.drop_table("replenishment_proposals")
    with op.batch_alter_table("reorder_reminders", schema=None) as batch_op:
        batch_op.drop_index("ix_reorder_reminders_due")

    op.drop_table("reorder_reminders")
    op.drop_table("planning_runs")
    op.drop_table("demand_forecasts")
    op.drop_table("consumption_history")
