"""settlement: SAP billing documents and their items as read, SAP's goods issues of the deliveries
they bill, each day's settlement per company code (version, file, totals, delivery) and its exceptions

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 20:20:00
"""

import sqlalchemy as sa
from alembic import op

from hub.schema import JSON_DOC, MONEY, QUANTITY, TS

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "billing_documents",
        sa.Column("billing_document", sa.String(length=10), nullable=False),
        sa.Column(
            "billing_type",
            sa.String(length=4),
            nullable=False,
            comment="F2 invoice, S1 cancellation, G2 credit memo, ...",
        ),
        sa.Column(
            "category",
            sa.String(length=1),
            nullable=False,
            comment="SAP SDDocumentCategory: M invoice, N cancel, O credit",
        ),
        sa.Column("billing_date", sa.Date(), nullable=False),
        sa.Column("company_code", sa.String(length=4), nullable=False),
        sa.Column(
            "country",
            sa.String(length=3),
            nullable=True,
            comment="the customer's country: whose VAT the billing carries",
        ),
        sa.Column("sold_to", sa.String(length=10), nullable=True),
        sa.Column(
            "purchase_order",
            sa.String(length=35),
            nullable=True,
            comment="PurchaseOrderByCustomer = the CRM order number",
        ),
        sa.Column("currency", sa.String(length=5), nullable=False),
        sa.Column("net_amount", MONEY, nullable=False),
        sa.Column("tax_amount", MONEY, nullable=False),
        sa.Column("gross_amount", MONEY, nullable=False),
        sa.Column("is_cancelled", sa.Boolean(), nullable=False),
        sa.Column(
            "cancelled_document", sa.String(length=10), nullable=True, comment="the document a cancellation cancels"
        ),
        sa.Column("last_changed_at", TS, nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=True),
        sa.Column("read_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("billing_document", name=op.f("pk_billing_documents")),
    )
    with op.batch_alter_table("billing_documents", schema=None) as batch_op:
        batch_op.create_index("ix_billing_documents_day", ["company_code", "billing_date"], unique=False)

    op.create_table(
        "goods_issues",
        sa.Column("delivery", sa.String(length=10), nullable=False),
        sa.Column("item", sa.String(length=6), nullable=False),
        sa.Column("sales_order", sa.String(length=10), nullable=False),
        sa.Column("sales_order_item", sa.String(length=6), nullable=False),
        sa.Column("material", sa.String(length=40), nullable=False),
        sa.Column("issued_qty", QUANTITY, nullable=False),
        sa.Column("goods_issue_date", sa.Date(), nullable=True, comment="none: not goods-issued"),
        sa.Column("read_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("delivery", "item", name=op.f("pk_goods_issues")),
    )
    with op.batch_alter_table("goods_issues", schema=None) as batch_op:
        batch_op.create_index("ix_goods_issues_order", ["sales_order", "sales_order_item"], unique=False)

    op.create_table(
        "settlement_exceptions",
        sa.Column("company_code", sa.String(length=4), nullable=False),
        sa.Column("business_day", sa.Date(), nullable=False),
        sa.Column("subject", sa.String(length=60), nullable=False, comment="sap order/item, or a billing document"),
        sa.Column("reason", sa.String(length=30), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("currency", sa.String(length=5), nullable=True),
        sa.Column("amount", MONEY, nullable=True, comment="the billed net at stake"),
        sa.Column("run_id", sa.String(length=250), nullable=True),
        sa.PrimaryKeyConstraint("company_code", "business_day", "subject", name=op.f("pk_settlement_exceptions")),
    )
    op.create_table(
        "settlements",
        sa.Column("company_code", sa.String(length=4), nullable=False),
        sa.Column("business_day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False, comment="written | unchanged | delivered | empty"),
        sa.Column("version", sa.Integer(), nullable=True, comment="the latest version written"),
        sa.Column("file", sa.String(length=200), nullable=True, comment="its CSV file name"),
        sa.Column("sha256", sa.String(length=64), nullable=True, comment="of the CSV"),
        sa.Column("records", sa.Integer(), server_default="0", nullable=False),
        sa.Column("exceptions", sa.Integer(), server_default="0", nullable=False),
        sa.Column("totals", JSON_DOC, nullable=True, comment="control totals per currency, as in the manifest"),
        sa.Column(
            "billing_totals",
            JSON_DOC,
            nullable=True,
            comment="the day's billing recomputed per currency (= SAP's)",
        ),
        sa.Column("delivered_at", TS, nullable=True),
        sa.Column("run_id", sa.String(length=250), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint(
            "status IN ('written', 'unchanged', 'delivered', 'empty')", name=op.f("ck_settlements_status")
        ),
        sa.PrimaryKeyConstraint("company_code", "business_day", name=op.f("pk_settlements")),
    )
    op.create_table(
        "billing_items",
        sa.Column("billing_document", sa.String(length=10), nullable=False),
        sa.Column("item", sa.String(length=6), nullable=False),
        sa.Column("material", sa.String(length=40), nullable=False),
        sa.Column("plant", sa.String(length=4), nullable=True),
        sa.Column("quantity", QUANTITY, nullable=False),
        sa.Column("unit", sa.String(length=8), nullable=True),
        sa.Column("net_amount", MONEY, nullable=False),
        sa.Column("tax_amount", MONEY, nullable=False),
        sa.Column("gross_amount", MONEY, nullable=False),
        sa.Column("delivery", sa.String(length=10), nullable=True, comment="ReferenceSDDocument"),
        sa.Column("delivery_item", sa.String(length=6), nullable=True),
        sa.Column("sales_order", sa.String(length=10), nullable=True, comment="SalesDocument"),
        sa.Column("sales_order_item", sa.String(length=6), nullable=True),
        sa.ForeignKeyConstraint(
            ["billing_document"],
            ["billing_documents.billing_document"],
            name=op.f("fk_billing_items_billing_document_billing_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("billing_document", "item", name=op.f("pk_billing_items")),
    )
    with op.batch_alter_table("billing_items", schema=None) as batch_op:
        batch_op.create_index("ix_billing_items_order", ["sales_order", "sales_order_item"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("billing_items", schema=None) as batch_op:
        batch_op.drop_index("ix_billing_items_order")

    op.drop_table("billing_items")
    op.drop_table("settlements")
    op.drop_table("settlement_exceptions")
    with op.batch_alter_table("goods_issues", schema=None) as batch_op:
        batch_op.drop_index("ix_goods_issues_order")

    op.drop_table("goods_issues")
    with op.batch_alter_table("billing_documents", schema=None) as batch_op:
        batch_op.drop_index("ix_billing_documents_day")

    op.drop_table("billing_documents")
