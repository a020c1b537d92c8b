"""The CRMs the hub pulls from, each declared once: its Connection, client, and record shapes.

Adding a CRM means one ``CrmSource`` entry: how to build its client from the Airflow Connection,
how to read an order's id and modified time, how to flatten an order into raw lines, and how to
read the customer number and material code its accounts and products carry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from transforms import crm_confirmation, crm_orders


class CrmClient(Protocol):
    def iter_sales_orders(self, modified_from: datetime, modified_to: datetime) -> Iterator[dict[str, Any]]: ...
    def list_accounts(self, *, modified_since: datetime | None = None) -> Iterator[dict[str, Any]]: ...
    def list_products(self, *, modified_since: datetime | None = None) -> Iterator[dict[str, Any]]: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class CrmSource:
    name: str
    conn_id: str
    make_client: Callable[[Any, Any], CrmClient]  # Airflow Connection, shared token store → client
    order_id: Callable[[Mapping[str, Any]], str]
    modified_at: Callable[[Mapping[str, Any]], datetime | None]
    raw_lines: Callable[[Mapping[str, Any]], list[dict[str, Any]]]
    account: Callable[[Mapping[str, Any]], dict[str, Any]]  # → crm_account_id, customer_number, name
    product: Callable[[Mapping[str, Any]], dict[str, Any]]  # → crm_product_id, material, name
    # Writes confirmations back: client, update payloads → one WriteResult per payload, in order.
    write_back: Callable[[Any, list[dict[str, Any]]], list[Any]]
    confirmation_update: Callable[[Any], dict[str, Any]]  # transforms.confirmation.Confirmation → payload
    # Reads the records back: client, update payloads → per payload, whether the CRM already holds it
    # (the ledger's lookup, which makes the write-back exactly once).
    holds: Callable[[Any, list[dict[str, Any]]], list[bool]]
    # Resolves, at pull time, lookups the CRM returns only as ids (Zoho: a line's price-book currency).
    enrich: Callable[[Any, list[dict[str, Any]]], None] = lambda _client, _orders: None


def _zoho_client(conn: Any, token_store: Any) -> CrmClient:
    from connectors.zoho_crm import ZohoConfig, ZohoCrmClient

    return ZohoCrmClient(ZohoConfig.from_connection(conn), token_store=token_store)


def _fxiaoke_client(conn: Any, token_store: Any) -> CrmClient:
    from connectors.fxiaoke import FxiaokeClient, FxiaokeConfig

    return FxiaokeClient(FxiaokeConfig.from_connection(conn), token_store=token_store)


def _business_zone() -> str:
    """``hub.timezone``: the zone of the business day (transforms/business_day.py)."""
    from hub.settings import get_settings

    return get_settings().hub.timezone


def _zoho_price_book_currency(client: Any, orders: list[dict[str, Any]]) -> None:
    """Mark each Zoho line with the currency of its price book: a line priced from a book in another
    currency than the order's is a currency mismatch the raw gate must see."""
    books = {str(b["id"]): b.get("Currency") for b in client.iter_records("Price_Books", ["id", "Currency"])}
    for order in orders:
        for item in order.get("Ordered_Items") or []:
            book = item.get("Price_Book_Name")
            if isinstance(book, Mapping) and books.get(str(book.get("id"))):
                item["$price_book_currency"] = books[str(book["id"])]


def _zoho_holds(client: Any, updates: list[dict[str, Any]]) -> list[bool]:
    return [crm_confirmation.zoho_holds(u, client.get_record("Sales_Orders", str(u["id"]))) for u in updates]


def _fxiaoke_holds(client: Any, updates: list[dict[str, Any]]) -> list[bool]:
    ids = [str(u["_id"]) for u in updates]
    records, lines = client.sales_orders_by_id(ids)
    return [
        crm_confirmation.fxiaoke_holds(u, records.get(i), lines.get(i, [])) for u, i in zip(updates, ids, strict=True)
    ]


SOURCES: dict[str, CrmSource] = {
    "zoho_crm": CrmSource(
        name="zoho_crm",
        conn_id="crm_zoho",
        make_client=_zoho_client,
        order_id=lambda o: str(o["id"]),
        modified_at=lambda o: crm_orders.parse_time(o.get("Modified_Time")),
        raw_lines=crm_orders.zoho_raw_lines,
        account=lambda a: {
            "crm_account_id": str(a["id"]),
            "customer_number": a.get("Account_Number") or None,
            "name": a.get("Account_Name"),
            "crm_modified_at": crm_orders.parse_time(a.get("Modified_Time")),
        },
        product=lambda p: {
            "crm_product_id": str(p["id"]),
            "material": p.get("Product_Code") or None,
            "name": p.get("Product_Name"),
            "crm_modified_at": crm_orders.parse_time(p.get("Modified_Time")),
        },
        write_back=lambda client, updates: client.update_sales_orders(updates),
        confirmation_update=crm_confirmation.zoho_update,
        holds=_zoho_holds,
        enrich=_zoho_price_book_currency,
    ),
    "fxiaoke": CrmSource(
        name="fxiaoke",
        conn_id="crm_fxiaoke",
        make_client=_fxiaoke_client,
        order_id=lambda o: str(o["_id"]),
        modified_at=lambda o: crm_orders.parse_time(o.get("last_modified_time")),
        raw_lines=crm_orders.fxiaoke_raw_lines,
        account=lambda a: {
            "crm_account_id": str(a["_id"]),
            "customer_number": a.get("account_no") or None,
            "name": a.get("name"),
            "crm_modified_at": crm_orders.parse_time(a.get("last_modified_time")),
        },
        product=lambda p: {
            "crm_product_id": str(p["_id"]),
            "material": p.get("product_code") or None,
            "name": p.get("name"),
            "crm_modified_at": crm_orders.parse_time(p.get("last_modified_time")),
        },
        write_back=lambda client, updates: client.update_objects("SalesOrderObj", updates),
        confirmation_update=lambda c: crm_confirmation.fxiaoke_update(c, _business_zone()),
        holds=_fxiaoke_holds,
    ),
}


def get_source(name: str) -> CrmSource:
    try:
        return SOURCES[name]
    except KeyError:
        raise ValueError(f"unknown CRM {name!r}; known: {sorted(SOURCES)}") from None
