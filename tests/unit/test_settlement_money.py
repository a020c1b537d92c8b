from datetime import date
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.money import MoneyError
from transforms.settlement_money import (
    BillingHeader,
    MoneyInput,
    MoneyRules,
    TaxRate,
    TaxRateError,
    TaxTable,
    compare_with_sap,
    document_sign,
    line_money,
)

DAY = date(2025, 3, 14)


def item(n, net, doc="90000001", category="M", btype="F2", currency="CNY", rate=D("0.13"), qty=D(1), day=DAY):
    return MoneyInput(doc, f"{n:06d}", category, btype, currency, qty, D(net), day, rate)


def header(doc, net, tax, gross, category="M", btype="F2", currency="CNY"):
    return BillingHeader(doc, category, btype, currency, D(net), D(tax), D(gross), "1010")


# -- the domain reference's vector -----------------------------------------------------------------


@pytest.mark.parametrize(("scope", "tax"), [("per_line", "0.15"), ("per_document", "0.14")])
def test_three_lines_of_0_35_at_13_pct(scope, tax):
    rules = MoneyRules(tax_scope=scope)
    result = line_money([item(n, "0.35") for n in (1, 2, 3)], rules)
    assert not result.errors
    lines = list(result.lines.values())
    assert sum(ln.tax for ln in lines) == D(tax)
    assert all(ln.net + ln.tax == ln.gross for ln in lines)
    # SAP rounds per line: the per-document settlement differs from its header by one cent, and says so
    totals, diffs = compare_with_sap(lines, [header("90000001", "1.05", "0.15", "1.20")], rules)
    assert totals["CNY"].tax == D(tax)
    if scope == "per_line":
        assert diffs == []
    else:
        assert {(d.billing_document, d.amount, d.difference) for d in diffs} == {
            ("90000001", "tax", D("-0.01")),
            ("90000001", "gross", D("-0.01")),
            ("", "tax", D("-0.01")),
            ("", "gross", D("-0.01")),
        }
        assert "SAP says 0.15" in diffs[0].sentence()


def test_rounding_mode_is_applied_as_configured():
    # JPY has no minor unit: 50 × 9 % = 4.5
    jpy = [item(1, "50", currency="JPY", rate=D("0.09"))]
    assert line_money(jpy, MoneyRules("ROUND_HALF_UP")).lines[("90000001", "000001")].tax == D(5)
    assert line_money(jpy, MoneyRules("ROUND_HALF_EVEN")).lines[("90000001", "000001")].tax == D(4)
    # the net is quantised too: SAP's three places to the currency's two
    net = line_money([item(1, "10.125")], MoneyRules("ROUND_HALF_EVEN")).lines[("90000001", "000001")].net
    assert net == D("10.12")


def test_rules_are_validated():
    with pytest.raises(MoneyError, match="ROUND_DOWN"):
        MoneyRules("ROUND_DOWN")
    with pytest.raises(MoneyError, match="per_item"):
        MoneyRules(tax_scope="per_item")
    assert MoneyRules().as_manifest(["JPY", "CNY"]) == {
        "mode": "ROUND_HALF_UP",
        "tax_scope": "per_line",
        "country": "CN",
        "minor_units": {"CNY": 2, "JPY": 0},
    }


# -- tax rates, effective-dated ----------------------------------------------------------------------


def test_cn_rates_are_effective_dated():
    table = TaxTable()
    assert table.rate("CN", date(2018, 4, 30)) == D("0.17")
    assert table.rate("CN", date(2018, 5, 1)) == D("0.16")
    assert table.rate("CN", date(2019, 3, 31)) == D("0.16")
    assert table.rate("CN", date(2019, 4, 1)) == D("0.13")
    assert table.rates_on("CN", DAY) == {
        "standard": D("0.13"),
        "reduced": D("0.09"),
        "services": D("0.06"),
        "zero": D("0"),
    }
    assert table.check("CN", DAY, D("0.09")) == D("0.09")
    with pytest.raises(TaxRateError, match="16 % is not a rate of CN on 2025-03-14"):
        table.check("CN", DAY, D("0.16"))
    with pytest.raises(TaxRateError, match="no standard tax rate of DE"):
        table.rate("DE", DAY)


def test_a_line_takes_the_rate_in_force_on_its_billing_date():
    rules = MoneyRules()
    result = line_money(
        [
            item(1, "100.00", rate=None, day=date(2019, 3, 31)),
            item(2, "100.00", doc="90000002", rate=None, day=date(2019, 4, 1)),
            item(3, "100.00", doc="90000003", rate=D("0.16"), day=date(2019, 4, 1)),
        ],
        rules,
    )
    assert result.lines[("90000001", "000001")].tax == D("16.00")
    assert result.lines[("90000002", "000002")].tax == D("13.00")
    assert "16 % is not a rate of CN on 2019-04-01" in result.errors[("90000003", "000003")]


def test_a_table_refuses_two_rates_starting_the_same_day_and_rates_outside_0_1():
    with pytest.raises(TaxRateError, match="same day"):
        TaxTable([TaxRate("CN", D("0.13"), DAY), TaxRate("CN", D("0.09"), DAY)])
    with pytest.raises(TaxRateError, match="fraction"):
        TaxTable([TaxRate("CN", D("13"), DAY)])


# -- signs: credit memos and cancellations net out -------------------------------------------------------


def test_document_signs():
    assert [document_sign(c) for c in "MPONS"] == [1, 1, -1, -1, 1]
    assert document_sign("", "G2") == -1
    with pytest.raises(MoneyError, match="no known sign"):
        document_sign("X", "ZZ")


def test_an_invoice_and_its_cancellation_and_a_credit_memo_net_out_exactly():
    rules = MoneyRules(tax_scope="per_document")
    items = [
        item(1, "0.35", doc="90000001"),
        item(2, "0.35", doc="90000001"),
        item(1, "0.35", doc="90000002", category="N", btype="S1"),
        item(2, "0.35", doc="90000002", category="N", btype="S1"),
        item(1, "0.35", doc="90000003", category="O", btype="G2"),
        item(1, "0.35", doc="90000004", category="S", btype="S2"),
    ]
    result = line_money(items, rules)
    lines = list(result.lines.values())
    assert sum(ln.gross for ln in lines) == 0
    assert result.lines[("90000003", "000001")].net == D("-0.35")
    assert result.lines[("90000003", "000001")].quantity == D(-1)
    headers = [
        header("90000001", "0.70", "0.09", "0.79"),
        header("90000002", "0.70", "0.09", "0.79", "N", "S1"),
        header("90000003", "0.35", "0.05", "0.40", "O", "G2"),
        header("90000004", "0.35", "0.05", "0.40", "S", "S2"),
    ]
    totals, diffs = compare_with_sap(lines, headers, rules)
    assert diffs == []
    assert totals["CNY"].gross == 0


def test_unknown_currency_or_category_is_an_error_of_that_line_only():
    result = line_money(
        [item(1, "1.00", currency="XXX"), item(2, "1.00", category="X", btype="ZZ"), item(3, "1.00")], MoneyRules()
    )
    assert set(result.errors) == {("90000001", "000001"), ("90000001", "000002")}
    assert ("90000001", "000003") in result.lines


def test_a_header_without_lines_differs_by_its_whole_amount():
    _, diffs = compare_with_sap([], [header("90000009", "10.00", "1.30", "11.30")], MoneyRules())
    assert {(d.billing_document, d.amount, d.ours, d.sap) for d in diffs if d.billing_document} == {
        ("90000009", "net", 0, D("10.00")),
        ("90000009", "tax", 0, D("1.30")),
        ("90000009", "gross", 0, D("11.30")),
    }


# -- properties ----------------------------------------------------------------------------------------------

nets = st.decimals(min_value=0, max_value=D("99999999.999"), places=3)
rates = st.sampled_from([D("0"), D("0.06"), D("0.09"), D("0.13")])
currencies = st.sampled_from(["CNY", "EUR", "JPY"])
categories = st.sampled_from([("M", "F2"), ("O", "G2"), ("N", "S1"), ("S", "S2"), ("P", "L2")])


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(nets, rates), min_size=1, max_size=12),
    currencies,
    categories,
    st.sampled_from(["ROUND_HALF_UP", "ROUND_HALF_EVEN"]),
)
def test_totals_are_exact_and_the_scopes_differ_by_at_most_half_a_unit_per_line(lines, currency, cat, mode):
    items = [
        item(n, net, currency=currency, rate=rate, category=cat[0], btype=cat[1]) for n, (net, rate) in enumerate(lines)
    ]
    unit = D(1) if currency == "JPY" else D("0.01")
    per_line = line_money(items, MoneyRules(mode, "per_line"))
    per_doc = line_money(items, MoneyRules(mode, "per_document"))
    for result in (per_line, per_doc):
        for ln in result.lines.values():
            assert ln.net + ln.tax == ln.gross
            assert ln.net == ln.net.quantize(unit) and ln.tax == ln.tax.quantize(unit)
    sign = document_sign(*cat)
    exact = sum((D(net).quantize(unit, rounding=MoneyRules(mode).mode) * rate for net, rate in lines), D(0))
    doc_tax = sum(ln.tax for ln in per_doc.lines.values())
    assert doc_tax == sign * exact.quantize(unit, rounding=MoneyRules(mode).mode)
    line_tax = sum(ln.tax for ln in per_line.lines.values())
    assert abs(line_tax - doc_tax) <= unit * (len(lines) + 1) / 2
    # a header holding our own sums (SAP's positive view) has no difference; one unit off has
    n = sum(sign * ln.net for ln in per_line.lines.values())
    t = sum(sign * ln.tax for ln in per_line.lines.values())
    h = header("90000001", n, t, n + t, cat[0], cat[1], currency)
    assert compare_with_sap(per_line.lines.values(), [h], MoneyRules(mode))[1] == []
    h_off = header("90000001", n, t + unit, n + t + unit, cat[0], cat[1], currency)
    assert {d.amount for d in compare_with_sap(per_line.lines.values(), [h_off], MoneyRules(mode))[1]} == {
        "tax",
        "gross",
    }
