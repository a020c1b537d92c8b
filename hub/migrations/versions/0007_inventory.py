"""inventory: plant data of materials (lead times, costs, ABC), each day's reconciliation of SAP's
book stock against the warehouse's counts, its adjustment proposal and decision, and stock policies

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 20:30:00
"""

import sqlalchemy as sa
from alembic import op

from hub.schema import JSON_DOC, MONEY, QUANTITY, TS

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "book_stock",
        sa.Column("business_day", sa.Date(), nullable=False),
        sa.Column("plant", sa.String(length=4), nullable=False),
        sa.Column("storage_location", sa.String(length=4), nullable=False),
        sa.Column("material", sa.String(length=40), nullable=False),
        sa.Column("batch", sa.String(length=10), server_default="", nullable=False),
        sa.Column(
            "stock_type", sa.String(length=2), nullable=False, comment="01 unrestricted | 02 quality | 07 blocked"
        ),
        sa.Column("quantity", QUANTITY, nullable=False),
        sa.Column("unit", sa.String(length=8), nullable=True),
        sa.PrimaryKeyConstraint(
            "business_day", "plant", "storage_location", "material", "batch", "stock_type", name=op.f("pk_book_stock")
        ),
    )
    op.create_table(
        "count_results",
        sa.Column("business_day", sa.Date(), nullable=False),
        sa.Column("plant", sa.String(length=4), nullable=False),
        sa.Column("storage_location", sa.String(length=4), nullable=False),
        sa.Column("material", sa.String(length=40), nullable=False),
        sa.Column("batch", sa.String(length=10), server_default="", nullable=False),
        sa.Column("stock_type", sa.String(length=2), nullable=False),
        sa.Column("basis", sa.String(length=10), nullable=False, comment="count | wms_adjust"),
        sa.Column("abc_class", sa.String(length=1), nullable=True),
        sa.Column("book_qty", QUANTITY, nullable=False),
        sa.Column("physical_qty", QUANTITY, nullable=False),
        sa.Column(
            "timing_qty", QUANTITY, nullable=False, comment="explained by open documents (+ physical ahead of book)"
        ),
        sa.Column("difference_qty", QUANTITY, nullable=False, comment="physical - book - timing: what is unexplained"),
        sa.Column("unit", sa.String(length=8), nullable=True),
        sa.Column("unit_cost", MONEY, nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("difference_value", MONEY, nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False, comment="matched | explained | recount | adjust"),
        sa.Column("explanation", sa.Text(), nullable=True),
        sa.Column(
            "movement_type", sa.String(length=3), nullable=True, comment="701/702, 703/704, 707/708 for adjust lines"
        ),
        sa.Column("reason_code", sa.String(length=4), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("count_document", sa.String(length=100), nullable=False),
        sa.Column("counted_at", TS, nullable=False),
        sa.Column("decision", sa.String(length=10), nullable=True, comment="proposed | approved | rejected | posted"),
        sa.Column("sap_document", sa.String(length=10), nullable=True, comment="physical-inventory document"),
        sa.Column("sap_material_document", sa.String(length=10), nullable=True),
        sa.Column("run_id", sa.String(length=250), nullable=True),
        sa.CheckConstraint(
            "status IN ('matched', 'explained', 'recount', 'adjust')", name=op.f("ck_count_results_status")
        ),
        sa.PrimaryKeyConstraint(
            "business_day",
            "plant",
            "storage_location",
            "material",
            "batch",
            "stock_type",
            "basis",
            name=op.f("pk_count_results"),
        ),
    )
    op.create_table(
        "material_plants",
        sa.Column("material", sa.String(length=40), nullable=False),
        sa.Column("plant", sa.String(length=4), nullable=False),
        sa.Column("abc_class", sa.String(length=1), nullable=False, comment="A | B | C by annual consumption value"),
        sa.Column("lead_time_days", QUANTITY, nullable=False, comment="replenishment lead time, days"),
        sa.Column("lead_time_sd_days", QUANTITY, nullable=False, comment="its standard deviation, days"),
        sa.Column("purchase_moq", QUANTITY, nullable=False, comment="minimum purchase lot, base units"),
        sa.Column("order_multiple", QUANTITY, nullable=False, comment="purchase rounding value, base units"),
        sa.Column("max_stock", QUANTITY, nullable=True, comment="SAP maximum stock level; none: the policy's own"),
        sa.Column("unit_cost", MONEY, nullable=False, comment="standard price per base unit, company currency"),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("material", "plant", name=op.f("pk_material_plants")),
    )
    op.create_table(
        "reconciliations",
        sa.Column("business_day", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.String(length=16),
            nullable=False,
            comment="snapshot | reconciled | proposed | approved | rejected | posted | nothing_to_post",
        ),
        sa.Column("book_taken_at", TS, nullable=False, comment="when SAP's book stock was read (once per day)"),
        sa.Column("counts_from", TS, nullable=False, comment="counts taken at or after this instant ..."),
        sa.Column("counts_to", TS, nullable=False, comment="... and before this one are the day's"),
        sa.Column(
            "proposal", JSON_DOC, nullable=True, comment="what waits for approval: lines, quantities, values per plant"
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
            "status IN ('snapshot', 'reconciled', 'proposed', 'approved', 'rejected', 'posted', 'nothing_to_post')",
            name=op.f("ck_reconciliations_status"),
        ),
        sa.PrimaryKeyConstraint("business_day", name=op.f("pk_reconciliations")),
    )
    op.create_table(
        "stock_policies",
        sa.Column("material", sa.String(length=40), nullable=False),
        sa.Column("plant", sa.String(length=4), nullable=False),
        sa.Column("business_day", sa.Date(), nullable=False),
        sa.Column("demand_per_day", QUANTITY, nullable=False, comment="mean over the history window, zeros kept"),
        sa.Column("demand_sd_per_day", QUANTITY, nullable=False),
        sa.Column("service_level", QUANTITY, nullable=False),
        sa.Column("safety_stock", QUANTITY, nullable=False),
        sa.Column("reorder_point", QUANTITY, nullable=False),
        sa.Column("max_stock", QUANTITY, nullable=False, comment="S, the order-up-to level"),
        sa.Column("over_limit", QUANTITY, nullable=False, comment="above it the position is over stock"),
        sa.Column("eoq", QUANTITY, nullable=False),
        sa.Column("on_hand", QUANTITY, nullable=False),
        sa.Column("on_order", QUANTITY, nullable=False),
        sa.Column("reserved", QUANTITY, nullable=False),
        sa.Column("backordered", QUANTITY, nullable=False),
        sa.Column("position", QUANTITY, nullable=False, comment="on hand + on order - reserved - backordered"),
        sa.Column("suggested_qty", QUANTITY, nullable=False, comment="(s,S) order quantity with MOQ and multiple"),
        sa.Column("assessment", sa.String(length=5), nullable=False, comment="low | over | ok"),
        sa.Column("run_id", sa.String(length=250), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("material", "plant", name=op.f("pk_stock_policies")),
    )
    op.create_table(
        "warehouse_counts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column(
            "source", sa.String(length=20), nullable=False, comment="inventory_report | count_sheet | inventory_query"
        ),
        sa.Column(
            "document", sa.String(length=100), nullable=False, comment="checkOrderCode, sheet file name, or query:<day>"
        ),
        sa.Column(
            "adjust_type",
            sa.String(length=8),
            nullable=False,
            comment="CHECK (a count) | ADJUST (already adjusted in the WMS)",
        ),
        sa.Column("plant", sa.String(length=4), nullable=False),
        sa.Column("storage_location", sa.String(length=4), nullable=False),
        sa.Column("material", sa.String(length=40), nullable=False),
        sa.Column("batch", sa.String(length=10), server_default="", nullable=False),
        sa.Column("stock_type", sa.String(length=2), nullable=False),
        sa.Column("inventory_type", sa.String(length=4), nullable=True, comment="Qimen inventoryType as sent"),
        sa.Column(
            "physical",
            QUANTITY,
            nullable=True,
            comment="counted quantity (totalQty, the sheet, quantity + lockQuantity)",
        ),
        sa.Column("difference", QUANTITY, nullable=True, comment="the reported difference (inventory.report quantity)"),
        sa.Column("unit", sa.String(length=8), nullable=True),
        sa.Column("counted_at", TS, nullable=False),
        sa.Column("inbox_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("run_id", sa.String(length=250), nullable=True),
        sa.Column("collected_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_warehouse_counts")),
        sa.UniqueConstraint(
            "source",
            "document",
            "adjust_type",
            "plant",
            "material",
            "batch",
            "stock_type",
            name=op.f("uq_warehouse_counts_source_document_adjust_type_plant_material_batch_stock_type"),
        ),
    )
    with op.batch_alter_table("warehouse_counts", schema=None) as batch_op:
        batch_op.create_index("ix_warehouse_counts_counted", ["plant", "counted_at"], unique=False)

    op.create_table(
        "warehouse_receipts",
        sa.Column("message_key", sa.String(length=200), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("plant", sa.String(length=4), nullable=False),
        sa.Column("order_code", sa.String(length=100), nullable=False),
        sa.Column("order_type", sa.String(length=10), nullable=True),
        sa.Column("material", sa.String(length=40), nullable=False),
        sa.Column("stock_type", sa.String(length=2), nullable=False),
        sa.Column("quantity", QUANTITY, nullable=False, comment="signed change"),
        sa.Column("changed_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("message_key", "line_no", name=op.f("pk_warehouse_receipts")),
    )


def downgrade() -> None:
    op.drop_table("warehouse_receipts")
    with op.batch_alter_table("warehouse_counts", schema=None) as batch_op:
        batch_op.drop_index("ix_warehouse_counts_counted")

    op.drop_table("warehouse_counts")
    op.drop_table("stock_policies")
    op.drop_table("reconciliations")
    op.drop_table("material_plants")
    op.drop_table("count_results")
    op.drop_table("book_stock")
