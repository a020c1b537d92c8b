"""The CRMs as the flows use them: the enabled adapters of the registry (``connectors.crm``), and
what the hub works out for an adapter (default tax rate, a confirmation's texts and business day).

No CRM is named here: each is one adapter file in ``connectors/crm/``.
"""

from __future__ import annotations

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
