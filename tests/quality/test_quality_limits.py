"""The field limits of the raw gate (quality/limits.py, issue 8 point 4), by property.

Whatever a CRM puts in a raw field (any text, with NUL, CR/LF, surrogates or of any length; any
number, huge, negative, NaN, infinite, with many decimals), the gate judges it without raising or
blocking the batch, and a row passes only if every field is within its declared limits.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hub.bulk import storable
from quality.gate import evaluate
from quality.limits import FIELD_LIMITS, RAW_NUMBER_FIELDS, RAW_TEXT_FIELDS, describe, violation

ANY_TEXT = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec=None, categories=None), max_size=12),  # controls, surrogates
    st.text(alphabet="SO-19 ", min_size=30, max_size=110),  # around SAP's 35 and the hub's 64
    st.sampled_from(["SO-1\r\nBcc: x@y", "SO-\x001", " SO-1", "个", "PC", "\ufffd"]),
    st.integers(),
)
ANY_NUMBER = st.one_of(
    st.none(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False, places=None),
    st.sampled_from([Decimal("1e30"), Decimal("1e20"), Decimal("-1e30"), Decimal("0.0001"), Decimal("1.2345")]),
)


def _row(order: int, line: int, fields: dict[str, Any]) -> dict[str, Any]:
    return {
        "record_key": f"zoho_crm:{order}",
        "source": "zoho_crm",
        "crm_order_id": str(order),
        "order_number": f"SO-{order}",
        "crm_account_id": "ACC-1",
        "currency": "CNY",
        "order_time": pd.Timestamp("2026-01-01T08:00:00Z"),
        "modified_at": pd.Timestamp("2026-01-01T09:00:00Z"),
        "line_no": Decimal(line),
        "product_ref": "P-1",
        "quantity": Decimal(2),
        "unit_price": Decimal("12.50"),
        "line_currency": "CNY",
        "discount": Decimal(0),
        "tax_rate": Decimal("0.13"),
        "description": "text",
        "crm_status": "Approved",
        "crm_line_id": f"L-{order}-{line}",
        "unit": "PC",
        "payload": {"id": str(order)},
    } | fields


def spoiled_row(values: dict[str, st.SearchStrategy]) -> st.SearchStrategy:
    """A sound row with any subset of the limit fields replaced by ``values``' draws."""
    fields = st.fixed_dictionaries({}, optional=values)
    return fields


FIELDS = {f: ANY_TEXT for f in RAW_TEXT_FIELDS} | {f: ANY_NUMBER for f in RAW_NUMBER_FIELDS}


def _within(row: dict[str, Any]) -> bool:
    return all(violation(f, row[f]) is None for f in FIELD_LIMITS if f in row)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(spoiled_row(FIELDS), min_size=1, max_size=6))
def test_any_raw_values_are_judged_never_raise_and_pass_only_within_limits(spoiled: list[dict[str, Any]]) -> None:
    # As the gate gets them: landed in crm_inbox, where NULs and unpaired surrogates became U+FFFD
    # (no database text holds them, nor pandas' Arrow strings).
    rows = [storable(_row(order=i // 2, line=i % 2 + 1, fields=fields)) for i, fields in enumerate(spoiled)]
    frame = pd.DataFrame(rows)
    evaluation = evaluate("raw_crm_orders", frame, max_quarantine_pct=100)
    assert evaluation.breaches == []  # nothing a field holds blocks the batch
    assert all(v.error is None for v in evaluation.verdicts), [v.error for v in evaluation.verdicts if v.error]
    quarantined = set(evaluation.split.quarantined_positions)
    for pos, row in enumerate(rows):
        if pos not in quarantined:
            bad = {f: violation(f, row[f]) for f in FIELD_LIMITS if f in row and violation(f, row[f])}
            assert not bad, f"row {pos} passed with {bad}"
            assert row["line_no"] is not None and row["quantity"] is not None and row["unit_price"] is not None
    for record in evaluation.split.records:
        assert record.field and record.detail.startswith("order ")


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.fixed_dictionaries(
            {},
            optional={
                "order_number": st.text(alphabet="SO-0123456789/", min_size=1, max_size=35).map(str.strip).filter(bool),
                "quantity": st.decimals(min_value=Decimal("0.001"), max_value=Decimal(1000), places=3),
                "unit_price": st.decimals(min_value=0, max_value=Decimal(100_000), places=4),
                "description": st.text(alphabet=st.characters(exclude_characters="\x00", codec="utf-8"), max_size=200),
                "unit": st.sampled_from(["PC", "个", "KG", None]),
            },
        ),
        min_size=1,
        max_size=4,
    )
)
def test_rows_within_every_limit_pass(fields: list[dict[str, Any]]) -> None:
    rows = [_row(order=i, line=1, fields=f) for i, f in enumerate(fields)]
    assert all(_within(r) for r in rows)
    evaluation = evaluate("raw_crm_orders", pd.DataFrame(rows), max_quarantine_pct=0)
    assert evaluation.quarantined == 0, [r.detail for r in evaluation.split.records]


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("order_number", "SO-" + "1" * 33, "line 1: order_number must be text of at most 35 characters"),
        ("order_number", "SO-1\r\n", "(got CR at position 5)"),
        ("unit_price", Decimal("1e30"), "unit_price must be < 10^14, with at most 4 decimals (got 1e+30)"),
        ("quantity", Decimal("1e20"), "quantity must be < 10^12"),
        ("quantity", Decimal("1.0001"), "(got 4 decimals: 1.0001)"),
        ("discount", Decimal("-1e30"), "discount must be ≥ 0"),
        ("description", "pad\x00", "description must be text without NUL (got NUL at position 4)"),
        ("line_no", Decimal("1.5"), "line_no must be < 10^5, a whole number (got 1.5)"),
    ],
)
def test_each_limit_names_the_order_line_field_and_limit(field: str, value: Any, words: str) -> None:
    rows = [_row(0, 1, {field: value}), _row(1, 1, {})]
    evaluation = evaluate("raw_crm_orders", pd.DataFrame(rows), max_quarantine_pct=100)
    (record,) = evaluation.split.records
    assert record.field == field
    assert words in record.detail, record.detail
    assert evaluation.split.quarantined_positions == [0]


def test_every_limit_is_described_with_its_source() -> None:
    for field, limit in FIELD_LIMITS.items():
        assert limit.source, field
        assert describe(field).startswith(field)
