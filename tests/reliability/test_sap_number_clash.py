"""An SAP order number the hub already links to another CRM order (issue 13: ``make up`` kept the
demo's hub database beside a fresh sandbox whose SAP numbers restarted): the posting refuses the
answer with a sentence naming both orders and the number, holds the order, leaves the ledger entry
failed, and never raises a raw SQL error. Two real sandboxes: the second one is SAP after a reset.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select
from test_sap_posting_reliability import (
    SEED,
    SEED_ORDERS,
    accept,
    clean_orders,
    hub_states,
    ledger_rows,
    plan_and_post,
    sap_links,
)

from flows.sap_order_posting import POSTING_STAGE
from hub.schema import quarantine
from sandbox.testing import running_sandbox

pytestmark = pytest.mark.sandbox


def test_an_sap_number_linked_to_another_order_is_refused_not_a_sql_error(hub_db, sap_client):
    with running_sandbox(seed=SEED, orders=SEED_ORDERS, frozen=True) as first:
        picked = clean_orders(first, 5)
        earlier, later = picked[:2], picked[2:]
        accept(hub_db, earlier)
        _, counts = plan_and_post(hub_db, sap_client(first), "run-1")
        assert counts["posted"] == 2
    before = sap_links(hub_db)

    # SAP reset: a fresh sandbox numbers its sales orders from the start again.
    with running_sandbox(seed=SEED, orders=SEED_ORDERS, frozen=True) as second:
        accept(hub_db, later)
        sap = sap_client(second)
        _, counts = plan_and_post(hub_db, sap, "run-2")

        states, entries = hub_states(hub_db), ledger_rows(hub_db)
        owners = {sap_no: po for po, sap_no in before.items()}
        # SAP numbers its orders 1, 2, 3 again: the first two are linked to the earlier orders.
        clashing = {o.number: entries[o.number].response_ref for o in later if entries[o.number].response_ref in owners}
        assert counts["held"] == len(clashing) == 2, counts
        assert counts["posted"] == 1  # the third number is free: linked as usual
        (free,) = set(o.number for o in later) - set(clashing)
        assert states[free] == "posted" and entries[free].status == "sent"
        assert sap_links(hub_db) == before | {free: entries[free].response_ref}
        with hub_db.connect() as conn:
            held = {
                r.detail.split()[1]: r
                for r in conn.execute(select(quarantine).where(quarantine.c.stage == POSTING_STAGE))
            }
        for number, sap_no in clashing.items():
            assert states[number] == "held"
            assert held[number].error_class == "SapNumberClash" and held[number].field == "sap_order"
            sentence = held[number].detail
            assert number in sentence and owners[sap_no] in sentence and f"sales order {sap_no}" in sentence
            assert entries[number].status == "failed"  # SAP's answer kept, not a clean success
            assert (entries[number].response_ref, entries[number].last_error) == (sap_no, sentence)

        # The next run asks SAP again (the ledger lookup finds the orders) and refuses again, calmly.
        _, counts = plan_and_post(hub_db, sap, "run-3")
        assert counts["posted"] == 0
        assert sap_links(hub_db)[earlier[0].number] == before[earlier[0].number]
        assert {n: ledger_rows(hub_db)[n].status for n in clashing} == dict.fromkeys(clashing, "failed")
        assert {n: hub_states(hub_db)[n] for n in clashing} == dict.fromkeys(clashing, "held")
