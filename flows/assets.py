"""The Assets the flows hand over through (DESIGN §2), declared once for producer and consumer."""

from __future__ import annotations

from airflow.sdk import Asset

ACCEPTED_ORDERS = Asset("hub://orders/accepted", extra={"table": "orders", "status": "accepted"})
POSTED_ORDERS = Asset("hub://orders/posted", extra={"table": "sap_orders"})
# Deliveries goods-issued and tracked: what finance settles against and the ops report counts.
SHIPMENTS = Asset("hub://shipments", extra={"table": "deliveries"})
# What the 3PL warehouse pushed through the receiver (hub/repositories/inbox.py); the receiver emits
# an event on it through Airflow's REST API so shipment_notices starts at once.
QIMEN_INBOX = Asset("hub://receiver/qimen_inbox", extra={"table": "receiver_inbox"})
# The daily ops report (dags/ops_report.py): each event's extra names the day and the report's files.
OPS_REPORT = Asset("hub://reports/ops", extra={"folder": "output/reports"})
# Each business day's count reconciliation (dags/inventory_reconciliation.py): extra names the day,
# the counts per status, what was posted and the report's files.
INVENTORY_RECONCILIATION = Asset("hub://inventory/reconciliation", extra={"table": "count_results"})
# Each business day's settlement files (dags/finance_settlement.py): extra names the day and the files.
SETTLEMENT = Asset("hub://finance/settlement", extra={"folder": "output/settlement"})
# Each planning week's replenishment plan (dags/replenishment_planning.py): extra names the week, the
# requisitions, the reminders and the report's files.
REPLENISHMENT_PLAN = Asset("hub://planning/replenishment", extra={"table": "replenishment_proposals"})
