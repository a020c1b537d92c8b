"""The stages of crm_order_sync and its landing table: quarantine stage names, and the
``crm_inbox`` rows each step reads and moves on (write-audit-publish; XCom carries only counts)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, select, update

from hub.db import count_in_chunks, utcnow
from hub.schema import (
    crm_inbox,
)

RAW_GATE = "raw_crm_orders"


MAPPING_STAGE = "crm_mapping"


REVIEW_STAGE = "order_review"


ACCEPT_STAGE = "accepted_orders"


CRM_STAGES = (RAW_GATE, MAPPING_STAGE, REVIEW_STAGE, ACCEPT_STAGE)


# Inbox stages a run has not finished with: a run that failed after its pull left its orders here.
OPEN_STAGES = ("pulled", "raw_passed")


def inbox_rows(conn: Connection, source_name: str, run_id: str, stage: str) -> list[Any]:
    return conn.execute(
        select(crm_inbox.c.crm_order_id, crm_inbox.c.payload)
        .where(crm_inbox.c.source == source_name, crm_inbox.c.run_id == run_id, crm_inbox.c.stage == stage)
        .order_by(crm_inbox.c.crm_order_id)
    ).all()


def set_stage(conn: Connection, source_name: str, order_ids: Iterable[str], stage: str) -> None:
    now = utcnow()
    count_in_chunks(
        conn,
        order_ids,
        lambda chunk: (
            update(crm_inbox)
            .where(crm_inbox.c.source == source_name, crm_inbox.c.crm_order_id.in_(chunk))
            .values(stage=stage, updated_at=now)
        ),
    )


# What reading a hostile record can raise (a list where an object was expected, a number out of a
# type's range): the record is quarantined whole, the others go on. Anything else is a bug and fails.
UNREADABLE = (AttributeError, TypeError, ValueError, ArithmeticError, KeyError, IndexError)
