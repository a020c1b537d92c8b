"""Tell the customer what SAP confirmed: a write-back to the CRM the order came from and an e-mail.

Each goes through the ledger under ``<order number>:<digest of what is confirmed>``: an unchanged
confirmation is never sent twice, a changed one (SAP confirmed a backorder) is a new send. Once
both channels have it the order's state follows: ``confirmed``, or ``partial`` while SAP still owes
quantities; an order not in SAP yet stays ``backordered`` (the customer is told that, once)."""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete

from connectors.http import AuthError, PermanentError, TransientError
from flows.crms import adapter as get_source
from flows.crms import crm_clients, write_back_once, write_back_payload
from flows.sap_order_posting.due import confirmation_key, pending
from hub import quarantine
from hub.bulk import upsert
from hub.db import count_in_chunks, pairs_in, utcnow
from hub.keys import record_key
from hub.ledger import Delivered, Ledger, LedgerBusy, LedgerConflict, SendResult
from hub.lifecycle import OrderState as S
from hub.repositories.orders import requeued_orders, set_status
from hub.schema import order_confirmations
from transforms.confirmation import Confirmation

log = logging.getLogger(__name__)


MAIL_TARGET = "mail.order_confirmation"


# Quarantine stages of confirmations a channel refuses for good (a deleted CRM record, a refused
# address). The other channel still goes out; ``hub quarantine requeue --stage …`` sends it again.
CRM_STAGE = "crm_confirmation"


MAIL_STAGE = "confirmation_mail"


# The order's state once the customer has a confirmation (orders in SAP; see module docstring).
STATE_AFTER = {"confirmed": S.CONFIRMED, "partially_confirmed": S.PARTIAL, "backordered": S.PARTIAL}


def crm_target(source: str) -> str:
    return f"crm.{source}.confirmation"


def confirm(
    engine: Engine,
    ledger: Ledger,
    run_id: str,
    *,
    crm_clients: Mapping[str, Any],
    send_mail: Callable[[Confirmation, str], str] | None,
    default_language: str,
) -> dict[str, int]:
    """Send every pending confirmation to its CRM and by e-mail; returns counts.

    ``send_mail(confirmation, key)`` renders and sends one e-mail and returns its Message-ID
    (``None``: e-mail is off). A channel that fails transiently leaves the confirmation pending: the
    ledger retries it on the next run, and the channel that succeeded is not repeated. A channel
    that refuses for good is quarantined and counts as done. Orders of a CRM without a client here
    (disabled since) wait.
    """
    with engine.begin() as conn:
        _release_requeued(conn)
        todo = [c for c in pending(conn, default_language) if c.source in crm_clients]
    counts: Counter[str] = Counter()
    crm_done = _write_back(ledger, todo, crm_clients, counts)
    for c in todo:
        key = confirmation_key(c)
        mailed = _mail(ledger, c, key, send_mail, counts)
        if crm_done.get((c.source, c.crm_order_id)) and mailed:
            with engine.begin() as conn:
                _record(conn, c, key, run_id)
            counts[c.status] += 1
    counts["pending"] = len(todo)
    return {k: counts.get(k, 0) for k in _COUNTS}


_COUNTS = (
    "pending",
    "confirmed",
    "partially_confirmed",
    "backordered",
    "crm_sent",
    "crm_failed",
    "mail_sent",
    "mail_failed",
    "no_email",
)


def _write_back(
    ledger: Ledger, todo: Sequence[Confirmation], clients: Mapping[str, Any], counts: Counter[str]
) -> dict[tuple[str, str], bool]:
    """Per order: whether the CRM channel is done (written back, or refused for good and quarantined)."""
    done: dict[tuple[str, str], bool] = {}
    by_source: dict[str, list[Confirmation]] = defaultdict(list)
    for c in todo:
        by_source[c.source].append(c)
    for source_name, group in by_source.items():
        source = get_source(source_name)
        client = clients[source_name]
        updates = [(confirmation_key(c), write_back_payload(source, c)) for c in group]
        results = write_back_once(ledger, crm_target(source_name), source, client, updates)
        refused = []
        for c, result in zip(group, results, strict=True):
            if isinstance(result, AuthError):
                raise result  # the CRM Connection is wrong: a task failure for ops, not a refusal per order
            sent = isinstance(result, SendResult)
            counts["crm_sent" if sent else "crm_failed"] += 1
            if not sent:
                log.warning("%s: confirmation of %s not written back: %s", source_name, c.order_number, result)
            if _permanent(result):
                refused.append(_quarantined(CRM_STAGE, c, result, getattr(result, "field", None) or "crm_order_id"))
            done[(c.source, c.crm_order_id)] = sent or _permanent(result)
        with ledger.engine.begin() as conn:
            quarantine.add(conn, refused)
    return done


def _permanent(result: object) -> bool:
    return isinstance(result, PermanentError | LedgerConflict)


def _quarantined(stage: str, c: Confirmation, exc: object, field: str) -> quarantine.QuarantineRecord:
    return quarantine.QuarantineRecord(
        stage,
        c.source,
        record_key(c.source, c.crm_order_id),
        type(exc).__name__,
        f"order {c.order_number}: confirmation refused for good ({stage}): {exc}",
        {"order_number": c.order_number, "customer_number": c.customer_number, "confirmation": confirmation_key(c)},
        field=field,
    )


def _release_requeued(conn: Connection) -> None:
    """Confirmations operations requeued after fixing the CRM record or the address: forget that the
    customer was told, so the next step sends again (the ledger repeats only the failed channel)."""
    keys = requeued_orders(conn, [CRM_STAGE, MAIL_STAGE])
    if not keys:
        return
    count_in_chunks(
        conn,
        keys,
        lambda chunk: delete(order_confirmations).where(
            pairs_in(order_confirmations.c.source, order_confirmations.c.crm_order_id, chunk)
        ),
    )
    set_status(conn, keys, S.POSTED, only_from=(S.CONFIRMED, S.PARTIAL))
    for source, crm_order_id in keys:
        quarantine.resolve(conn, source, [record_key(source, crm_order_id)], [CRM_STAGE, MAIL_STAGE])


def _mail(
    ledger: Ledger,
    c: Confirmation,
    key: str,
    send_mail: Callable[[Confirmation, str], str] | None,
    counts: Counter[str],
) -> bool:
    if send_mail is None or not c.email:
        counts["no_email"] += 1
        return True
    try:
        ledger.send(
            MAIL_TARGET,
            key,
            # Not the address: a corrected address must not make the retry a ledger conflict.
            {"confirmation": key, "language": c.language},
            lambda _payload: Delivered(ref=send_mail(c, key)),
        )
    except AuthError:
        raise  # the smtp_default Connection is wrong: a task failure for ops, not a per-order problem
    except (PermanentError, LedgerConflict) as exc:
        # The customer's mail server refuses the address, or a header built from CRM data cannot be
        # sent: retrying cannot help. The CRM still gets the confirmation; the e-mail waits in the
        # quarantine, with the field to correct.
        with ledger.engine.begin() as conn:
            quarantine.add(conn, [_quarantined(MAIL_STAGE, c, exc, getattr(exc, "field", None) or "email")])
        counts["mail_failed"] += 1
        return True
    except (TransientError, LedgerBusy) as exc:  # the mail server is down or another try is on it: next run
        log.warning("order %s: confirmation e-mail not sent: %s", c.order_number, exc)
        counts["mail_failed"] += 1
        return False
    counts["mail_sent"] += 1
    return True


def _record(conn: Connection, c: Confirmation, key: str, run_id: str) -> None:
    upsert(
        conn,
        order_confirmations,
        [
            {
                "source": c.source,
                "crm_order_id": c.crm_order_id,
                "confirmation_key": key,
                "status": c.status,
                "run_id": run_id,
                "updated_at": utcnow(),
            }
        ],
        key=("source", "crm_order_id"),
    )
    if c.sap_order:
        set_status(conn, [(c.source, c.crm_order_id)], STATE_AFTER[c.status], run_id, only_from=(S.POSTED, S.PARTIAL))


def mail_sender(mailer: Any, sender: str, sent_at: datetime) -> Callable[[Confirmation, str], str]:
    """``send_mail`` for :func:`confirm`: the customer's template, the run's time, a stable Message-ID."""
    from connectors.mail import check_header_values
    from transforms.confirmation_mail import render_confirmation

    def send(c: Confirmation, key: str) -> str:
        # CRM data that cannot go into a header (a CR/LF in the order number) is a refusal of this
        # order, with the field to fix, not an error of the e-mail library on every run.
        check_header_values({"order_number": c.order_number, "email": c.email, "customer_name": c.customer_name})
        return mailer.send(render_confirmation(c, sender=sender, sent_at=sent_at, idempotency_key=key))

    return send


def run(engine: Engine, ledger: Ledger, run_id: str, sent_at: datetime) -> dict[str, int]:
    """:func:`confirm` with what a deployment has: a client per enabled CRM from its Connection, and
    e-mail through ``smtp_default`` (no Connection: CRM write-backs only)."""
    from connectors.mail import Mailer, SmtpConfig
    from flows.connections import get_connection
    from hub.settings import get_settings

    settings = get_settings()
    with crm_clients(engine, settings) as clients:
        smtp_conn = get_connection("smtp_default", required=False)
        if smtp_conn is None:
            log.warning("no smtp_default Connection: confirmations go to the CRMs only, no e-mail")
        smtp = SmtpConfig.from_connection(smtp_conn) if smtp_conn else None
        return confirm(
            engine,
            ledger,
            run_id,
            crm_clients=clients,
            send_mail=mail_sender(Mailer(smtp), smtp.from_address, sent_at) if smtp else None,
            default_language=settings.hub.language,
        )
