"""The Assets the flows hand over through (DESIGN §2), declared once for producer and consumer."""

from __future__ import annotations

from airflow.sdk import Asset

ACCEPTED_ORDERS = Asset("hub://orders/accepted", extra={"table": "orders", "status": "accepted"})
POSTED_ORDERS = Asset("hub://orders/posted", extra={"table": "sap_orders"})
