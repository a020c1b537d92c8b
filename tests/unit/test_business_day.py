"""One business day, from the settings (``hub.timezone``), for price validity, the SAP order date and
the date written back to Fxiaoke (issue 8 point 11).

The order is placed at 23:30 UTC on 9 November: 07:30 on the 10th in Shanghai and in Berlin
(00:30), 18:30 on the 9th in New York. Each of the three paths is driven through the hub's own code
with the zone set the way an operator sets it (``HUB__HUB__TIMEZONE``).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, insert
from sqlalchemy.engine import Engine

from connectors.base import datetime_to_ms, ms_to_datetime
from flows import sap_order_posting
from flows.crm_order_sync import review as order_review
from flows.crms import adapter, write_back_payload
from hub.schema import customers, materials, metadata, order_lines, orders, price_list
from hub.settings import get_settings
from transforms.business_day import business_date, day_start
from transforms.confirmation import Confirmation, ConfirmedLine

ORDER_TIME = datetime(2026, 11, 9, 23, 30, tzinfo=UTC)
# Two price-list rows: the old price through the 9th, the new one from the 10th.
PRICE_ROWS = [
    (date(2026, 11, 1), date(2026, 11, 9), Decimal("80.00")),
    (date(2026, 11, 10), date(2026, 11, 30), Decimal("100.00")),
]
ZONES = [
    ("Asia/Shanghai", date(2026, 11, 10)),
    ("Europe/Berlin", date(2026, 11, 10)),
    ("America/New_York", date(2026, 11, 9)),
    ("UTC", date(2026, 11, 9)),
]


class _PayloadBuilt(Exception):
    """Stops ``post`` once the SAP payload is built: nothing is sent."""


@pytest.fixture
def engine() -> Iterator[Engine]:
    engine = create_engine("sqlite://")
    metadata.create_all(engine)
    now = datetime(2026, 11, 9, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(
            insert(customers),
            [
                {
                    "customer_number": "C1",
                    "name": "上海汽配",
                    "currency": "CNY",
                    "credit_limit": Decimal("1000000"),
                    "blocked": False,
                    "updated_at": now,
                }
            ],
        )
        conn.execute(
            insert(materials),
            [
                {
                    "material": "SP-1",
                    "base_unit": "PC",
                    "moq": Decimal(1),
                    "pack_size": Decimal(1),
                    "active": True,
                    "updated_at": now,
                }
            ],
        )
        conn.execute(
            insert(price_list),
            [
                {"material": "SP-1", "currency": "CNY", "valid_from": f, "valid_to": t, "price": p, "updated_at": now}
                for f, t, p in PRICE_ROWS
            ],
        )
    yield engine
    engine.dispose()


@pytest.fixture
def set_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    def use(zone: str) -> None:
        monkeypatch.setenv("HUB__HUB__TIMEZONE", zone)
        get_settings.cache_clear()
        assert get_settings().hub.timezone == zone

    yield use
    get_settings.cache_clear()


def _order(price: Decimal) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    order = {
        "source": "fxiaoke",
        "crm_order_id": "o1",
        "order_number": "20261110-000001",
        "customer_number": "C1",
        "currency": "CNY",
        "order_time": ORDER_TIME,
        "gross_amount": price * 113 / 100,
    }
    line = {"line_no": 1, "material": "SP-1", "quantity": Decimal(1), "unit_price": price, "discount": Decimal(0)}
    return order, [line]


def price_validity(engine: Engine) -> tuple[date, date]:
    """The validity of the price-list row the order review prices the order with: the one row whose
    price it accepts (the other deviates by 20-25 %, beyond a zero tolerance)."""
    accepted = []
    for valid_from, valid_to, price in PRICE_ROWS:
        with engine.connect() as conn:
            if not order_review.review_batch(conn, {"fxiaoke:o1": _order(price)}, Decimal("0")):
                accepted.append((valid_from, valid_to))
    assert len(accepted) == 1, f"exactly one price-list row must be valid on the order's day, got {accepted}"
    return accepted[0]


def sap_order_date(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> date:
    """``PurchaseOrderDate`` of the order as ``sap_order_posting.post`` builds it (stopped before sending)."""
    import connectors.sap_s4

    order, [line] = _order(Decimal("100.00"))
    with engine.begin() as conn:
        conn.execute(
            insert(orders),
            [
                {
                    **{k: order[k] for k in ("source", "crm_order_id", "order_number", "customer_number", "currency")},
                    "order_time": ORDER_TIME,
                    "crm_modified_at": ORDER_TIME,
                    "net_amount": Decimal("100.00"),
                    "tax_amount": Decimal("13.00"),
                    "gross_amount": Decimal("113.00"),
                    "line_count": 1,
                    "status": "accepted",
                    "content_hash": "0" * 64,
                    "updated_at": ORDER_TIME,
                }
            ],
        )
        conn.execute(
            insert(order_lines),
            [
                {
                    "source": "fxiaoke",
                    "crm_order_id": "o1",
                    "line_no": 1,
                    "material": "SP-1",
                    "quantity": Decimal(1),
                    "unit": "PC",
                    "unit_price": Decimal("100.00"),
                    "discount": Decimal(0),
                    "net_amount": Decimal("100.00"),
                    "tax_rate": Decimal("13"),
                    "tax_amount": Decimal("13.00"),
                    "currency": "CNY",
                    "plant": "1010",
                }
            ],
        )
    built: dict[str, Any] = {}

    def capture(**kwargs: Any) -> dict[str, Any]:
        built.update(kwargs)
        raise _PayloadBuilt

    monkeypatch.setattr(connectors.sap_s4, "sales_order_payload", capture)
    area = {"sales_org": "1010", "channel": "10", "division": "00", "priority": "02", "blocked": False}
    planned = {"sales_areas": {"C1": area}, "sequence": [["fxiaoke", "o1"]]}
    with pytest.raises(_PayloadBuilt):
        sap_order_posting.post(engine, None, None, "run-1", planned, default_plant="1010")
    return built["purchase_order_date"]


def fxiaoke_confirmation_date(day: date, zone: str) -> date:
    """The date Fxiaoke shows for the hub's write-back of a delivery confirmed for ``day``: the wire
    carries epoch milliseconds, read back as a day in the tenant's (= the business) zone."""
    confirmation = Confirmation(
        source="fxiaoke",
        crm_order_id="o1",
        order_number="20261110-000001",
        customer_number="C1",
        customer_name=None,
        email=None,
        language="zh",
        sap_order="1000001",
        currency="CNY",
        net_amount=Decimal("100.00"),
        gross_amount=Decimal("113.00"),
        lines=(ConfirmedLine(1, "SP-1", None, Decimal(1), Decimal(1), "PC", day, "L1"),),
    )
    update = write_back_payload(adapter("fxiaoke"), confirmation)
    wire = datetime_to_ms(update["confirmed_delivery_date__c"])
    return business_date(ms_to_datetime(wire), zone)


@pytest.mark.parametrize(("zone", "day"), ZONES)
def test_price_validity_sap_order_date_and_fxiaoke_date_agree_on_the_configured_business_day(
    zone: str, day: date, engine: Engine, set_zone: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    set_zone(zone)
    assert business_date(ORDER_TIME, zone) == day
    valid_from, valid_to = price_validity(engine)
    assert valid_from <= day <= valid_to, "the price list is read on another day"
    sap_date = sap_order_date(engine, monkeypatch)
    assert sap_date == day
    # SAP confirms delivery on the order's own day (stock on hand): Fxiaoke must show that same day.
    assert fxiaoke_confirmation_date(sap_date, zone) == day


def test_the_business_day_changes_with_the_configured_zone() -> None:
    days = {zone: business_date(ORDER_TIME, zone) for zone, _ in ZONES}
    assert days == dict(ZONES)
    # A naive instant is UTC, as SQLite returns the hub's UTC timestamps.
    assert business_date(ORDER_TIME.replace(tzinfo=None), "Asia/Shanghai") == date(2026, 11, 10)


@pytest.mark.parametrize("zone", [zone for zone, _ in ZONES])
def test_a_business_day_starts_at_midnight_in_its_zone(zone: str) -> None:
    for day in (date(2026, 3, 29), date(2026, 11, 10), date(2026, 12, 31)):
        start = day_start(day, zone)
        assert (start.hour, start.minute) == (0, 0)
        assert business_date(start, zone) == day
        assert business_date(start.astimezone(UTC), zone) == day


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "Europe/Berlin", "America/New_York"])
def test_a_fxiaoke_date_reads_as_the_day_of_its_midnight_in_the_business_zone(set_zone: Any, zone: str) -> None:
    """Fxiaoke sends a DATE as the epoch milliseconds of midnight in the tenant's zone: 10 November at
    midnight in Shanghai is 9 November 16:00 UTC, and must read as 10 November, not 9."""
    from connectors.crm.fxiaoke import raw_lines

    set_zone(zone)
    midnight = datetime.combine(date(2026, 11, 10), datetime.min.time(), ZoneInfo(zone))
    order = {"_id": "o1", "name": "20261110-000001", "delivery_date": int(midnight.timestamp() * 1000)}
    (line,) = raw_lines(order)
    assert line["requested_date"] == date(2026, 11, 10)
