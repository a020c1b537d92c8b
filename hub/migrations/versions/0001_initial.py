"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-29 06:17:12.059328
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False, comment="task_failed | deadline_missed | threshold"),
        sa.Column("dag_id", sa.String(length=250), nullable=True),
        sa.Column("run_id", sa.String(length=250), nullable=True),
        sa.Column("task_id", sa.String(length=250), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_table(
        "crm_inbox",
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("crm_order_id", sa.String(length=64), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("payload_hash", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column(
            "stage", sa.String(length=16), nullable=False, comment="pulled | raw_passed | accepted | quarantined"
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "crm_order_id", name=op.f("pk_crm_inbox")),
    )
    with op.batch_alter_table("crm_inbox", schema=None) as batch_op:
        batch_op.create_index("ix_crm_inbox_run", ["run_id", "source"], unique=False)

    op.create_table(
        "customer_map",
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("crm_account_id", sa.String(length=64), nullable=False),
        sa.Column(
            "customer_number",
            sa.String(length=32),
            nullable=True,
            comment="ERP customer number held in the CRM account",
        ),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("crm_modified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "crm_account_id", name=op.f("pk_customer_map")),
    )
    op.create_table(
        "customers",
        sa.Column("customer_number", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=True),
        sa.Column(
            "language", sa.String(length=2), server_default="en", nullable=False, comment="zh | en: confirmations"
        ),
        sa.Column("currency", sa.String(length=3), nullable=False, comment="currency of the credit limit"),
        sa.Column("credit_limit", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("customer_number", name=op.f("pk_customers")),
    )
    op.create_table(
        "gate_results",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("gate", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=True),
        sa.Column("run_id", sa.String(length=250), nullable=False),
        sa.Column("evaluated", sa.Integer(), nullable=False),
        sa.Column("passed", sa.Integer(), nullable=False),
        sa.Column("quarantined", sa.Integer(), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("blocking_breach", sa.Boolean(), nullable=False),
        sa.Column(
            "summary",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
            comment="per-expectation results, without row payloads",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gate_results")),
    )
    with op.batch_alter_table("gate_results", schema=None) as batch_op:
        batch_op.create_index("ix_gate_results_gate_run", ["gate", "run_id"], unique=False)

    op.create_table(
        "ledger",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column(
            "target", sa.String(length=64), nullable=False, comment="outside system and operation, e.g. sap.sales_order"
        ),
        sa.Column("idem_key", sa.String(length=200), nullable=False, comment="deterministic idempotency key"),
        sa.Column("payload_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "payload", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column(
            "response_ref",
            sa.String(length=200),
            nullable=True,
            comment="the outside system's reference, e.g. SAP order number",
        ),
        sa.Column(
            "response", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column("claimed_by", sa.String(length=200), nullable=True),
        sa.Column("claimed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger")),
        sa.UniqueConstraint("target", "idem_key", name=op.f("uq_ledger_target_idem_key")),
    )
    with op.batch_alter_table("ledger", schema=None) as batch_op:
        batch_op.create_index("ix_ledger_status", ["status"], unique=False)

    op.create_table(
        "material_map",
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("crm_product_id", sa.String(length=64), nullable=False),
        sa.Column("material", sa.String(length=40), nullable=True, comment="material number held in the CRM product"),
        sa.Column("name", sa.String(length=255), nullable=True),
        sa.Column("crm_modified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "crm_product_id", name=op.f("pk_material_map")),
    )
    op.create_table(
        "materials",
        sa.Column("material", sa.String(length=40), nullable=False),
        sa.Column("description", sa.String(length=255), nullable=True),
        sa.Column("base_unit", sa.String(length=8), nullable=False),
        sa.Column(
            "moq", sa.Numeric(precision=18, scale=3), nullable=False, comment="minimum order quantity, base units"
        ),
        sa.Column(
            "pack_size",
            sa.Numeric(precision=18, scale=3),
            nullable=False,
            comment="orders must be whole multiples of it",
        ),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("material", name=op.f("pk_materials")),
    )
    op.create_table(
        "orders",
        sa.Column(
            "source", sa.String(length=16), nullable=False, comment="CRM the order came from: zoho_crm | fxiaoke"
        ),
        sa.Column("crm_order_id", sa.String(length=64), nullable=False),
        sa.Column(
            "order_number",
            sa.String(length=64),
            nullable=False,
            comment="CRM order number = SAP PurchaseOrderByCustomer",
        ),
        sa.Column("crm_account_id", sa.String(length=64), nullable=True),
        sa.Column("customer_number", sa.String(length=32), nullable=True, comment="ERP (SAP) customer number"),
        sa.Column("customer_name", sa.String(length=255), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("order_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_date", sa.Date(), nullable=True),
        sa.Column("crm_status", sa.String(length=64), nullable=True),
        sa.Column("crm_modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("net_amount", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("tax_amount", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("gross_amount", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("line_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="accepted", nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False, comment="SHA-256 of the canonical content"),
        sa.Column("run_id", sa.String(length=250), nullable=True, comment="the run that last wrote the row"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "crm_order_id", name=op.f("pk_orders")),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.create_index("ix_orders_order_number", ["order_number"], unique=False)
        batch_op.create_index("ix_orders_status", ["status"], unique=False)

    op.create_table(
        "price_list",
        sa.Column("material", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=False),
        sa.Column("price", sa.Numeric(precision=18, scale=4), nullable=False, comment="list price per base unit"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("material", "currency", "valid_from", name=op.f("pk_price_list")),
    )
    op.create_table(
        "quarantine",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("stage", sa.String(length=40), nullable=False, comment="gate or step that refused the record"),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("record_key", sa.String(length=128), nullable=False),
        sa.Column("error_class", sa.String(length=64), nullable=False),
        sa.Column("field", sa.String(length=128), nullable=True, comment="the offending field, where one can be named"),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column(
            "expectations",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
            comment="the data-quality expectations the record broke",
        ),
        sa.Column(
            "payload",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
            comment="the record as received, for replay",
        ),
        sa.Column(
            "status", sa.String(length=16), server_default="open", nullable=False, comment="open | requeued | resolved"
        ),
        sa.Column("run_id", sa.String(length=250), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quarantine")),
        sa.UniqueConstraint("stage", "source", "record_key", name=op.f("uq_quarantine_stage_source_record_key")),
    )
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.create_index("ix_quarantine_status", ["status"], unique=False)

    op.create_table(
        "sync_cursors",
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("stream", sa.String(length=64), nullable=False),
        sa.Column(
            "cursor_value", sa.String(length=64), nullable=False, comment="end of the last interval pulled, ISO-8601"
        ),
        sa.Column("run_id", sa.String(length=250), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("source", "stream", name=op.f("pk_sync_cursors")),
    )
    op.create_table(
        "token_cache",
        sa.Column("key", sa.String(length=128), nullable=False, comment="system and a digest of the credentials"),
        sa.Column("ciphertext", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_token_cache")),
    )
    op.create_table(
        "order_lines",
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("crm_order_id", sa.String(length=64), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("crm_line_id", sa.String(length=64), nullable=True),
        sa.Column("crm_product_id", sa.String(length=64), nullable=True),
        sa.Column("material", sa.String(length=40), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("quantity", sa.Numeric(precision=18, scale=3), nullable=False),
        sa.Column("unit", sa.String(length=8), nullable=True),
        sa.Column("unit_price", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("discount", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("net_amount", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("tax_rate", sa.Numeric(precision=7, scale=4), nullable=False),
        sa.Column("tax_amount", sa.Numeric(precision=18, scale=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("plant", sa.String(length=4), nullable=True),
        sa.ForeignKeyConstraint(
            ["source", "crm_order_id"],
            ["orders.source", "orders.crm_order_id"],
            name=op.f("fk_order_lines_source_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("source", "crm_order_id", "line_no", name=op.f("pk_order_lines")),
    )


def downgrade() -> None:
    op.drop_table("order_lines")
    op.drop_table("token_cache")
    op.drop_table("sync_cursors")
    with op.batch_alter_table("quarantine", schema=None) as batch_op:
        batch_op.drop_index("ix_quarantine_status")

    op.drop_table("quarantine")
    op.drop_table("price_list")
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_index("ix_orders_status")
        batch_op.drop_index("ix_orders_order_number")

    op.drop_table("orders")
    op.drop_table("materials")
    op.drop_table("material_map")
    with op.batch_alter_table("ledger", schema=None) as batch_op:
        batch_op.drop_index("ix_ledger_status")

    op.drop_table("ledger")
    with op.batch_alter_table("gate_results", schema=None) as batch_op:
        batch_op.drop_index("ix_gate_results_gate_run")

    op.drop_table("gate_results")
    op.drop_table("customers")
    op.drop_table("customer_map")
    with op.batch_alter_table("crm_inbox", schema=None) as batch_op:
        batch_op.drop_index("ix_crm_inbox_run")

    op.drop_table("crm_inbox")
    op.drop_table("alerts")
