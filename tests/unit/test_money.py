from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from transforms.money import MINOR_UNITS, MoneyError, line_taxes, quantize, to_decimal


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


# -- tax rounding scope (settings tax.rounding_scope) ------------------------------------------------
THREE_SMALL_LINES = [(Decimal("0.35"), Decimal("0.13"))] * 3


def test_per_line_rounds_each_line_and_the_document_is_their_sum():
    assert line_taxes(THREE_SMALL_LINES, "CNY", "per_line") == [Decimal("0.05")] * 3


def test_per_document_rounds_once_and_shares_it_by_largest_remainder():
    # Exact 0.0455 each: 0.1365 rounds to 0.14; floors 0.04 × 3 leave two cents for the first two.
    assert line_taxes(THREE_SMALL_LINES, "CNY", "per_document") == [Decimal("0.05"), Decimal("0.05"), Decimal("0.04")]


def test_per_document_sums_the_exact_taxes_of_every_rate_and_gives_the_cent_to_the_largest_remainder():
    lines = [
        (Decimal("10.01"), Decimal("0.13")),
        (Decimal("10.05"), Decimal("0.09")),
        (Decimal("-3.33"), Decimal("0.13")),
    ]
    # Exact 1.3013 + 0.9045 − 0.4329 = 1.7729 → 1.77; floors 1.30 + 0.90 − 0.44 = 1.76; the third
    # line's remainder (0.0071) is the largest.
    assert line_taxes(lines, "CNY", "per_document") == [Decimal("1.30"), Decimal("0.90"), Decimal("-0.43")]
    assert line_taxes(lines, "CNY", "per_line") == [Decimal("1.30"), Decimal("0.90"), Decimal("-0.43")]
    assert line_taxes([], "CNY", "per_document") == []


def test_rounding_mode_applies_to_the_document_total():
    lines = [(Decimal("0.25"), Decimal("0.5"))] * 2 + [(Decimal("0.25"), Decimal(0))]  # exact 0.25 in JPY units
    assert sum(line_taxes(lines, "JPY", "per_document", ROUND_HALF_UP)) == Decimal(0)
    lines = [(Decimal("1"), Decimal("0.25"))] * 2  # exact 0.5 yen
    assert sum(line_taxes(lines, "JPY", "per_document", ROUND_HALF_UP)) == Decimal(1)
    assert sum(line_taxes(lines, "JPY", "per_document", ROUND_HALF_EVEN)) == Decimal(0)


def test_unknown_scope_is_refused():
    with pytest.raises(MoneyError, match="per_invoice"):
        line_taxes(THREE_SMALL_LINES, "CNY", "per_invoice")


_nets = st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False, allow_infinity=False)
_rates = st.one_of(
    st.sampled_from([Decimal(0), Decimal("0.06"), Decimal("0.09"), Decimal("0.13")]),
    st.decimals(min_value=0, max_value=1, places=6, allow_nan=False, allow_infinity=False),
)


@given(
    lines=st.lists(st.tuples(_nets, _rates), max_size=25),
    currency=st.sampled_from(["CNY", "JPY"]),
    mode=st.sampled_from([ROUND_HALF_UP, ROUND_HALF_EVEN]),
)
def test_line_taxes_add_up_to_the_document_under_either_scope(lines, currency, mode):
    unit = Decimal(1).scaleb(-MINOR_UNITS[currency])
    exact = [net * rate for net, rate in lines]
    per_line = line_taxes(lines, currency, "per_line", mode)
    assert per_line == [tax.quantize(unit, rounding=mode) for tax in exact]
    per_document = line_taxes(lines, currency, "per_document", mode)
    # The document's tax is the exact sum rounded once; the lines add up to it exactly.
    assert sum(per_document, Decimal(0)) == sum(exact, Decimal(0)).quantize(unit, rounding=mode)
    for share, tax in zip(per_document, exact, strict=True):
        assert share == share.quantize(unit)
        assert abs(share - tax) < unit
