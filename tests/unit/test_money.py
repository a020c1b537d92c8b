from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transforms.money import MoneyError, quantize, to_decimal


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("12.50", Decimal("12.50")),
        (" 7 ", Decimal(7)),
        (3, Decimal(3)),
        (0.1, Decimal("0.1")),
        (Decimal("1.005"), Decimal("1.005")),
        ("12,5a", None),
        ("", None),
        (None, None),
        (True, None),
        ("NaN", None),
        ("Infinity", None),
        ({"v": 1}, None),
    ],
)
def test_to_decimal(raw, expected):
    assert to_decimal(raw) == expected


def test_floats_go_through_their_repr_not_binary():
    assert to_decimal(0.1) + to_decimal(0.2) == Decimal("0.3")


def test_tax_rounding_example_from_the_domain_reference():
    # Three lines of ¥0.35 at 13 %: per line 0.05 × 3 = 0.15, per document 1.05 × 13 % = 0.14.
    per_line = sum(quantize(Decimal("0.35") * Decimal("0.13"), "CNY") for _ in range(3))
    per_document = quantize(Decimal("1.05") * Decimal("0.13"), "CNY")
    assert (per_line, per_document) == (Decimal("0.15"), Decimal("0.14"))


def test_minor_units_and_modes():
    assert quantize(Decimal("2.5"), "JPY", ROUND_HALF_UP) == Decimal(3)
    assert quantize(Decimal("2.5"), "JPY", ROUND_HALF_EVEN) == Decimal(2)
    assert quantize(Decimal("0.125"), "EUR") == Decimal("0.13")
    with pytest.raises(MoneyError, match="XXX"):
        quantize(Decimal(1), "XXX")


@given(st.decimals(min_value=-(10**9), max_value=10**9, places=6), st.sampled_from(["CNY", "EUR", "JPY"]))
def test_quantize_is_within_half_a_minor_unit_and_idempotent(amount, currency):
    q = quantize(amount, currency)
    unit = Decimal(1).scaleb(-(0 if currency == "JPY" else 2))
    assert abs(q - amount) <= unit / 2
    assert quantize(q, currency) == q
