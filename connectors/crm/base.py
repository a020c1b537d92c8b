"""What a CRM adapter declares, once, for its CRM (``connectors/crm/<name>.py``).

The hub's flows know no CRM by name: they ask the registry (``connectors.crm``) for the enabled
adapters and use only what is declared here. An adapter holds its CRM's wire knowledge: how to reach
it (client factory, Connection id), what it reads (resources with key, cursor and paginator), how a
sales order becomes the hub's raw lines (``transforms.crm_orders.RAW_COLUMNS``), how a confirmation
is written back and read back, and its defaults. The generic logic (canonical mapping, review,
confirmation texts, the business day) stays in ``transforms/`` and reaches an adapter as values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from connectors.base import ConnectionLike, Resource, TokenStore, WriteResult
from hub.values import parse_time

# A CRM's name is the ``source`` of its orders everywhere (record keys, hub columns of 16 characters).
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,15}$")


class CrmClient(Protocol):
    """What the flows call on a CRM client (the adapter's own functions may call more)."""

    def iter_sales_orders(self, modified_from: datetime, modified_to: datetime) -> Iterator[dict[str, Any]]: ...
    def list_accounts(self, *, modified_since: datetime | None = None) -> Iterator[dict[str, Any]]: ...
    def list_products(self, *, modified_since: datetime | None = None) -> Iterator[dict[str, Any]]: ...
    def close(self) -> None: ...


class ConfirmationLike(Protocol):
    """The confirmation a write-back maps (``transforms.confirmation.Confirmation``)."""

    crm_order_id: str
    status: str  # confirmed | partially_confirmed | backordered
    sap_order: str | None
    confirmed_date: date | None
    lines: Sequence[Any]  # line_no, crm_line_id, material, confirmed_qty, confirmed_date, backordered_qty, unit


class ShipmentLike(Protocol):
    """What the CRM is told about an order's shipment (``flows.shipment_notices``)."""

    crm_order_id: str
    # partially_shipped | shipped | delivered | cancelled | cancel_failed
    status: str
    carriers: str  # the carriers' names, "; "-joined
    tracking: str  # the tracking numbers, "; "-joined ("" for a customer pickup)
    lines: Sequence[Any]  # crm_line_id, shipped_qty, tracking


class ReminderLike(Protocol):
    """A reorder reminder for one customer and part (the planning flow's), as a CRM adapter writes it."""

    key: str  # ≤ 100 characters, unique per customer, part and cycle: the CRM record is looked up by it
    customer_crm_id: str  # the account's id in that CRM
    customer_name: str
    material: str
    material_name: str
    interval_days: int  # the customer's usual interval between purchases of the part
    last_purchase: date
    typical_qty: Decimal
    due_date: date  # when the customer is expected to buy again
    unit: str
    language: str  # "zh" | "en": the language the reminder's text is written in


@dataclass(frozen=True)
class Rendering:
    """What the hub works out for one write-back, so an adapter only puts it into its fields.
    ``today`` (the business day of the run) tells a reminder whether it is overdue already."""

    summary: Callable[[str], str]  # language ("en", "zh") → the confirmation's summary for people
    day_start: Callable[[date], datetime]  # a business day → the instant it starts (the CRM's zone)
    today: date | None = None


@dataclass(frozen=True)
class Resources:
    """The CRM objects the hub reads: sales orders and their lines, accounts, products."""

    orders: Resource
    lines: Resource
    accounts: Resource
    products: Resource


@dataclass(frozen=True)
class MasterFields:
    """Where an account carries the ERP customer number (a product: the material code), and its name."""

    number: str
    name: str


@dataclass(frozen=True)
class Defaults:
    """``currency``: of an order that names none; ``tax_country``: whose VAT rate (settings
    ``tax.rates``) applies to lines that carry none (None: 0); ``timezone``: the zone the CRM shows
    dates in (None: the hub's business zone, ``hub.timezone``)."""

    currency: str | None = None
    tax_country: str | None = None
    timezone: str | None = None


@dataclass(frozen=True)
class CrmAdapter:
    name: str
    conn_id: str  # the Airflow Connection (AIRFLOW_CONN_<CONN_ID>)
    make_client: Callable[[ConnectionLike, TokenStore | None], CrmClient]
    resources: Resources
    account_fields: MasterFields
    product_fields: MasterFields
    raw_lines: Callable[[Mapping[str, Any]], list[dict[str, Any]]]  # a sales order → raw lines
    confirmation_update: Callable[[ConfirmationLike, Rendering], dict[str, Any]]  # → write-back payload
    shipment_update: Callable[[ShipmentLike, Rendering], dict[str, Any]]  # → write-back payload
    # Writes payloads back: client, payloads → one WriteResult per payload, in order.
    write_back: Callable[[Any, list[dict[str, Any]]], list[WriteResult]]
    # Reads the records back: client, payloads → per payload, whether the CRM already holds it (the
    # ledger's lookup, which makes the write-back exactly once).
    holds: Callable[[Any, list[dict[str, Any]]], list[bool]]
    defaults: Defaults = Defaults()
    description: str = ""
    # Resolves, at pull time, lookups the CRM returns only as ids (Zoho: a line's price-book currency).
    enrich: Callable[[Any, list[dict[str, Any]]], None] = lambda _client, _orders: None
    # Reorder reminders (optional: a CRM without them is simply skipped by the reminder step).
    # The reminder → the CRM's create payload (a Zoho Task, a Fxiaoke sales record), carrying its key.
    reminder_payload: Callable[[ReminderLike, Rendering], dict[str, Any]] | None = None
    # client, keys → {key: record id} of the reminders the CRM holds already (looked up before creating).
    find_reminders: Callable[[Any, Sequence[str]], dict[str, str]] | None = None
    # client, payloads → one WriteResult per payload, in order (record_id: the new record's id).
    write_reminders: Callable[[Any, list[dict[str, Any]]], list[WriteResult]] | None = None

    def __post_init__(self) -> None:
        if not NAME_PATTERN.match(self.name):
            raise ValueError(f"CRM adapter name {self.name!r}: lower case letters, digits and _, at most 16")
        if not self.resources.orders.cursor:
            raise ValueError(f"CRM adapter {self.name}: the orders resource needs a cursor field")
        reminders = (self.reminder_payload, self.find_reminders, self.write_reminders)
        if any(f is None for f in reminders) and any(f is not None for f in reminders):
            raise ValueError(
                f"CRM adapter {self.name}: declare reminder_payload, find_reminders and write_reminders together"
            )

    # -- what the declarations give every flow ---------------------------------------------------
    @property
    def supports_reminders(self) -> bool:
        """Whether the adapter declares all three reminder functions."""
        return None not in (self.reminder_payload, self.find_reminders, self.write_reminders)

    def order_id(self, order: Mapping[str, Any]) -> str:
        return str(order[self.resources.orders.primary_key])

    def modified_at(self, order: Mapping[str, Any]) -> datetime | None:
        return parse_time(order.get(self.resources.orders.cursor or ""))

    def write_id(self, payload: Mapping[str, Any]) -> str:
        """The CRM record a write-back payload updates."""
        return str(payload.get(self.resources.orders.primary_key))

    def account(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """An account as the hub's customer mapping row."""
        return _master(record, self.resources.accounts, self.account_fields, "crm_account_id", "customer_number")

    def product(self, record: Mapping[str, Any]) -> dict[str, Any]:
        """A product as the hub's material mapping row."""
        return _master(record, self.resources.products, self.product_fields, "crm_product_id", "material")


def _master(
    record: Mapping[str, Any], resource: Resource, fields: MasterFields, id_column: str, number_column: str
) -> dict[str, Any]:
    return {
        id_column: str(record[resource.primary_key]),
        number_column: record.get(fields.number) or None,
        "name": record.get(fields.name),
        "crm_modified_at": parse_time(record.get(resource.cursor or "")),
    }


# -- read-back: does a CRM record already hold a write-back? ------------------------------------------
def record_holds(
    update: Mapping[str, Any],
    record: Mapping[str, Any] | None,
    *,
    key: str,
    rows_field: str,
    wanted_rows: Sequence[Mapping[str, Any]],
    rows: Sequence[Mapping[str, Any]],
) -> bool:
    """Whether ``record`` (as read back) carries every header value of ``update`` except ``key`` and
    ``rows_field``, and each of ``wanted_rows`` is one of ``rows`` (matched on ``key``) with its values."""
    if record is None:
        return False
    heads_match = all(same(v, record.get(k)) for k, v in update.items() if k not in (key, rows_field))
    by_key = {str(r.get(key)): r for r in rows}
    for want in wanted_rows:
        row = by_key.get(str(want[key]))
        if row is None or not all(same(v, row.get(k)) for k, v in want.items() if k != key):
            return False
    return heads_match


def same(written: Any, stored: Any) -> bool:
    return _plain(written) == _plain(stored)


def _plain(value: Any) -> Any:
    """One form for a value as the hub writes it and as a CRM returns it: numbers as Decimal (the
    CRM may answer 5, 5.0 or "5"), instants as epoch milliseconds (Fxiaoke dates), empty as None."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float | Decimal):
        return Decimal(str(value)).normalize()
    if isinstance(value, str):
        try:
            return Decimal(value).normalize()
        except InvalidOperation:
            return value
    return value
