"""Frames for the quality tests: sound batches that each test then breaks on purpose.

Imported by the test modules of this folder (pytest puts the folder on ``sys.path``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd


def raw_line(order: int, line: int, source: str = "zoho_crm", **changes: Any) -> dict[str, Any]:
    """One sound raw CRM order line, as the frame builder of crm_order_sync hands it to the gate."""
    number = f"SO-{order:04d}"
    row = {
        "record_key": f"{source}:{number}",
        "source": source,
        "crm_order_id": f"{9_000_000 + order}",
        "order_number": number,
        "crm_account_id": f"ACC-{order % 7}",
        "currency": "CNY",
        "order_time": pd.Timestamp("2024-03-01T08:00:00Z") + pd.Timedelta(minutes=order),
        "modified_at": pd.Timestamp("2024-03-01T09:00:00Z") + pd.Timedelta(minutes=order),
        "line_no": line,
        "product_ref": f"P-{line:03d}",
        "quantity": 2 * line,
        "unit_price": Decimal("12.50"),
        "line_currency": "CNY",
        "payload": {"id": f"{9_000_000 + order}", "Subject": number, "marker": "raw-payload"},
    }
    return row | changes


def accepted_line(order: int, line: int, lines_in_order: int = 2, **changes: Any) -> dict[str, Any]:
    """One sound canonical order line; the header net amount covers every line of the order."""
    price = Decimal("12.50")
    net = {n: n * price for n in range(1, lines_in_order + 1)}
    row = {
        "record_key": f"zoho_crm:SO-{order:04d}",
        "customer_number": f"1000{order % 5}",
        "material": f"MAT-{line:03d}",
        "quantity": line,
        "unit_price": price,
        "discount": Decimal("0"),
        "net_amount": net[line],
        "tax_amount": (net[line] * Decimal("0.13")).quantize(Decimal("0.01")),
        "currency": "CNY",
        "plant": "1010",
        "order_net_amount": sum(net.values(), Decimal(0)),
    }
    return row | changes


def frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(rows)


def raw_frame(orders: int = 3, lines: int = 2) -> pd.DataFrame:
    """A sound raw batch."""
    return frame([raw_line(o, n) for o in range(1, orders + 1) for n in range(1, lines + 1)])


def accepted_frame(orders: int = 3, lines: int = 2) -> pd.DataFrame:
    """A sound batch of accepted order lines."""
    return frame([accepted_line(o, n, lines) for o in range(1, orders + 1) for n in range(1, lines + 1)])


def posting_line(order: int, line: int, **changes: Any) -> dict[str, Any]:
    """One line of an order SAP took, with SAP's answer, as sap_order_posting builds it."""
    row = {
        "record_key": f"zoho_crm:SO-{order:04d}",
        "order_number": f"SO-{order:04d}",
        "line_no": line,
        "sap_order": f"{1_000_000 + order}",
        "material": f"MAT-{line:03d}",
        "ordered_qty": Decimal(line * 2),
        "confirmed_qty": Decimal(line),
        "currency": "CNY",
        "sap_currency": "CNY",
        "order_net_amount": Decimal("75.00"),
        "sap_net_amount": Decimal("75.00"),
    }
    return row | changes


def posting_frame(orders: int = 3, lines: int = 2) -> pd.DataFrame:
    """A sound batch of SAP postings."""
    return frame([posting_line(o, n) for o in range(1, orders + 1) for n in range(1, lines + 1)])
