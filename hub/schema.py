"""The hub database schema (SQLAlchemy Core), the single source the Alembic migrations follow.

Money and quantities are NUMERIC, never FLOAT, and exact on SQLite too (hub/exact.py, DESIGN §3.3).
Timestamps are timezone-aware.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB

from hub.exact import ExactDecimal
from hub.lifecycle import ALL_STATES

# Named constraints so migrations are reproducible on PostgreSQL and SQLite alike.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# JSONB on PostgreSQL: comparable (upserts skip unchanged rows) and indexable; JSON text on SQLite.
JSON_DOC = JSON().with_variant(JSONB(), "postgresql")
# NUMERIC on PostgreSQL, scaled INTEGER on SQLite (whose NUMERIC is a binary float): hub/exact.py.
MONEY = ExactDecimal(18, 4)
QUANTITY = ExactDecimal(18, 3)
TAX_RATE = ExactDecimal(7, 4)  # a fraction: 0.13 = 13 %
TAX_ROUNDING_SCOPES = ("per_line", "per_document")  # hub/settings.py TaxSection.rounding_scope
TAX_ROUNDING_SCOPE_CHECK = "tax_rounding_scope IN ('per_line', 'per_document')"
TS = DateTime(timezone=True)

# The lifecycle of a canonical order (states, transitions, derived sets) is declared in hub/lifecycle.py;
# the database enforces it: a CHECK on orders.status and a trigger over order_transitions (migration 0004).
ORDER_STATES = ALL_STATES
STATUS_CHECK = "status IN ({})".format(", ".join(f"'{state}'" for state in ALL_STATES))

orders = Table(
    "orders",
    metadata,
    Column("source", String(16), primary_key=True, comment="CRM the order came from: zoho_crm | fxiaoke"),
    Column("crm_order_id", String(64), primary_key=True),
    Column("order_number", String(64), nullable=False, comment="CRM order number = SAP PurchaseOrderByCustomer"),
    Column("crm_account_id", String(64)),
    Column("customer_number", String(32), comment="ERP (SAP) customer number"),
    Column("customer_name", String(255)),
    Column("currency", String(3), nullable=False),
    Column("order_time", TS, nullable=False),
    Column("requested_date", Date),
    Column("crm_status", String(64)),
    Column("crm_modified_at", TS, nullable=False),
    Column("net_amount", MONEY, nullable=False),
    Column("tax_amount", MONEY, nullable=False),
    Column("gross_amount", MONEY, nullable=False),
    Column(
        "tax_rounding_scope",
        String(16),
        nullable=False,
        server_default="per_line",
        comment="settings tax.rounding_scope the tax amounts were computed with: per_line | per_document",
    ),
    Column("line_count", Integer, nullable=False),
    Column("status", String(16), nullable=False, server_default="accepted"),
    Column("content_hash", String(64), nullable=False, comment="SHA-256 of the canonical content"),
    Column("run_id", String(250), comment="the run that last wrote the row"),
    Column("updated_at", TS, nullable=False),
    CheckConstraint(STATUS_CHECK, name="status"),
    CheckConstraint(TAX_ROUNDING_SCOPE_CHECK, name="tax_rounding_scope"),
)
Index("ix_orders_status", orders.c.status)

# The allowed (old, new) status pairs of hub/lifecycle.py TRANSITIONS, read by the trigger that guards
# orders.status; filled by the migrations, compared with the declaration by a test.
order_transitions = Table(
    "order_transitions",
    metadata,
    Column("from_state", String(16), primary_key=True),
    Column("to_state", String(16), primary_key=True),
)
Index("ix_orders_order_number", orders.c.order_number)

order_lines = Table(
    "order_lines",
    metadata,
    Column("source", String(16), primary_key=True),
    Column("crm_order_id", String(64), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("crm_line_id", String(64)),
    Column("crm_product_id", String(64)),
    Column("material", String(40), nullable=False),
    Column("description", Text),
    Column("quantity", QUANTITY, nullable=False),
    Column("unit", String(8)),
    Column("unit_price", MONEY, nullable=False),
    Column("discount", MONEY, nullable=False),
    Column("net_amount", MONEY, nullable=False),
    Column("tax_rate", TAX_RATE, nullable=False),
    Column("tax_amount", MONEY, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("plant", String(4)),
    ForeignKeyConstraint(["source", "crm_order_id"], ["orders.source", "orders.crm_order_id"], ondelete="CASCADE"),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("stage", String(40), nullable=False, comment="gate or step that refused the record"),
    Column("source", String(16), nullable=False),
    Column("record_key", String(128), nullable=False),
    Column("error_class", String(64), nullable=False),
    Column("field", String(128), comment="the offending field, where one can be named"),
    Column("detail", Text, nullable=False),
    Column("expectations", JSON_DOC, comment="the data-quality expectations the record broke"),
    Column("payload", JSON_DOC, nullable=False, comment="the record as received, for replay"),
    Column("status", String(16), nullable=False, server_default="open", comment="open | requeued | resolved"),
    Column("run_id", String(250)),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    # One row per record and stage: re-pulling the same bad record updates it instead of
    # piling up copies, so re-running an interval leaves the database as it was.
    UniqueConstraint("stage", "source", "record_key"),
)
Index("ix_quarantine_status", quarantine.c.status)

gate_results = Table(
    "gate_results",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("gate", String(64), nullable=False),
    Column("source", String(16)),
    Column("run_id", String(250), nullable=False),
    Column("evaluated", Integer, nullable=False),
    Column("passed", Integer, nullable=False),
    Column("quarantined", Integer, nullable=False),
    Column("success", Boolean, nullable=False),
    Column("blocking_breach", Boolean, nullable=False),
    Column("summary", JSON_DOC, nullable=False, comment="per-expectation results, without row payloads"),
    Column("created_at", TS, nullable=False),
)
Index("ix_gate_results_gate_run", gate_results.c.gate, gate_results.c.run_id)

LEDGER_STATES = ("pending", "in_flight", "sent", "failed")

ledger = Table(
    "ledger",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("target", String(64), nullable=False, comment="outside system and operation, e.g. sap.sales_order"),
    Column("idem_key", String(200), nullable=False, comment="deterministic idempotency key"),
    Column("payload_hash", String(64), nullable=False),
    Column("payload", JSON_DOC, nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text),
    Column("response_ref", String(200), comment="the outside system's reference, e.g. SAP order number"),
    Column("response", JSON_DOC),
    Column("claimed_by", String(400), comment="the task try holding the claim: dag.task[map]#try@run"),
    Column("claimed_until", TS),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    Column("sent_at", TS),
    UniqueConstraint("target", "idem_key"),
)
Index("ix_ledger_status", ledger.c.status)

sync_cursors = Table(
    "sync_cursors",
    metadata,
    Column("source", String(16), primary_key=True),
    Column("stream", String(64), primary_key=True),
    Column("cursor_value", String(64), nullable=False, comment="end of the last interval pulled, ISO-8601"),
    Column("run_id", String(250)),
    Column("updated_at", TS, nullable=False),
)

# Landing table of the CRM pull (write-audit-publish): the latest raw version of every CRM order,
# tagged with the run that pulled it. Tasks hand over through it; XCom carries only counts.
crm_inbox = Table(
    "crm_inbox",
    metadata,
    Column("source", String(16), primary_key=True),
    Column("crm_order_id", String(64), primary_key=True),
    Column("modified_at", TS),
    Column("payload", JSON_DOC, nullable=False),
    Column("payload_hash", String(64), nullable=False),
    Column("run_id", String(250), nullable=False),
    Column("stage", String(16), nullable=False, comment="pulled | raw_passed | accepted | quarantined"),
    Column("updated_at", TS, nullable=False),
)
Index("ix_crm_inbox_run", crm_inbox.c.run_id, crm_inbox.c.source)

# CRM master-data mappings, refreshed incrementally with each pull.
customer_map = Table(
    "customer_map",
    metadata,
    Column("source", String(16), primary_key=True),
    Column("crm_account_id", String(64), primary_key=True),
    Column("customer_number", String(32), comment="ERP customer number held in the CRM account"),
    Column("name", String(255)),
    Column("crm_modified_at", TS),
    Column("updated_at", TS, nullable=False),
)

material_map = Table(
    "material_map",
    metadata,
    Column("source", String(16), primary_key=True),
    Column("crm_product_id", String(64), primary_key=True),
    Column("material", String(40), comment="material number held in the CRM product"),
    Column("name", String(255)),
    Column("crm_modified_at", TS),
    Column("updated_at", TS, nullable=False),
)

# Alert history: one row per alert message (raised, reminder, escalated, resolved, event) from the
# failure notifier and the checks of flows/alerting/, with its numbers and what became of it on each
# channel; rows without a message_id are plain records (hub.alerts.record). For operations and the ops report.
ALERT_SEVERITIES = ("info", "warning", "critical")
ALERT_EVENTS = ("raised", "reminder", "escalated", "resolved", "event")
alerts = Table(
    "alerts",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False, comment="alert type: task_failed, order_delay, low_stock, ..."),
    Column("dag_id", String(250)),
    Column("run_id", String(250)),
    Column("task_id", String(250)),
    Column("message", Text, nullable=False),
    Column("created_at", TS, nullable=False),
    Column("alert_key", String(200), comment="what the alert is about, e.g. a plant or gate:source"),
    Column("severity", String(10), comment=" | ".join(ALERT_SEVERITIES)),
    Column("event", String(10), comment=" | ".join(ALERT_EVENTS)),
    Column("occurrence", Integer, comment="which opening of the alert state this message belongs to"),
    Column("message_id", String(64), comment="stable id of this message: the ledger key on every channel"),
    Column("title", Text),
    Column("action", Text, comment="what to do"),
    Column("facts", JSON_DOC, comment="the numbers that triggered it"),
    Column("deliveries", JSON_DOC, comment="channel → {status: pending | sent | waiting | refused | skipped, detail}"),
)
Index("ix_alerts_message_id", alerts.c.message_id, unique=True)

ALERT_STATE_STATUSES = ("open", "resolved")
# The current state of each alert the checks watch (type + key): suppression, reminders, resolution.
alert_states = Table(
    "alert_states",
    metadata,
    Column("alert_type", String(32), primary_key=True),
    Column("alert_key", String(200), primary_key=True),
    Column("status", String(10), nullable=False, comment=" | ".join(ALERT_STATE_STATUSES)),
    Column("severity", String(10), nullable=False),
    Column("occurrence", Integer, nullable=False, comment="how many times it opened"),
    Column("announced", Boolean, nullable=False, comment="this opening was told (raised or reminder)"),
    Column("reminders", Integer, nullable=False, server_default="0", comment="reminders of this opening"),
    Column("escalations", Integer, nullable=False, server_default="0"),
    Column("opened_at", TS, nullable=False),
    Column("last_seen_at", TS, nullable=False),
    Column("last_raised_at", TS, comment="the last raised message of this type + key (the window)"),
    Column("last_notified_at", TS),
    Column("resolved_at", TS),
    Column("summary", Text, nullable=False),
    Column("facts", JSON_DOC, nullable=False),
    Column("updated_at", TS, nullable=False),
    CheckConstraint("status IN ('open', 'resolved')", name="status"),
)

# ERP master data the order review needs, imported from the ERP's extract files (flows/master_data_sync.py).
customers = Table(
    "customers",
    metadata,
    Column("customer_number", String(32), primary_key=True),
    Column("name", String(255), nullable=False),
    Column("country", String(2)),
    Column("language", String(2), nullable=False, server_default="en", comment="zh | en: confirmations"),
    Column("currency", String(3), nullable=False, comment="currency of the credit limit"),
    Column("credit_limit", MONEY, nullable=False),
    Column("blocked", Boolean, nullable=False),
    Column("email", String(255)),
    # The ship-to of the customer master: where the 3PL warehouse sends outbound deliveries.
    Column("contact", String(100)),
    Column("phone", String(40)),
    Column("region", String(100)),
    Column("city", String(100)),
    Column("street", String(255)),
    Column("postal_code", String(20)),
    Column("updated_at", TS, nullable=False),
)

materials = Table(
    "materials",
    metadata,
    Column("material", String(40), primary_key=True),
    Column("description", String(255)),
    Column("base_unit", String(8), nullable=False),
    Column("moq", QUANTITY, nullable=False, comment="minimum order quantity, base units"),
    Column("pack_size", QUANTITY, nullable=False, comment="orders must be whole multiples of it"),
    Column("active", Boolean, nullable=False),
    Column("updated_at", TS, nullable=False),
)

price_list = Table(
    "price_list",
    metadata,
    Column("material", String(40), primary_key=True),
    Column("currency", String(3), primary_key=True),
    Column("valid_from", Date, primary_key=True),
    Column("valid_to", Date, nullable=False),
    Column("price", MONEY, nullable=False, comment="list price per base unit"),
    Column("updated_at", TS, nullable=False),
)

# Access tokens shared by the tasks of one account (hub/token_cache.py), encrypted with Fernet.
token_cache = Table(
    "token_cache",
    metadata,
    Column("key", String(128), primary_key=True, comment="system and a digest of the credentials"),
    Column("ciphertext", Text, nullable=False),
    Column("expires_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
)

# -- SAP order posting (flows/sap_order_posting.py) ---------------------------------------------------------
# What SAP said it can deliver, per material and plant, when a posting run planned its allocation.
stock_snapshots = Table(
    "stock_snapshots",
    metadata,
    Column("run_id", String(250), primary_key=True),
    Column("plant", String(4), primary_key=True),
    Column("material", String(40), primary_key=True),
    Column("unrestricted", QUANTITY, nullable=False, comment="SAP unrestricted-use stock (stock type 01)"),
    Column("available", QUANTITY, nullable=False, comment="SAP availability: stock minus open confirmed demand"),
    Column("unit", String(8)),
    Column("taken_at", TS, nullable=False),
)

# Per order line: the hub's plan (allocated) and SAP's answer (confirmed). Rewritten for orders
# not yet in SAP on every run; for posted orders only SAP's confirmation moves.
order_allocations = Table(
    "order_allocations",
    metadata,
    Column("source", String(16), primary_key=True),
    Column("crm_order_id", String(64), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("material", String(40), nullable=False),
    Column("plant", String(4), nullable=False),
    Column("priority", String(2), comment="SAP DeliveryPriority of the customer; 01 = most urgent"),
    Column("ordered_qty", QUANTITY, nullable=False),
    Column("allocated_qty", QUANTITY, nullable=False, comment="what the hub's allocation planned"),
    Column("confirmed_qty", QUANTITY, nullable=False, server_default="0", comment="what SAP's ATP check confirmed"),
    Column("confirmed_date", Date),
    Column("sap_item", String(6)),
    Column("run_id", String(250)),
    Column("updated_at", TS, nullable=False),
)

# The link from a CRM order to its SAP sales order, and which confirmation the customer last got.
sap_orders = Table(
    "sap_orders",
    metadata,
    Column("source", String(16), primary_key=True),
    Column("crm_order_id", String(64), primary_key=True),
    Column("order_number", String(64), nullable=False, comment="= SAP PurchaseOrderByCustomer"),
    Column("sap_order", String(10), nullable=False),
    Column("sap_net_amount", MONEY),
    Column("currency", String(5)),
    Column("created_at", TS, nullable=False),
    Column("run_id", String(250)),
    Column("updated_at", TS, nullable=False),
    UniqueConstraint("sap_order"),
)

# The last confirmation each order's customer was sent (all channels), so only changes go out.
order_confirmations = Table(
    "order_confirmations",
    metadata,
    Column("source", String(16), primary_key=True),
    Column("crm_order_id", String(64), primary_key=True),
    Column("confirmation_key", String(200), nullable=False, comment="order number + digest of what was confirmed"),
    Column("status", String(24), nullable=False, comment="confirmed | partially_confirmed | backordered"),
    Column("run_id", String(250)),
    Column("updated_at", TS, nullable=False),
)

# -- logistics (shipment_notices) ------------------------------------------------------------------

# What outside systems push to the receiver (Qimen stockout.confirm, inventory.report, ...), stored
# before the receiver answers "success"; the batch flows read and mark it. One row per message:
# (method, message_key) is unique, so a WMS's replay is recognised and stored once.
receiver_inbox = Table(
    "receiver_inbox",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("method", String(80), nullable=False, comment="short method name, e.g. stockout.confirm"),
    Column("message_key", String(200), nullable=False, comment="outBizCode, or sha256:<hex of the raw body>"),
    Column("document_code", String(100), comment="deliveryOrderCode / checkOrderCode / orderCode"),
    Column("body", Text, nullable=False, comment="the raw body as received (UTF-8)"),
    Column("params", JSON_DOC, nullable=False, comment="the query parameters except sign"),
    Column("received_at", TS, nullable=False),
    Column("processed_at", TS),
    Column("outcome", String(20), comment="processed | quarantined | superseded"),
    UniqueConstraint("method", "message_key"),
)
Index("ix_receiver_inbox_pending", receiver_inbox.c.method, receiver_inbox.c.processed_at)

DELIVERY_STATES = ("new", "held", "sent", "shipped", "issued", "cancelled")

# SAP outbound deliveries of 3PL plants, as the hub handles them: sent to the warehouse, confirmed
# shipped, goods-issued in SAP, tracked to the customer.
deliveries = Table(
    "deliveries",
    metadata,
    Column("delivery", String(10), primary_key=True, comment="SAP outbound delivery = Qimen deliveryOrderCode"),
    Column("source", String(16), nullable=False),
    Column("crm_order_id", String(64), nullable=False),
    Column("sap_order", String(10), nullable=False),
    Column("plant", String(4), nullable=False),
    Column("warehouse", String(50), nullable=False, comment="Qimen warehouseCode"),
    Column("status", String(16), nullable=False, comment=" | ".join(DELIVERY_STATES)),
    Column("wms_order_id", String(50), comment="the warehouse's number (deliveryOrderId)"),
    Column("sap_changed_on", Date, comment="SAP's date-only LastChangeDate when read"),
    Column("final_confirm_at", TS, comment="the warehouse's final stockout.confirm (confirmType 0)"),
    Column("goods_issued_at", TS),
    Column("delivered_at", TS, comment="every parcel signed for (签收)"),
    Column("notified", String(16), comment="what the CRM and the customer were last told: shipped | delivered"),
    Column("run_id", String(250)),
    Column("created_at", TS, nullable=False),
    Column("updated_at", TS, nullable=False),
    CheckConstraint("status IN ({})".format(", ".join(f"'{s}'" for s in DELIVERY_STATES)), name="status"),
)
Index("ix_deliveries_status", deliveries.c.status)
Index("ix_deliveries_order", deliveries.c.source, deliveries.c.crm_order_id)

delivery_lines = Table(
    "delivery_lines",
    metadata,
    Column("delivery", String(10), primary_key=True),
    Column("line_no", Integer, primary_key=True, comment="SAP delivery item = Qimen orderLineNo"),
    Column("sap_order_item", String(6)),
    Column("material", String(40), nullable=False),
    Column("description", Text),
    Column("unit", String(8)),
    Column("planned_qty", QUANTITY, nullable=False),
    Column("shipped_qty", QUANTITY, nullable=False, server_default="0"),
    ForeignKeyConstraint(["delivery"], ["deliveries.delivery"], ondelete="CASCADE"),
)

# Each warehouse confirmation applied to a delivery, once: the sum of shipped quantities is built from
# these rows, so a duplicate push (same confirm_key) can never add twice.
shipment_confirms = Table(
    "shipment_confirms",
    metadata,
    Column("delivery", String(10), primary_key=True),
    Column("confirm_key", String(200), primary_key=True, comment="outBizCode, or a digest of the content"),
    Column("final", Boolean, nullable=False),
    Column("confirmed_at", TS),
    Column("inbox_id", BigInteger().with_variant(Integer, "sqlite")),
    Column("applied_at", TS, nullable=False),
    Column("notified_at", TS, comment="the customer's shipment e-mail for this confirm went out"),
    ForeignKeyConstraint(["delivery"], ["deliveries.delivery"], ondelete="CASCADE"),
)

# Parcels that left the warehouse, with carrier and tracking, followed until signed for.
parcels = Table(
    "parcels",
    metadata,
    Column("delivery", String(10), primary_key=True),
    Column("parcel", String(100), primary_key=True, comment="packageCode, else the tracking number"),
    Column("carrier_code", String(50), nullable=False, comment="Qimen logisticsCode (SF, ZTO, ..., OTHER)"),
    Column("carrier_name", String(200)),
    Column("tracking_number", String(50), comment="none for a customer pickup"),
    Column("shipped_at", TS),
    Column("last_scan", Text),
    Column("last_scan_at", TS),
    Column("delivered_at", TS),
    ForeignKeyConstraint(["delivery"], ["deliveries.delivery"], ondelete="CASCADE"),
)
Index("ix_parcels_tracking", parcels.c.tracking_number)

CANCELLATION_STATES = ("requested", "cancelled", "refused")

# A CRM cancellation of an order SAP already has: the shipment flow asks the warehouse to stop it.
order_cancellations = Table(
    "order_cancellations",
    metadata,
    Column("source", String(16), primary_key=True),
    Column("crm_order_id", String(64), primary_key=True),
    Column("status", String(16), nullable=False, comment=" | ".join(CANCELLATION_STATES)),
    Column("detail", Text),
    Column("requested_at", TS, nullable=False),
    Column("run_id", String(250)),
    Column("updated_at", TS, nullable=False),
    CheckConstraint("status IN ({})".format(", ".join(f"'{s}'" for s in CANCELLATION_STATES)), name="status"),
)

# -- inventory (inventory_reconciliation) --------------------------------------------------------------

# The ERP's plant data of a material (SAP MARC/MBEW): what stock policies and count values are built on.
material_plants = Table(
    "material_plants",
    metadata,
    Column("material", String(40), primary_key=True),
    Column("plant", String(4), primary_key=True),
    Column("abc_class", String(1), nullable=False, comment="A | B | C by annual consumption value"),
    Column("lead_time_days", QUANTITY, nullable=False, comment="replenishment lead time, days"),
    Column("lead_time_sd_days", QUANTITY, nullable=False, comment="its standard deviation, days"),
    Column("purchase_moq", QUANTITY, nullable=False, comment="minimum purchase lot, base units"),
    Column("order_multiple", QUANTITY, nullable=False, comment="purchase rounding value, base units"),
    Column("max_stock", QUANTITY, comment="SAP maximum stock level; none: the policy's own"),
    Column("unit_cost", MONEY, nullable=False, comment="standard price per base unit, company currency"),
    Column("currency", String(3), nullable=False),
    Column("updated_at", TS, nullable=False),
)

RECONCILIATION_STATES = ("snapshot", "reconciled", "proposed", "approved", "rejected", "posted", "nothing_to_post")

# One reconciliation per business day: the book snapshot it used, and the decision on its adjustments.
reconciliations = Table(
    "reconciliations",
    metadata,
    Column("business_day", Date, primary_key=True),
    Column("status", String(16), nullable=False, comment=" | ".join(RECONCILIATION_STATES)),
    Column("book_taken_at", TS, nullable=False, comment="when SAP's book stock was read (once per day)"),
    Column("counts_from", TS, nullable=False, comment="counts taken at or after this instant ..."),
    Column("counts_to", TS, nullable=False, comment="... and before this one are the day's"),
    Column("proposal", JSON_DOC, comment="what waits for approval: lines, quantities, values per plant"),
    Column("decided_by", String(200), comment="who approved or rejected (UI user, CLI user, timeout)"),
    Column("decided_at", TS),
    Column("decision_note", Text),
    Column("run_id", String(250)),
    Column("updated_at", TS, nullable=False),
    CheckConstraint("status IN ({})".format(", ".join(f"'{s}'" for s in RECONCILIATION_STATES)), name="status"),
)

# SAP's book stock per plant, storage location, batch and stock type, as read for a business day.
book_stock = Table(
    "book_stock",
    metadata,
    Column("business_day", Date, primary_key=True),
    Column("plant", String(4), primary_key=True),
    Column("storage_location", String(4), primary_key=True),
    Column("material", String(40), primary_key=True),
    Column("batch", String(10), primary_key=True, server_default=""),
    Column("stock_type", String(2), primary_key=True, comment="01 unrestricted | 02 quality | 07 blocked"),
    Column("quantity", QUANTITY, nullable=False),
    Column("unit", String(8)),
)

# What the warehouse says it holds: counts (inventory.report, count sheets) and stock (inventory.query),
# one row per document and item. ``physical`` is absolute when known; ``difference`` as reported.
warehouse_counts = Table(
    "warehouse_counts",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("source", String(20), nullable=False, comment="inventory_report | count_sheet | inventory_query"),
    Column("document", String(100), nullable=False, comment="checkOrderCode, sheet file name, or query:<day>"),
    Column("adjust_type", String(8), nullable=False, comment="CHECK (a count) | ADJUST (already adjusted in the WMS)"),
    Column("plant", String(4), nullable=False),
    Column("storage_location", String(4), nullable=False),
    Column("material", String(40), nullable=False),
    Column("batch", String(10), nullable=False, server_default=""),
    Column("stock_type", String(2), nullable=False),
    Column("inventory_type", String(4), comment="Qimen inventoryType as sent"),
    Column("physical", QUANTITY, comment="counted quantity (totalQty, the sheet, quantity + lockQuantity)"),
    Column("difference", QUANTITY, comment="the reported difference (inventory.report quantity)"),
    Column("unit", String(8)),
    Column("counted_at", TS, nullable=False),
    Column("inbox_id", BigInteger().with_variant(Integer, "sqlite")),
    Column("run_id", String(250)),
    Column("collected_at", TS, nullable=False),
    UniqueConstraint("source", "document", "adjust_type", "plant", "material", "batch", "stock_type"),
)
Index("ix_warehouse_counts_counted", warehouse_counts.c.plant, warehouse_counts.c.counted_at)

# Goods the warehouse booked in (stockchange.report receipts) that SAP may not have booked yet.
warehouse_receipts = Table(
    "warehouse_receipts",
    metadata,
    Column("message_key", String(200), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("plant", String(4), nullable=False),
    Column("order_code", String(100), nullable=False),
    Column("order_type", String(10)),
    Column("material", String(40), nullable=False),
    Column("stock_type", String(2), nullable=False),
    Column("quantity", QUANTITY, nullable=False, comment="signed change"),
    Column("changed_at", TS, nullable=False),
)

COUNT_RESULT_STATES = ("matched", "explained", "recount", "adjust")
COUNT_DECISIONS = ("proposed", "approved", "rejected", "posted")

# Book against physical per business day, plant, storage location, material, batch and stock type.
count_results = Table(
    "count_results",
    metadata,
    Column("business_day", Date, primary_key=True),
    Column("plant", String(4), primary_key=True),
    Column("storage_location", String(4), primary_key=True),
    Column("material", String(40), primary_key=True),
    Column("batch", String(10), primary_key=True, server_default=""),
    Column("stock_type", String(2), primary_key=True),
    Column("basis", String(10), primary_key=True, comment="count | wms_adjust"),
    Column("abc_class", String(1)),
    Column("book_qty", QUANTITY, nullable=False),
    Column("physical_qty", QUANTITY, nullable=False),
    Column("timing_qty", QUANTITY, nullable=False, comment="explained by open documents (+ physical ahead of book)"),
    Column("difference_qty", QUANTITY, nullable=False, comment="physical - book - timing: what is unexplained"),
    Column("unit", String(8)),
    Column("unit_cost", MONEY),
    Column("currency", String(3)),
    Column("difference_value", MONEY, nullable=False),
    Column("status", String(10), nullable=False, comment=" | ".join(COUNT_RESULT_STATES)),
    Column("explanation", Text),
    Column("movement_type", String(3), comment="701/702, 703/704, 707/708 for adjust lines"),
    Column("reason_code", String(4)),
    Column("source", String(20), nullable=False),
    Column("count_document", String(100), nullable=False),
    Column("counted_at", TS, nullable=False),
    Column("decision", String(10), comment=" | ".join(COUNT_DECISIONS)),
    Column("sap_document", String(10), comment="physical-inventory document"),
    Column("sap_material_document", String(10)),
    Column("run_id", String(250)),
    CheckConstraint("status IN ({})".format(", ".join(f"'{s}'" for s in COUNT_RESULT_STATES)), name="status"),
)

# Each day's stock policy and inventory position of a material at a plant (transforms/stock_policy.py).
stock_policies = Table(
    "stock_policies",
    metadata,
    Column("material", String(40), primary_key=True),
    Column("plant", String(4), primary_key=True),
    Column("business_day", Date, nullable=False),
    Column("demand_per_day", QUANTITY, nullable=False, comment="mean over the history window, zeros kept"),
    Column("demand_sd_per_day", QUANTITY, nullable=False),
    Column("service_level", QUANTITY, nullable=False),
    Column("safety_stock", QUANTITY, nullable=False),
    Column("reorder_point", QUANTITY, nullable=False),
    Column("max_stock", QUANTITY, nullable=False, comment="S, the order-up-to level"),
    Column("over_limit", QUANTITY, nullable=False, comment="above it the position is over stock"),
    Column("eoq", QUANTITY, nullable=False),
    Column("on_hand", QUANTITY, nullable=False),
    Column("on_order", QUANTITY, nullable=False),
    Column("reserved", QUANTITY, nullable=False),
    Column("backordered", QUANTITY, nullable=False),
    Column("position", QUANTITY, nullable=False, comment="on hand + on order - reserved - backordered"),
    Column("suggested_qty", QUANTITY, nullable=False, comment="(s,S) order quantity with MOQ and multiple"),
    Column("assessment", String(5), nullable=False, comment="low | over | ok"),
    Column("run_id", String(250)),
    Column("updated_at", TS, nullable=False),
)

# -- finance settlement (finance_settlement) -----------------------------------------------------------

# SAP billing documents as read (incrementally by LastChangeDateTime), with their items.
billing_documents = Table(
    "billing_documents",
    metadata,
    Column("billing_document", String(10), primary_key=True),
    Column("billing_type", String(4), nullable=False, comment="F2 invoice, S1 cancellation, G2 credit memo, ..."),
    Column("category", String(1), nullable=False, comment="SAP SDDocumentCategory: M invoice, N cancel, O credit"),
    Column("billing_date", Date, nullable=False),
    Column("company_code", String(4), nullable=False),
    Column("country", String(3), comment="the customer's country: whose VAT the billing carries"),
    Column("sold_to", String(10)),
    Column("purchase_order", String(35), comment="PurchaseOrderByCustomer = the CRM order number"),
    Column("currency", String(5), nullable=False),
    Column("net_amount", MONEY, nullable=False),
    Column("tax_amount", MONEY, nullable=False),
    Column("gross_amount", MONEY, nullable=False),
    Column("is_cancelled", Boolean, nullable=False),
    Column("cancelled_document", String(10), comment="the document a cancellation cancels"),
    Column("last_changed_at", TS, nullable=False),
    Column("run_id", String(250)),
    Column("read_at", TS, nullable=False),
)
Index("ix_billing_documents_day", billing_documents.c.company_code, billing_documents.c.billing_date)

billing_items = Table(
    "billing_items",
    metadata,
    Column("billing_document", String(10), primary_key=True),
    Column("item", String(6), primary_key=True),
    Column("material", String(40), nullable=False),
    Column("plant", String(4)),
    Column("quantity", QUANTITY, nullable=False),
    Column("unit", String(8)),
    Column("net_amount", MONEY, nullable=False),
    Column("tax_amount", MONEY, nullable=False),
    Column("gross_amount", MONEY, nullable=False),
    Column("delivery", String(10), comment="ReferenceSDDocument"),
    Column("delivery_item", String(6)),
    Column("sales_order", String(10), comment="SalesDocument"),
    Column("sales_order_item", String(6)),
    ForeignKeyConstraint(["billing_document"], ["billing_documents.billing_document"], ondelete="CASCADE"),
)
Index("ix_billing_items_order", billing_items.c.sales_order, billing_items.c.sales_order_item)

# What SAP goods-issued per delivery item (read for the deliveries billing refers to, all plants).
goods_issues = Table(
    "goods_issues",
    metadata,
    Column("delivery", String(10), primary_key=True),
    Column("item", String(6), primary_key=True),
    Column("sales_order", String(10), nullable=False),
    Column("sales_order_item", String(6), nullable=False),
    Column("material", String(40), nullable=False),
    Column("issued_qty", QUANTITY, nullable=False),
    Column("goods_issue_date", Date, comment="none: not goods-issued"),
    Column("read_at", TS, nullable=False),
)
Index("ix_goods_issues_order", goods_issues.c.sales_order, goods_issues.c.sales_order_item)

SETTLEMENT_STATES = ("written", "unchanged", "delivered", "empty")

# One settlement per company code and business day: the version last written and where it went.
settlements = Table(
    "settlements",
    metadata,
    Column("company_code", String(4), primary_key=True),
    Column("business_day", Date, primary_key=True),
    Column("status", String(10), nullable=False, comment=" | ".join(SETTLEMENT_STATES)),
    Column("version", Integer, comment="the latest version written"),
    Column("file", String(200), comment="its CSV file name"),
    Column("sha256", String(64), comment="of the CSV"),
    Column("records", Integer, nullable=False, server_default="0"),
    Column("exceptions", Integer, nullable=False, server_default="0"),
    Column("totals", JSON_DOC, comment="control totals per currency, as in the manifest"),
    Column("billing_totals", JSON_DOC, comment="the day's billing recomputed per currency (= SAP's)"),
    Column("delivered_at", TS),
    Column("run_id", String(250)),
    Column("updated_at", TS, nullable=False),
    CheckConstraint("status IN ({})".format(", ".join(f"'{s}'" for s in SETTLEMENT_STATES)), name="status"),
)

# What did not settle: one row per order line (or totals difference) and business day, with the reason.
settlement_exceptions = Table(
    "settlement_exceptions",
    metadata,
    Column("company_code", String(4), primary_key=True),
    Column("business_day", Date, primary_key=True),
    Column("subject", String(60), primary_key=True, comment="sap order/item, or a billing document"),
    Column("reason", String(30), nullable=False),
    Column("detail", Text, nullable=False),
    Column("currency", String(5)),
    Column("amount", MONEY, comment="the billed net at stake"),
    Column("run_id", String(250)),
)

# -- replenishment planning (replenishment_planning) ---------------------------------------------------

# SAP's monthly consumption per material and plant (MVER-like) from the ERP extract: the demand history
# before the hub's own orders.
consumption_history = Table(
    "consumption_history",
    metadata,
    Column("material", String(40), primary_key=True),
    Column("plant", String(4), primary_key=True),
    Column("month", Date, primary_key=True, comment="the first day of the month"),
    Column("quantity", QUANTITY, nullable=False, comment="consumed (sold), base units"),
    Column("updated_at", TS, nullable=False),
)

PLANNING_STATES = ("forecast", "proposed", "approved", "rejected", "requested", "nothing_to_order")

# One planning run per planning week (its Monday): forecasts, proposals, the decision on them.
planning_runs = Table(
    "planning_runs",
    metadata,
    Column("planning_week", Date, primary_key=True, comment="the Monday planned for"),
    Column("status", String(16), nullable=False, comment=" | ".join(PLANNING_STATES)),
    Column("bucket", String(5), nullable=False, comment="month | week"),
    Column("history_to", Date, nullable=False, comment="demand up to (not incl.) this day was forecast from"),
    Column("forecast", JSON_DOC, comment="models, classes, run time of the forecast"),
    Column("proposal", JSON_DOC, comment="what waits for approval: per plant value, budget, cuts"),
    Column("decided_by", String(200), comment="who approved or rejected (UI user, CLI user, timeout)"),
    Column("decided_at", TS),
    Column("decision_note", Text),
    Column("run_id", String(250)),
    Column("updated_at", TS, nullable=False),
    CheckConstraint("status IN ({})".format(", ".join(f"'{s}'" for s in PLANNING_STATES)), name="status"),
)

# Each material x plant's forecast of a planning week: class, chosen model, accuracy, the numbers.
demand_forecasts = Table(
    "demand_forecasts",
    metadata,
    Column("planning_week", Date, primary_key=True),
    Column("material", String(40), primary_key=True),
    Column("plant", String(4), primary_key=True),
    Column("demand_class", String(12), nullable=False, comment="smooth | intermittent | erratic | lumpy | ..."),
    Column("adi", QUANTITY, comment="average demand interval, buckets"),
    Column("cv2", QUANTITY, comment="squared coefficient of variation of non-zero demand"),
    Column("model", String(60), nullable=False, comment="chosen by rolling-origin RMSSE with a bias check"),
    Column("rmsse", QUANTITY, comment="of the chosen model on the rolling origins"),
    Column("bias", QUANTITY, comment="mean forecast - actual of the chosen model, base units per bucket"),
    Column("history", JSON_DOC, nullable=False, comment="{periods: [...], values: [...]} forecast from"),
    Column("forecast", JSON_DOC, nullable=False, comment="{periods: [...], values: [...]} ahead"),
    Column("demand_per_day", QUANTITY, nullable=False, comment="forecast over the lead time, per day"),
    Column("error_sd_per_day", QUANTITY, nullable=False, comment="forecast error sd, per day"),
    Column("run_id", String(250)),
)

PROPOSAL_DECISIONS = ("proposed", "approved", "rejected", "requested")
BUDGET_STATES = ("within", "partly_cut", "cut", "no_budget")

# What to buy, per planning week, plant and material: the policy, the position, the budget's verdict,
# the decision and the SAP purchase requisition that carries it.
replenishment_proposals = Table(
    "replenishment_proposals",
    metadata,
    Column("planning_week", Date, primary_key=True),
    Column("plant", String(4), primary_key=True),
    Column("material", String(40), primary_key=True),
    Column("abc_class", String(1), nullable=False),
    Column("demand_class", String(12), nullable=False),
    Column("model", String(60), nullable=False),
    Column("demand_per_day", QUANTITY, nullable=False),
    Column("error_sd_per_day", QUANTITY, nullable=False),
    Column("lead_time_days", QUANTITY, nullable=False),
    Column("service_level", QUANTITY, nullable=False),
    Column("safety_stock", QUANTITY, nullable=False, comment="z x forecast error over the lead time"),
    Column("reorder_point", QUANTITY, nullable=False, comment="s, the min"),
    Column("max_qty", QUANTITY, nullable=False, comment="S, the order-up-to level (max)"),
    Column("on_hand", QUANTITY, nullable=False),
    Column("on_order", QUANTITY, nullable=False, comment="the hub's requisitions not yet due"),
    Column("reserved", QUANTITY, nullable=False),
    Column("backordered", QUANTITY, nullable=False),
    Column("position", QUANTITY, nullable=False),
    Column("order_qty", QUANTITY, nullable=False, comment="(s,S) with MOQ and multiple, before the budget"),
    Column("proposed_qty", QUANTITY, nullable=False, comment="after the budget"),
    Column("unit", String(3)),
    Column("unit_cost", MONEY, nullable=False),
    Column("value", MONEY, nullable=False, comment="proposed_qty x unit_cost"),
    Column("currency", String(3), nullable=False),
    Column("priority", Integer, nullable=False, comment="1 = bought first within the plant's budget"),
    Column("days_of_cover", QUANTITY, comment="position / demand per day"),
    Column("budget_status", String(10), nullable=False, comment=" | ".join(BUDGET_STATES)),
    Column("decision", String(10), nullable=False, comment=" | ".join(PROPOSAL_DECISIONS)),
    Column("delivery_date", Date, nullable=False, comment="planning week + lead time"),
    Column("purchase_requisition", String(10)),
    Column("requisition_item", String(5)),
    Column("run_id", String(250)),
    Column("updated_at", TS, nullable=False),
    CheckConstraint("budget_status IN ({})".format(", ".join(f"'{s}'" for s in BUDGET_STATES)), name="budget"),
    CheckConstraint("decision IN ({})".format(", ".join(f"'{s}'" for s in PROPOSAL_DECISIONS)), name="decision"),
)

# Reorder reminders: a customer's part due again, written once per purchase cycle to the customer's CRM.
reorder_reminders = Table(
    "reorder_reminders",
    metadata,
    Column("reminder_key", String(100), primary_key=True, comment="CRM, customer, part, last purchase"),
    Column("source", String(16), nullable=False, comment="the CRM of the customer"),
    Column("customer", String(10), nullable=False),
    Column("crm_account_id", String(64), nullable=False),
    Column("material", String(40), nullable=False),
    Column("purchases", Integer, nullable=False),
    Column("interval_days", Integer, nullable=False, comment="median days between purchases"),
    Column("interval_cv", QUANTITY, nullable=False),
    Column("last_purchase", Date, nullable=False),
    Column("typical_qty", QUANTITY, nullable=False, comment="median quantity"),
    Column("due_date", Date, nullable=False),
    Column("planning_week", Date, nullable=False),
    Column("status", String(8), nullable=False, comment="due | written"),
    Column("crm_record_id", String(64)),
    Column("run_id", String(250)),
    Column("updated_at", TS, nullable=False),
    Index("ix_reorder_reminders_due", "status", "due_date"),
)
