"""sap_order_posting, step by step: plan (SAP availability → allocation), post (SAP sales orders
through the ledger), refresh (what SAP confirmed). Then confirm: the customer is told (``confirming``).

Orders move ``accepted`` → ``posted`` (in SAP) when anything could be allocated, ``backordered``
(not in SAP yet) when nothing could, ``held`` when SAP refused them (quarantine stage
``sap_posting``; requeue to try again). A backordered order is planned again on every run, ranked
with the new ones; an order partly confirmed in SAP waits for SAP's own backorder run, and
``refresh`` picks up what SAP confirms later. ``gate`` sends what SAP answered through the
``sap_postings`` suite; an order that fails it waits in ``review`` before anyone is told.
Cancelled orders (``flows.crm_order_sync``) are never planned.
"""

from flows.sap_order_posting.checking import gate, refresh
from flows.sap_order_posting.confirming import confirm
from flows.sap_order_posting.confirming import run as run_confirmations
from flows.sap_order_posting.planning import plan
from flows.sap_order_posting.posting import post
from flows.sap_order_posting.stages import POSTING_STAGE, POSTINGS_GATE, SAP_ORDER

__all__ = [
    "POSTINGS_GATE",
    "POSTING_STAGE",
    "SAP_ORDER",
    "confirm",
    "gate",
    "plan",
    "post",
    "refresh",
    "run_confirmations",
]
