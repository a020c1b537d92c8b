"""The steps of ``crm_order_sync``: pull → raw gate → map and accept, one CRM at a time, then the
quarantine share of the whole run.

Each step reads what the previous one left in ``crm_inbox`` for the same run and returns counts
only, so the DAG's tasks stay thin adapters and XCom never carries order payloads. Every order
pulled ends either accepted (in ``orders``) or in the quarantine with the reason; the counts
returned balance: pulled = accepted + quarantined.
"""

from flows.crm_order_sync.acceptance import accept
from flows.crm_order_sync.gating import raw_gate
from flows.crm_order_sync.pulling import Incremental, Window, high_water_mark, pull, pull_range, span_of_run
from flows.crm_order_sync.share import QuarantineShareExceeded
from flows.crm_order_sync.share import check as check_quarantine_share
from flows.crm_order_sync.stages import ACCEPT_STAGE, CRM_STAGES, MAPPING_STAGE, RAW_GATE, REVIEW_STAGE

__all__ = [
    "ACCEPT_STAGE",
    "CRM_STAGES",
    "MAPPING_STAGE",
    "QuarantineShareExceeded",
    "RAW_GATE",
    "REVIEW_STAGE",
    "Incremental",
    "Window",
    "accept",
    "check_quarantine_share",
    "high_water_mark",
    "pull",
    "pull_range",
    "raw_gate",
    "span_of_run",
]
