"""shipment_notices, step by step, each with what a deployment has (Connections, settings):

1. ``cancel``: CRM cancellations of orders SAP holds, stopped in the warehouse and SAP (``cancelling``);
2. ``discover``: new SAP deliveries of 3PL plants, gated (``sending``);
3. ``send``: ``stockout.create`` to the warehouse (``sending``);
4. ``confirm``: the warehouse's pushed confirmations, gated and applied (``confirming``);
5. ``issue``: SAP goods issue of fully confirmed deliveries (``confirming``);
6. ``notify``: shipment e-mails, the CRM's shipping status, X12 856 files (``notifying``, ``edi``);
7. ``track``: the carrier's routes until signed for (``tracking``).

A delivery moves ``new`` → ``sent`` → ``shipped`` (final confirm) → ``issued`` (goods issue in SAP),
or ``held`` (quarantined, requeue to resume) or ``cancelled``; its order ``confirmed``/``partial`` →
``partly_shipped`` / ``shipped`` → ``delivered``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine

from hub.ledger import Ledger


def _settings() -> Any:
    from hub.settings import get_settings

    return get_settings()


def cancel(engine: Engine, ledger: Ledger, run_id: str) -> dict[str, int]:
    from flows.connections import qimen_client, sap_client
    from flows.crms import crm_clients
    from flows.shipment_notices.cancelling import cancel_orders

    logistics = _settings().logistics
    with qimen_client() as qimen, sap_client() as sap, crm_clients(engine) as clients:
        return cancel_orders(
            engine,
            qimen,
            sap,
            ledger,
            clients,
            run_id,
            owner_code=logistics.owner_code,
            rejection_reason=logistics.rejection_reason,
        )


def discover(engine: Engine, run_id: str, run_time: datetime) -> dict[str, int]:
    from zoneinfo import ZoneInfo

    from flows.connections import sap_client
    from flows.shipment_notices.sending import discover as discover_step

    settings = _settings()
    business_day = run_time.astimezone(ZoneInfo(settings.hub.timezone)).date()
    with sap_client() as sap:
        return discover_step(
            engine, sap, run_id, business_day, settings.logistics.warehouses, settings.logistics.reread_days
        )


def send(engine: Engine, ledger: Ledger, run_id: str, run_time: datetime) -> dict[str, int]:
    from flows.connections import qimen_client
    from flows.shipment_notices.sending import send as send_step
    from flows.shipment_notices.stages import release_requeued

    with engine.begin() as conn:
        release_requeued(conn)
    with qimen_client() as qimen:
        return send_step(engine, qimen, ledger, run_id, _settings().logistics.owner_code, run_time)


def confirm(engine: Engine, run_id: str) -> dict[str, int]:
    from flows.shipment_notices.confirming import apply_confirms

    return apply_confirms(engine, run_id)


def issue(engine: Engine, ledger: Ledger, run_id: str) -> dict[str, int]:
    from flows.connections import sap_client
    from flows.shipment_notices.confirming import issue as issue_step

    with sap_client() as sap:
        return issue_step(engine, sap, ledger, run_id)


def notify(engine: Engine, ledger: Ledger, run_id: str, run_time: datetime) -> dict[str, int]:
    from connectors.mail import Mailer, SmtpConfig
    from flows.connections import get_connection
    from flows.crms import crm_clients
    from flows.shipment_notices.edi import render_asn
    from flows.shipment_notices.notifying import mail_shipments, tell_crms, write_asns

    settings = _settings()
    logistics = settings.logistics
    smtp_conn = get_connection("smtp_default", required=False)
    send_mail = None
    if smtp_conn is not None:
        from connectors.mail import check_header_values
        from transforms.shipment_mail import render_shipment

        smtp = SmtpConfig.from_connection(smtp_conn)
        mailer = Mailer(smtp)

        def send_mail(notice: Any) -> str:
            check_header_values({"order_number": notice.order_number, "email": notice.email or ""})
            return mailer.send(render_shipment(notice, sender=smtp.from_address, sent_at=run_time))

    counts = mail_shipments(engine, ledger, send_mail, logistics.owner_code, run_time)
    with crm_clients(engine, settings) as clients:
        counts |= tell_crms(engine, ledger, clients, run_id)
    counts |= write_asns(
        engine,
        ledger,
        logistics.edi_customers,
        settings.asn_dir,
        lambda conn, number: render_asn(
            conn, number, sender_id=logistics.edi_sender_id, company_prefix=logistics.gs1_company_prefix
        ),
    )
    return counts


def track(engine: Engine, run_id: str) -> dict[str, int]:
    from flows.connections import sf_client
    from flows.shipment_notices.tracking import track as track_step

    sf = sf_client()
    try:
        return track_step(engine, sf, run_id)
    finally:
        if sf is not None:
            sf.close()


__all__ = ["cancel", "confirm", "discover", "issue", "notify", "send", "track"]
