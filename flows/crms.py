"""The CRMs as the flows use them: the enabled adapters of the registry (``connectors.crm``), and
what the hub works out for an adapter (default tax rate, a confirmation's texts and business day).

No CRM is named here: each is one adapter file in ``connectors/crm/``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from connectors import crm
from connectors.crm import CrmAdapter, Rendering
from transforms.business_day import day_start
from transforms.crm_confirmation import summary


def adapter(name: str) -> CrmAdapter:
    return crm.get(name)


def enabled(settings: Any = None) -> list[CrmAdapter]:
    """The adapters of ``crm.enabled``, checked against the registry (SettingsError otherwise)."""
    return crm.enabled(settings)


def enabled_names(settings: Any = None) -> list[str]:
    return [a.name for a in enabled(settings)]


def default_tax_rate(source: CrmAdapter, settings: Any) -> Decimal:
    """The VAT rate for lines whose CRM sends none: the adapter's tax country in ``tax.rates``, else 0."""
    country = source.defaults.tax_country
    return settings.tax.rates.get(country, Decimal(0)) if country else Decimal(0)


def write_back_payload(source: CrmAdapter, confirmation: Any, zone: str | None = None) -> dict[str, Any]:
    """The adapter's write-back payload of ``confirmation``, with the hub's texts and business day
    (in the adapter's zone, else ``zone``, else the settings' ``hub.timezone``)."""
    if source.defaults.timezone:
        zone = source.defaults.timezone
    elif zone is None:
        from hub.settings import get_settings

        zone = get_settings().hub.timezone
    rendering = Rendering(
        summary=lambda language: summary(confirmation, language),
        day_start=lambda day: day_start(day, zone),
    )
    return source.confirmation_update(confirmation, rendering)


def write_outcome(system: str, result: Any) -> Any:
    """A CRM's per-record write result as the ledger takes it: ``Delivered``, or the error to record
    (transient ones are retried on the next run, the others are refusals)."""
    from connectors.http import BusinessError, TransientError
    from hub.ledger import Delivered

    if result.ok:
        return Delivered(ref=result.record_id)
    error = TransientError if result.retryable else BusinessError
    return error(system, f"record {result.record_id}: {result.field or ''} {result.message}".strip(), code=result.code)


def write_back_once(ledger: Any, target: str, source: CrmAdapter, client: Any, updates: list[tuple[str, Any]]) -> list:
    """Write ``updates`` (ledger key, payload) back to the CRM through the ledger, exactly once: a
    retried entry's record is read back first (``holds``), so what a killed try wrote is not written
    again. Per update the ``SendResult`` or the connector error (transient: the next run retries)."""
    from connectors.http import ConnectorError
    from hub.ledger import Delivered

    return ledger.send_many(
        target,
        updates,
        lambda payloads: [write_outcome(source.name, r) for r in source.write_back(client, payloads)],
        lambda payloads: [
            Delivered(ref=source.write_id(p)) if held else None
            for p, held in zip(payloads, source.holds(client, payloads), strict=True)
        ],
        expected=(ConnectorError,),
    )


def write_back_rendered(source: CrmAdapter, update: Any, summary_of: Any, zone: str | None = None) -> dict[str, Any]:
    """The adapter's shipment write-back of ``update``, with the hub's texts (``summary_of(update,
    language)``) and business day, as :func:`write_back_payload` does for confirmations."""
    if source.defaults.timezone:
        zone = source.defaults.timezone
    elif zone is None:
        from hub.settings import get_settings

        zone = get_settings().hub.timezone
    rendering = Rendering(
        summary=lambda language: summary_of(update, language), day_start=lambda day: day_start(day, zone)
    )
    return source.shipment_update(update, rendering)


@contextmanager
def crm_clients(engine: Any, settings: Any = None) -> Iterator[dict[str, Any]]:
    """A client per enabled CRM, from its Airflow Connection (tokens shared through the hub's token
    cache), closed on leaving the ``with`` block."""
    from flows.connections import get_connection
    from hub.token_cache import token_store

    clients: dict[str, Any] = {}
    try:
        for source in enabled(settings):
            clients[source.name] = source.make_client(get_connection(source.conn_id), token_store(engine))
        yield clients
    finally:
        for client in clients.values():
            client.close()
