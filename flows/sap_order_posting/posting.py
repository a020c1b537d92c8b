"""Step 2, post: the planned orders become SAP sales orders through the ledger, in allocation order,
one ``$batch`` per chunk, each looked up by ``PurchaseOrderByCustomer`` first."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from decimal import ROUND_HALF_UP
from typing import Any

from sqlalchemy import Connection, Engine

from connectors.http import AuthError, ConnectorError, RetryPolicy, TransientError
from flows.sap_order_posting.sap_records import delivered, link, lookup_in_sap, number_clash, refuse_clash
from flows.sap_order_posting.stages import POST_RETRY, POSTING_STAGE, SAP_ORDER, hold
from hub import quarantine
from hub.keys import record_key
from hub.ledger import Ledger, LedgerBusy, SendResult
from hub.lifecycle import OrderState as S
from hub.repositories.orders import OrderKey, orders_with_lines
from transforms.business_day import business_date
from transforms.sap_posting import PRICE_STEP, SalesArea

log = logging.getLogger(__name__)


def post(
    engine: Engine,
    sap: Any,
    ledger: Ledger,
    run_id: str,
    planned: Mapping[str, Any],
    *,
    default_plant: str,
    retry: RetryPolicy = POST_RETRY,
) -> dict[str, int]:
    """Create the planned orders in SAP, in allocation order, one ``$batch`` per ``batch_size``.

    Every order is looked up by ``PurchaseOrderByCustomer`` before it is created, so an order SAP
    already has (a crash after SAP answered, a restored hub database) is linked, not duplicated.
    """
    from connectors.sap_s4 import OrderLine, sales_order_payload
    from hub.settings import get_settings

    business_tz = get_settings().hub.timezone  # the business day: transforms/business_day.py

    areas = {c: SalesArea(**a) for c, a in planned["sales_areas"].items()}
    with engine.connect() as conn:
        heads, lines = orders_with_lines(conn, [(s, o) for s, o in planned["sequence"]], S.ACCEPTED)
    # Orders a CRM sync changed or withdrew since the plan are not in ``heads``: the next run plans them.
    keys = [(s, o) for s, o in planned["sequence"] if (s, o) in heads]
    items = []
    for key in keys:
        head = heads[key]
        area = areas[head.customer_number]
        payload = sales_order_payload(
            sold_to=head.customer_number,
            purchase_order=head.order_number,
            sales_organization=area.sales_org,
            distribution_channel=area.channel,
            division=area.division,
            currency=head.currency,
            purchase_order_date=business_date(head.order_time, business_tz),
            requested_delivery_date=head.requested_date,
            lines=[
                OrderLine(
                    material=ln.material,
                    quantity=ln.quantity,
                    unit=ln.base_unit or ln.unit,
                    plant=ln.plant or default_plant,
                    # The agreed price after discount, so SAP's net amount is the CRM's (to ±0.00005/unit).
                    net_unit_price=(ln.net_amount / ln.quantity).quantize(PRICE_STEP, ROUND_HALF_UP),
                    item=str(ln.line_no * 10),
                    text=ln.description,
                )
                for ln in lines[key]
            ],
        )
        items.append((key, head.order_number, payload))

    counts: Counter[str] = Counter()
    for start in range(0, len(items), sap.config.batch_size):
        chunk = items[start : start + sap.config.batch_size]
        results = _send_with_retries(ledger, sap, [(number, payload) for _, number, payload in chunk], retry)
        with engine.begin() as conn:
            for (key, number, _), result in zip(chunk, results, strict=True):
                counts[_record_posting(conn, key, number, result, run_id)] += 1
    return {k: counts.get(k, 0) for k in ("posted", "already_in_sap", "held", "failed")}


def _send_with_retries(
    ledger: Ledger, sap: Any, items: list[tuple[str, dict[str, Any]]], retry: RetryPolicy
) -> list[SendResult | Exception]:
    """Send one chunk through the ledger; what failed transiently is tried again under the one retry
    policy (connectors.retry), each retry asking SAP first whether the order arrived."""
    from connectors.retry import retry_pending

    def send(batch: list[tuple[str, dict[str, Any]]]) -> list[SendResult | Exception]:
        answers = ledger.send_many(
            SAP_ORDER,
            batch,
            lambda payloads: [delivered(doc) for doc in sap.create_sales_orders(payloads)],
            lambda payloads: lookup_in_sap(sap, payloads),
            lookup_first=True,
            replace_unsent=True,  # an order fixed after SAP refused it goes out in its new form
            expected=(ConnectorError,),
        )
        for answer in answers:
            if isinstance(answer, AuthError):
                raise answer  # the sap_s4 Connection is wrong: a task failure for ops, not a refusal per order
        return answers

    return retry_pending(retry, items, send, is_transient=_is_transient, system="sap_s4", what="SAP posting")


def _is_transient(result: Any) -> bool:
    return isinstance(result, TransientError | LedgerBusy)


def _record_posting(conn: Connection, key: OrderKey, number: str, result: SendResult | Exception, run_id: str) -> str:
    if isinstance(result, SendResult):
        clash = number_clash(conn, key, number, result.response or {})
        if clash is not None:
            log.error("%s", clash)
            refuse_clash(conn, key, number, clash, run_id)
            return "held"
        link(conn, key, number, result.response or {}, run_id)
        quarantine.resolve(conn, key[0], [record_key(*key)], [POSTING_STAGE])
        return "posted" if result.called else "already_in_sap"
    if _is_transient(result):
        log.warning("order %s: not posted this run (%s); the ledger keeps it for the next run", number, result)
        return "failed"
    field = _error_field(result)
    hold(conn, {key: (f"order {number}: SAP refused it: {result}", type(result).__name__, field)}, run_id)
    return "held"


def _error_field(error: Exception) -> str | None:
    details = getattr(error, "errordetails", ()) or ()
    return next((d.field for d in details if getattr(d, "field", None)), None)
