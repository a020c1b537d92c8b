"""Every rule of every frame suite passes on a sound batch and fails on one crafted to break it.

``BREAKERS`` must name exactly the rules of each suite, so a rule added without a test here fails
``test_every_rule_has_a_breaker``.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pandas as pd
import pytest
from quality_frames import accepted_frame, posting_frame, raw_frame

from quality.gate import evaluate
from quality.spec import Rule, SuiteSpec, between, columns_present, not_null
from quality.suites import SUITES

BAD = 1  # the position of the row each breaker spoils (order 1, line 2)


def _set(column: str, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def breaker(df: pd.DataFrame) -> pd.DataFrame:
        # An int column cannot hold None; object dtype keeps it None, as a frame builder would.
        df = df.astype({column: object}) if value is None else df
        df.loc[BAD, column] = value
        return df

    return breaker


def _put(column: str, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """Like _set, into an object column (a Decimal or text where the sound frame holds ints)."""

    def breaker(df: pd.DataFrame) -> pd.DataFrame:
        df = df.astype({column: object}) if column in df.columns else df.assign(**{column: None})
        df.loc[BAD, column] = value
        return df

    return breaker


def _drop(column: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda df: df.drop(columns=[column])


def _not_null(*columns: str) -> dict[str, Callable[[pd.DataFrame], pd.DataFrame]]:
    return {f"expect_column_values_to_not_be_null({c})": _set(c, None) for c in columns}


def _net_off_by(delta: str, row: int = BAD) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def breaker(df: pd.DataFrame) -> pd.DataFrame:
        # Move the header total with the line so only the arithmetic rule sees the change.
        key = df.loc[row, "record_key"]
        df.loc[row, "net_amount"] = df.loc[row, "net_amount"] + Decimal(delta)
        df.loc[df["record_key"] == key, "order_net_amount"] = df.loc[row, "order_net_amount"] + Decimal(delta)
        return df

    return breaker


def _header_off(df: pd.DataFrame) -> pd.DataFrame:
    key = df.loc[BAD, "record_key"]
    df.loc[df["record_key"] == key, "order_net_amount"] = Decimal("999.99")
    return df


def _duplicate_line(df: pd.DataFrame) -> pd.DataFrame:
    df.loc[BAD, "line_no"] = df.loc[BAD - 1, "line_no"]
    return df


RAW_REQUIRED = (
    "record_key",
    "source",
    "crm_order_id",
    "order_number",
    "crm_account_id",
    "currency",
    "order_time",
    "modified_at",
    "line_no",
    "product_ref",
    "quantity",
    "unit_price",
    "line_currency",
)
ACCEPTED_REQUIRED = (
    "record_key",
    "customer_number",
    "material",
    "quantity",
    "unit_price",
    "net_amount",
    "tax_amount",
    "currency",
    "plant",
    "order_net_amount",
)

BREAKERS: dict[str, dict[str, Callable[[pd.DataFrame], pd.DataFrame]]] = {
    "raw_crm_orders": {
        "expect_table_columns_to_match_set": _drop("product_ref"),
        **_not_null(*RAW_REQUIRED),
        "expect_column_values_to_be_in_set(source)": _set("source", "salesforce"),
        "expect_column_values_to_be_in_set(currency)": _set("currency", "XXX"),
        "expect_column_values_to_be_between(line_no)": _set("line_no", 0),
        "expect_column_values_to_be_between(quantity)": _set("quantity", 0),
        "expect_column_values_to_be_between(unit_price)": _set("unit_price", Decimal("-0.01")),
        "expect_compound_columns_to_be_unique(source,crm_order_id,line_no)": _duplicate_line,
        "expect_column_pair_values_to_be_equal(line_currency,currency)": _set("line_currency", "USD"),
        # The limits of quality/limits.py: one breaker per field (optional columns are added).
        "expect_column_values_to_fit_limits(crm_order_id)": _put("crm_order_id", "9" * 65),
        "expect_column_values_to_fit_limits(order_number)": _put("order_number", "SO-" + "1" * 33),
        "expect_column_values_to_fit_limits(crm_account_id)": _put("crm_account_id", "ACC\n1"),
        "expect_column_values_to_fit_limits(product_ref)": _put("product_ref", "P-\x00"),
        "expect_column_values_to_fit_limits(crm_line_id)": _put("crm_line_id", "L" * 65),
        "expect_column_values_to_fit_limits(crm_status)": _put("crm_status", "Approved\r\n"),
        "expect_column_values_to_fit_limits(unit)": _put("unit", "PIECE"),
        "expect_column_values_to_fit_limits(description)": _put("description", "bolt\x00"),
        "expect_column_values_to_fit_limits(line_no)": _put("line_no", Decimal("2.5")),
        "expect_column_values_to_fit_limits(quantity)": _put("quantity", Decimal("1e20")),
        "expect_column_values_to_fit_limits(unit_price)": _put("unit_price", Decimal("1e30")),
        "expect_column_values_to_fit_limits(discount)": _put("discount", Decimal("-1e30")),
        "expect_column_values_to_fit_limits(tax_rate)": _put("tax_rate", Decimal("13")),
        "expect_amounts_to_fit_money_columns(quantity)": _put("unit_price", Decimal("99999999999999")),
    },
    "accepted_orders": {
        "expect_table_columns_to_match_set": _drop("plant"),
        **_not_null(*ACCEPTED_REQUIRED),
        "expect_column_values_to_be_between(quantity)": _set("quantity", 0),
        "expect_column_values_to_be_between(unit_price)": _set("unit_price", Decimal("-1")),
        "expect_column_values_to_be_between(net_amount)": _set("net_amount", Decimal("-25.00")),
        "expect_column_values_to_be_between(tax_amount)": _set("tax_amount", Decimal("-0.01")),
        "expect_column_values_to_be_in_set(currency)": _set("currency", "usd"),
        "expect_column_values_to_match_regex(plant)": _set("plant", "10-1"),
        "expect_column_values_to_fit_limits(customer_number)": _put("customer_number", "10000000001"),
        "expect_column_values_to_fit_limits(material)": _put("material", "M" * 41),
        "expect_net_amount_to_equal_quantity_times_unit_price_less_discount(net_amount)": _net_off_by("0.02"),
        "expect_order_net_amount_to_equal_sum_of_line_net_amounts(order_net_amount)": _header_off,
    },
    "sap_postings": {
        "expect_table_columns_to_match_set": _drop("sap_order"),
        **_not_null("record_key", "order_number", "sap_order", "confirmed_qty", "sap_currency"),
        "expect_column_values_to_match_regex(sap_order)": _set("sap_order", "SO-1"),
        "expect_column_values_to_be_between(confirmed_qty)": _set("confirmed_qty", Decimal("-1")),
        "expect_column_pair_values_to_be_equal(sap_currency,currency)": _set("sap_currency", "EUR"),
        "expect_confirmed_qty_to_not_exceed_ordered_qty(confirmed_qty)": _set("confirmed_qty", Decimal("5")),
        "expect_sap_net_amount_to_match_order_net_amount(sap_net_amount)": _set("sap_net_amount", Decimal("76.51")),
    },
}

GOOD = {"raw_crm_orders": raw_frame, "accepted_orders": accepted_frame, "sap_postings": posting_frame}
CASES = [(suite, name) for suite, breakers in BREAKERS.items() for name in breakers]


def _verdicts(suite: str, df: pd.DataFrame) -> dict:
    return {v.name: v for v in evaluate(suite, df, max_quarantine_pct=100).verdicts}


@pytest.mark.parametrize("suite", sorted(BREAKERS))
def test_every_rule_has_a_breaker(suite: str) -> None:
    assert sorted(BREAKERS[suite]) == sorted(SUITES[suite].names)


@pytest.mark.parametrize("suite", sorted(GOOD))
def test_sound_batch_passes_every_rule(suite: str) -> None:
    evaluation = evaluate(suite, GOOD[suite](), max_quarantine_pct=0)
    failed = {v.name: v.summary() for v in evaluation.verdicts if not v.success}
    assert failed == {}
    assert sorted(v.name for v in evaluation.verdicts) == sorted(SUITES[suite].names)
    assert evaluation.quarantined == 0
    assert evaluation.breaches == []
    assert evaluation.success


@pytest.mark.parametrize(("suite", "rule"), CASES, ids=[f"{s}:{r}" for s, r in CASES])
def test_each_rule_fails_on_its_crafted_batch(suite: str, rule: str) -> None:
    bad = BREAKERS[suite][rule](GOOD[suite]().copy())
    verdicts = _verdicts(suite, bad)
    verdict = verdicts[rule]
    assert not verdict.success, f"{rule} did not catch its crafted fault"
    spec_rule = next(r for r in SUITES[suite].all_rules if r.name == rule)
    if isinstance(spec_rule, Rule) and not spec_rule.row_level:
        assert verdict.breached  # table rules of these suites block the batch
    elif spec_rule in SUITES[suite].table_checks:
        assert verdict.problems and "SO-0001" in verdict.problems[0]
    else:
        assert BAD in verdict.rows, f"{rule} flagged rows {sorted(verdict.rows)}, not the spoiled one"
        assert verdict.unexpected_count >= 1


def test_range_boundaries_are_inclusive_or_strict_as_declared() -> None:
    df = raw_frame(orders=3, lines=2)
    df.loc[0, "quantity"] = 1  # > 0: the smallest sound quantity
    df.loc[2, "unit_price"] = Decimal("0")  # ≥ 0: free of charge is allowed
    df.loc[4, "quantity"] = -2
    verdicts = _verdicts("raw_crm_orders", df)
    assert dict(verdicts["expect_column_values_to_be_between(quantity)"].rows) == {4: -2}
    assert verdicts["expect_column_values_to_be_between(unit_price)"].success
    assert verdicts["expect_column_values_to_be_between(line_no)"].success  # line 1 exists in every order


@pytest.mark.parametrize("price", [float("nan"), None])
def test_unparseable_price_arrives_as_nan_and_is_caught_by_not_null(price: object) -> None:
    # The flow's frame builder turns "12,5O" into NaN/None; the not-null rule quarantines it.
    df = raw_frame().astype({"unit_price": object})
    df.loc[BAD, "unit_price"] = price
    verdicts = _verdicts("raw_crm_orders", df)
    assert BAD in verdicts["expect_column_values_to_not_be_null(unit_price)"].rows
    assert verdicts["expect_column_values_to_be_between(unit_price)"].success


def test_prices_as_plain_floats_are_accepted() -> None:
    df = raw_frame().astype({"unit_price": float, "quantity": float})
    assert evaluate("raw_crm_orders", df, max_quarantine_pct=0).success


def test_net_amount_tolerance_is_one_cent() -> None:
    df = accepted_frame(orders=4, lines=2)
    for order, delta in enumerate(("0.01", "-0.01", "0.011", "-0.02")):
        df = _net_off_by(delta, row=2 * order + 1)(df)
    verdict = _verdicts("accepted_orders", df)[
        "expect_net_amount_to_equal_quantity_times_unit_price_less_discount(net_amount)"
    ]
    assert sorted(verdict.rows) == [5, 7]
    assert verdict.rows[5] == "25.011, expected 2 × 12.50 − 0 = 25.00"


def test_net_amount_takes_the_discount_into_account() -> None:
    df = accepted_frame()
    key = df.loc[BAD, "record_key"]
    df.loc[BAD, "discount"] = Decimal("5.00")
    df.loc[BAD, "net_amount"] = df.loc[BAD, "net_amount"] - Decimal("5.00")
    df.loc[df["record_key"] == key, "order_net_amount"] = df.loc[BAD, "order_net_amount"] - Decimal("5.00")
    assert evaluate("accepted_orders", df, max_quarantine_pct=0).success


def test_control_totals_are_exact_to_the_cent() -> None:
    df = accepted_frame()
    key = df.loc[BAD, "record_key"]
    df.loc[df["record_key"] == key, "order_net_amount"] = df.loc[BAD, "order_net_amount"] + Decimal("0.01")
    verdict = _verdicts("accepted_orders", df)[
        "expect_order_net_amount_to_equal_sum_of_line_net_amounts(order_net_amount)"
    ]
    assert not verdict.success and verdict.breached
    assert verdict.problems == [f"order {key}: lines sum to 37.50 but the order header says 37.51"]


def test_every_currency_we_accept_passes() -> None:
    from quality.suites import ACCEPTED_CURRENCIES

    assert {"CNY", "EUR", "USD", "GBP", "JPY", "HKD", "SGD"} <= set(ACCEPTED_CURRENCIES)
    rows = len(ACCEPTED_CURRENCIES)
    df = raw_frame(orders=rows, lines=1)
    df["currency"] = list(ACCEPTED_CURRENCIES)
    assert _verdicts("raw_crm_orders", df)["expect_column_values_to_be_in_set(currency)"].success


@pytest.mark.parametrize("suite", sorted(SUITES))
def test_every_rule_builds_into_a_gx_expectation(suite: str) -> None:
    for rule in SUITES[suite].rules:
        expectation = rule.build()
        assert expectation.meta == {"hub_rule": rule.name}
        assert expectation.expectation_type == rule.type


def test_rules_sharing_a_name_are_refused() -> None:
    with pytest.raises(ValueError, match=r"same name: expect_column_values_to_not_be_null\(a\)"):
        SuiteSpec("twice", rules=(*not_null("a"), *not_null("a", blocking=True)))


def test_a_new_gate_is_one_registry_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    notices = SuiteSpec(
        "shipment notices to the 3PL",
        rules=(columns_present("record_key", "delivery"), *not_null("delivery"), between("packages", 1)),
        noun="delivery",
    )
    monkeypatch.setitem(SUITES, "shipment_notices", notices)
    df = pd.DataFrame({"record_key": ["D1", "D2"], "delivery": ["80000001", None], "packages": [1, 0]})
    evaluation = evaluate("shipment_notices", df, max_quarantine_pct=100)
    (record,) = evaluation.split.records
    assert record.record_key == "D2" and record.stage == "shipment_notices"
    assert record.expectations == [
        "expect_column_values_to_not_be_null(delivery)",
        "expect_column_values_to_be_between(packages)",
    ]
    assert record.detail == "delivery D2: delivery must not be empty; packages must be ≥ 1 (got 0)"
