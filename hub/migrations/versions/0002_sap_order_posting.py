"""sap order posting

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 08:06:00.860620
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "order_allocations",
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("crm_order_id", sa.String(length=64), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("material", sa.String(length=40), nullable=False),
        sa.Column("plant", sa.String(length=4), nullable=False),
        sa.Column(
            "priority",
            sa.String(length=2),
            nullable=True,
            comment="SAP DeliveryPriority of the customer; 01 = most urgent",
        ),
        sa.Column("ordered_qty", sa.Numeric(precision=18, scale=3), nullable=False),
        sa.Column(
            "allocated_qty",
            sa.Numeric(precision=18, scale=3),
            nullable=False,
            comment="what the hub's allocation planned",
        ),
        sa.Column(
            "confirmed_qty",
            sa.Numeric(precision=18, scale=3),
            server_default="0",
            nullable=False,
            comment="what SAP's ATP check confirmed",
        ),
        sa.Column("confirmed_date", sa.Date(), nullable=True),
        sa.Column("sap_item", sa.String(length=6), nullable=True),
        sa.Column("run_id", sa.String(length=250), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "crm_order_id", "line_no", name=op.f("pk_order_allocations")),
    )
    op.create_table(
        "order_confirmations",
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("crm_order_id", sa.String(length=64), nullable=False),
        sa.Column(
            "confirmation_key",
            sa.String(length=200),
            nullable=False,
            comment="order number + digest of what was confirmed",
        ),
        sa.Column(
            "status", sa.String(length=24), nullable=False, comment="confirmed | partially_confirmed | backordered"
        ),
        sa.Column("run_id", sa.String(length=250), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "crm_order_id", name=op.f("pk_order_confirmations")),
    )
    op.create_table(
        "sap_orders",
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("crm_order_id", sa.String(length=64), nullable=False),
        sa.Column("order_number", sa.String(length=64), nullable=False, comment="= SAP PurchaseOrderByCustomer"),
        sa.Column("sap_order", sa.String(length=10), nullable=False),
        sa.Column("sap_net_amount", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("currency", sa.String(length=5), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "crm_order_id", name=op.f("pk_sap_orders")),
        sa.UniqueConstraint("sap_order", name=op.f("uq_sap_orders_sap_order")),
    )
    op.create_table(
        "stock_snapshots",
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("plant", sa.String(length=4), nullable=False),
        sa.Column("material", sa.String(length=40), nullable=False),
        sa.Column(
            "unrestricted",
            sa.Numeric(precision=18, scale=3),
            nullable=False,
            comment="SAP unrestricted-use stock (stock type 01)",
        ),
        sa.Column(
            "available",
            sa.Numeric(precision=18, scale=3),
            nullable=False,
            comment="SAP availability: stock minus open confirmed demand",
        ),
        sa.Column("unit", sa.String(length=8), nullable=True),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "plant", "material", name=op.f("pk_stock_snapshots")),
    )


def downgrade() -> None:
    op.drop_table("stock_snapshots")
    op.drop_table("sap_orders")
    op.drop_table("order_confirmations")
    op.drop_table("order_allocations")
