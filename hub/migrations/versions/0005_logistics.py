"""logistics: the receiver's inbox, deliveries sent to the 3PL warehouse, confirms, parcels,
cancellations; the lifecycle gains partly_shipped and delivered

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 17:30:00

``order_transitions`` is refilled from hub/lifecycle.py (the declaration changed: the shipping
states, and cancellation of an order SAP holds); the CHECK on ``orders.status`` is rebuilt over
the new state list.
"""

import sqlalchemy as sa
from alembic import op

from hub.lifecycle import transition_pairs
from hub.schema import (
    CANCELLATION_STATES,
    DELIVERY_STATES,
    JSON_DOC,
    QUANTITY,
    STATUS_CHECK,
    TS,
)

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SHIP_TO = (("contact", 100), ("phone", 40), ("region", 100), ("city", 100), ("street", 255), ("postal_code", 20))
BIGINT = sa.BigInteger().with_variant(sa.Integer, "sqlite")
OLD_STATES = (
    "accepted, cancelled, backordered, held, posted, review, confirmed, partial, shipped, invoiced, settled"
).split(", ")


def _in(states: tuple[str, ...] | list[str]) -> str:
    return "status IN ({})".format(", ".join(f"'{s}'" for s in states))


def _refill_transitions(pairs: list[tuple[str, str]]) -> None:
    table = sa.table("order_transitions", sa.column("from_state"), sa.column("to_state"))
    op.execute(table.delete())
    op.bulk_insert(table, [{"from_state": old, "to_state": new} for old, new in pairs])


def _rebuild_status_check(check: str) -> None:
    """Replace the CHECK on orders.status. SQLite rebuilds the table for that and so loses the
    transition trigger of 0004: it is read before and created again after."""
    bind = op.get_bind()
    trigger = None
    if bind.dialect.name == "sqlite":
        trigger = bind.execute(
            sa.text("SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'orders_status_transition'")
        ).scalar_one()
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_orders_status"), type_="check")
        batch_op.create_check_constraint("status", sa.text(check))
    if trigger is not None:
        op.execute(trigger)


def upgrade() -> None:
    _rebuild_status_check(STATUS_CHECK)
    _refill_transitions(transition_pairs())
    with op.batch_alter_table("customers", schema=None) as batch_op:
        for name, length in SHIP_TO:
            batch_op.add_column(sa.Column(name, sa.String(length)))

    op.create_table(
        "receiver_inbox",
        sa.Column("id", BIGINT, primary_key=True, autoincrement=True),
        sa.Column("method", sa.String(80), nullable=False, comment="short method name, e.g. stockout.confirm"),
        sa.Column("message_key", sa.String(200), nullable=False, comment="outBizCode, or sha256:<hex of the raw body>"),
        sa.Column("document_code", sa.String(100), comment="deliveryOrderCode / checkOrderCode / orderCode"),
        sa.Column("body", sa.Text, nullable=False, comment="the raw body as received (UTF-8)"),
        sa.Column("params", JSON_DOC, nullable=False, comment="the query parameters except sign"),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("processed_at", TS),
        sa.Column("outcome", sa.String(20), comment="processed | quarantined | superseded"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receiver_inbox")),
        sa.UniqueConstraint("method", "message_key", name=op.f("uq_receiver_inbox_method_message_key")),
    )
    op.create_index("ix_receiver_inbox_pending", "receiver_inbox", ["method", "processed_at"])
    op.create_table(
        "deliveries",
        sa.Column("delivery", sa.String(10), nullable=False, comment="SAP outbound delivery = Qimen deliveryOrderCode"),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("crm_order_id", sa.String(64), nullable=False),
        sa.Column("sap_order", sa.String(10), nullable=False),
        sa.Column("plant", sa.String(4), nullable=False),
        sa.Column("warehouse", sa.String(50), nullable=False, comment="Qimen warehouseCode"),
        sa.Column("status", sa.String(16), nullable=False, comment="new | held | sent | shipped | issued | cancelled"),
        sa.Column("wms_order_id", sa.String(50), comment="the warehouse's number (deliveryOrderId)"),
        sa.Column("sap_changed_on", sa.Date, comment="SAP's date-only LastChangeDate when read"),
        sa.Column("final_confirm_at", TS, comment="the warehouse's final stockout.confirm (confirmType 0)"),
        sa.Column("goods_issued_at", TS),
        sa.Column("delivered_at", TS, comment="every parcel signed for (签收)"),
        sa.Column(
            "notified", sa.String(16), comment="what the CRM and the customer were last told: shipped | delivered"
        ),
        sa.Column("run_id", sa.String(250)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("delivery", name=op.f("pk_deliveries")),
        sa.CheckConstraint(_in(DELIVERY_STATES), name=op.f("ck_deliveries_status")),
    )
    op.create_index("ix_deliveries_status", "deliveries", ["status"])
    op.create_index("ix_deliveries_order", "deliveries", ["source", "crm_order_id"])
    op.create_table(
        "delivery_lines",
        sa.Column("delivery", sa.String(10), nullable=False),
        sa.Column("line_no", sa.Integer, nullable=False, comment="SAP delivery item = Qimen orderLineNo"),
        sa.Column("sap_order_item", sa.String(6)),
        sa.Column("material", sa.String(40), nullable=False),
        sa.Column("description", sa.Text),
        sa.Column("unit", sa.String(8)),
        sa.Column("planned_qty", QUANTITY, nullable=False),
        sa.Column("shipped_qty", QUANTITY, nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("delivery", "line_no", name=op.f("pk_delivery_lines")),
        sa.ForeignKeyConstraint(
            ["delivery"],
            ["deliveries.delivery"],
            name=op.f("fk_delivery_lines_delivery_deliveries"),
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "shipment_confirms",
        sa.Column("delivery", sa.String(10), nullable=False),
        sa.Column("confirm_key", sa.String(200), nullable=False, comment="outBizCode, or a digest of the content"),
        sa.Column("final", sa.Boolean, nullable=False),
        sa.Column("confirmed_at", TS),
        sa.Column("inbox_id", BIGINT),
        sa.Column("applied_at", TS, nullable=False),
        sa.Column("notified_at", TS, comment="the customer's shipment e-mail for this confirm went out"),
        sa.PrimaryKeyConstraint("delivery", "confirm_key", name=op.f("pk_shipment_confirms")),
        sa.ForeignKeyConstraint(
            ["delivery"],
            ["deliveries.delivery"],
            name=op.f("fk_shipment_confirms_delivery_deliveries"),
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "parcels",
        sa.Column("delivery", sa.String(10), nullable=False),
        sa.Column("parcel", sa.String(100), nullable=False, comment="packageCode, else the tracking number"),
        sa.Column("carrier_code", sa.String(50), nullable=False, comment="Qimen logisticsCode (SF, ZTO, ..., OTHER)"),
        sa.Column("carrier_name", sa.String(200)),
        sa.Column("tracking_number", sa.String(50), comment="none for a customer pickup"),
        sa.Column("shipped_at", TS),
        sa.Column("last_scan", sa.Text),
        sa.Column("last_scan_at", TS),
        sa.Column("delivered_at", TS),
        sa.PrimaryKeyConstraint("delivery", "parcel", name=op.f("pk_parcels")),
        sa.ForeignKeyConstraint(
            ["delivery"], ["deliveries.delivery"], name=op.f("fk_parcels_delivery_deliveries"), ondelete="CASCADE"
        ),
    )
    op.create_index("ix_parcels_tracking", "parcels", ["tracking_number"])
    op.create_table(
        "order_cancellations",
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("crm_order_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, comment="requested | cancelled | refused"),
        sa.Column("detail", sa.Text),
        sa.Column("requested_at", TS, nullable=False),
        sa.Column("run_id", sa.String(250)),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("source", "crm_order_id", name=op.f("pk_order_cancellations")),
        sa.CheckConstraint(_in(CANCELLATION_STATES), name=op.f("ck_order_cancellations_status")),
    )


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        for name, _ in SHIP_TO:
            batch_op.drop_column(name)
    for table in ("order_cancellations", "parcels", "shipment_confirms", "delivery_lines", "deliveries"):
        op.drop_table(table)
    op.drop_index("ix_receiver_inbox_pending", table_name="receiver_inbox")
    op.drop_table("receiver_inbox")
    old = set(OLD_STATES)
    _refill_transitions([(a, b) for a, b in transition_pairs() if a in old and b in old])
    _rebuild_status_check(_in(OLD_STATES))
