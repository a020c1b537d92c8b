"""Seeded billing anomalies: the few billing documents a three-way match must report as exceptions.

Off by default (the business of ``make demo`` and the tests is clean billing); switched on with the
control API, ``POST /_sandbox/records/sap_s4 {"module": "config", "fields": {"billing_anomalies":
true}}``. From then on the delivery billings (F2) are counted 1, 2, 3, …; the seed picks, out of the
ordinals 2…:data:`WINDOW` + 1, one for each anomaly of :data:`KINDS` (``random.Random(f"{seed}:sap-
billing-anomalies")``), so the same seed and the same business give the same anomalies on the same
documents. One anomaly per billing; one whose condition does not hold at its ordinal (no open order
item to bill, no invoiced quantity to credit a part of) waits for the next billing that allows it.
After the window, billing is clean again: a small share of the documents of a busy day.

=========================== ================== ===================================================
kind                        expected reason    what SAP shows
=========================== ================== ===================================================
``price_difference``        price_difference   one F2 item's NetAmount = order price × quantity ±
                                               a seeded 4–8 % (at least one currency unit); tax,
                                               header totals follow the item
``over_billing``            over_billed /      one F2 item's BillingQuantity = issued quantity + 1
                            under_delivered    or 2, NetAmount = order price × billed quantity
                                               (over_billed when that exceeds the ordered quantity)
``currency_mismatch``       currency_mismatch  an F2 in another currency than the order's, its
                                               amounts converted at the seed's exchange rates
``billing_without_delivery`` billing_without_   an order-related invoice F1 (BillingDocumentCategory
                            delivery           A, SDDocumentCategory M) of an order item nothing of
                                               which is issued: items reference the order
                                               (ReferenceSDDocument = SalesDocument, category C),
                                               no delivery. A delivery issued for that item later is
                                               billed only for what the F1 has not billed already
``credit_memo``             missing_billing    a day after an F2: a credit memo G2 (category A, SD
                                               category O, order reason 002) for part (half,
                                               rounded down) of one invoiced item, referencing the
                                               invoice (ReferenceSDDocument/Item, category M) and
                                               the order item (SalesDocument/Item); SAP's amounts
                                               are positive, the category makes them a credit
``cancellation`` (twice)    cancelled          a day after an F2: ``Cancel`` runs on it by itself:
                                               a cancellation S1 (SD category N) pointing back
                                               (CancelledBillingDocument), the F2 marked
                                               BillingDocumentIsCancelled, LastChangeDateTime moved
=========================== ================== ===================================================

``GET /_sandbox/records/sap_s4/billing_anomalies/all`` lists what was seeded so far (``{"record":
{"enabled", "billings_counted", "plan": [{"ordinal", "kind"}], "waiting": [kind…], "anomalies":
[…]}}``); ``…/billing_anomalies/<BillingDocument>`` only the anomalies that document is part of.
Each anomaly: ``kind``, ``expected_reason``, ``ordinal`` (the delivery billing it was seeded on),
``at`` (ISO UTC), ``billing_document``, ``billing_document_type``, ``billing_document_item``,
``sales_order``, ``sales_order_item``, ``delivery``/``delivery_item`` ("" without one),
``original_billing_document`` (credit memo, cancellation: the invoice), ``currency`` and ``detail``
(decimals as strings: expected and billed quantity or amount, currencies).
"""

from __future__ import annotations

import random
from datetime import datetime
from decimal import Decimal
from typing import Any

from sandbox.clock import iso_z

KINDS: tuple[str, ...] = (
    "price_difference",
    "over_billing",
    "currency_mismatch",
    "billing_without_delivery",
    "credit_memo",
    "cancellation",
    "cancellation",
)
WINDOW = 14  # ordinals 2 … WINDOW + 1 of the delivery billings carry the anomalies
EXPECTED_REASON = {
    "price_difference": "price_difference",
    "over_billing": "over_billed",
    "currency_mismatch": "currency_mismatch",
    "billing_without_delivery": "billing_without_delivery",
    "credit_memo": "missing_billing",
    "cancellation": "cancelled",
}
CREDIT_MEMO_REASON = "002"  # SDDocumentReason of the credit memo's items [emulator: a standard order reason]


class BillingAnomalies:
    """The seeded plan and what was seeded. :class:`sandbox.sap.documents.Documents` asks
    :meth:`next_kinds` at every delivery billing and reports back with :meth:`record`."""

    def __init__(self, seed: int, enabled: bool = False) -> None:
        rng = random.Random(f"{seed}:sap-billing-anomalies")
        ordinals = rng.sample(range(2, WINDOW + 2), len(KINDS))
        self.plan: dict[int, str] = dict(zip(ordinals, KINDS, strict=True))
        percent = Decimal(rng.randint(4, 8))
        self.price_factor = 1 + (percent if rng.random() < 0.5 else -percent) / 100
        self.extra_quantity = Decimal(rng.randint(1, 2))
        self.enabled = enabled
        self.counted = 0
        self.waiting: list[str] = []
        self.anomalies: list[dict[str, Any]] = []

    def next_kinds(self) -> list[str]:
        """At a delivery billing: the kinds to try on it, in order (waiting ones first, then the one
        planned for this ordinal). The caller applies the first whose condition holds and passes
        the rest back with :meth:`keep_waiting`."""
        if not self.enabled:
            return []
        self.counted += 1
        planned = self.plan.get(self.counted)
        kinds = list(self.waiting)
        self.waiting = []
        if planned is not None:
            kinds.append(planned)
        return kinds

    def keep_waiting(self, kinds: list[str]) -> None:
        self.waiting.extend(kinds)

    def record(self, kind: str, at: datetime, **fields: Any) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "kind": kind,
            "expected_reason": fields.pop("expected_reason", EXPECTED_REASON[kind]),
            "ordinal": self.counted,
            "at": iso_z(at),
            "billing_document": "",
            "billing_document_type": "",
            "billing_document_item": "",
            "sales_order": "",
            "sales_order_item": "",
            "delivery": "",
            "delivery_item": "",
            "original_billing_document": "",
            "currency": "",
            "detail": {},
        }
        entry.update(fields)
        entry["detail"] = {k: _text(v) for k, v in entry["detail"].items()}
        self.anomalies.append(entry)
        return entry

    def describe(self, billing_document: str | None = None) -> dict[str, Any]:
        anomalies = [
            a
            for a in self.anomalies
            if billing_document is None or billing_document in (a["billing_document"], a["original_billing_document"])
        ]
        return {
            "enabled": self.enabled,
            "billings_counted": self.counted,
            "plan": [{"ordinal": n, "kind": k} for n, k in sorted(self.plan.items())],
            "waiting": list(self.waiting),
            "anomalies": anomalies,
        }


def _text(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:f}"
    return value
