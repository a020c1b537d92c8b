"""run_gate against a real hub database (SQLite and PostgreSQL): quarantine, gate results, breaches."""

from __future__ import annotations

import json
from decimal import Decimal

import pandas as pd
import pytest
from quality_frames import accepted_frame, frame, raw_frame, raw_line
from sqlalchemy import Engine, func, select

from hub.schema import gate_results, quarantine
from quality.gate import GateBreach, evaluate, run_gate


def _quarantine(engine: Engine, run_id: str) -> dict[str, dict]:
    with engine.connect() as conn:
        rows = conn.execute(select(quarantine).where(quarantine.c.run_id == run_id)).mappings().all()
    return {r["record_key"]: dict(r) for r in rows}


def _results(engine: Engine, run_id: str) -> list[dict]:
    with engine.connect() as conn:
        rows = conn.execute(select(gate_results).where(gate_results.c.run_id == run_id)).mappings().all()
    return [dict(r) for r in rows]


def test_failing_rows_are_quarantined_by_key_with_field_rules_and_payload(hub_db: Engine) -> None:
    df = raw_frame(orders=4, lines=1)
    df.loc[1, "quantity"] = -2
    df = df.astype({"currency": object, "crm_account_id": object})
    df.loc[2, ["currency", "line_currency"]] = ["XXX", "XXX"]
    df.loc[2, "crm_account_id"] = None
    with hub_db.begin() as conn:
        outcome = run_gate("raw_crm_orders", df, conn=conn, run_id="run-q", max_quarantine_pct=100)

    assert (outcome.evaluated, outcome.quarantined, len(outcome.passed)) == (4, 2, 2)
    assert not outcome.success
    assert list(outcome.passed["order_number"]) == ["SO-0001", "SO-0004"]
    stored = _quarantine(hub_db, "run-q")
    assert sorted(stored) == ["zoho_crm:SO-0002", "zoho_crm:SO-0003"]

    qty = stored["zoho_crm:SO-0002"]
    assert (qty["stage"], qty["source"], qty["error_class"], qty["status"]) == (
        "raw_crm_orders",
        "zoho_crm",
        "DataQuality",
        "open",
    )
    assert qty["field"] == "quantity"
    assert qty["expectations"] == ["expect_column_values_to_be_between(quantity)"]
    assert qty["detail"] == "order SO-0002 line 1: quantity must be > 0 (got -2)"
    assert qty["payload"] == {"id": "9000002", "Subject": "SO-0002", "marker": "raw-payload"}

    two = stored["zoho_crm:SO-0003"]
    # The first broken rule in suite order names the field; every broken rule is listed.
    assert two["field"] == "crm_account_id"
    assert two["expectations"] == [
        "expect_column_values_to_not_be_null(crm_account_id)",
        "expect_column_values_to_be_in_set(currency)",
    ]
    assert "crm_account_id must not be empty" in two["detail"]
    assert "currency must be an accepted ISO-4217 code" in two["detail"] and "(got 'XXX')" in two["detail"]

    (result,) = _results(hub_db, "run-q")
    assert (result["gate"], result["source"], result["evaluated"], result["passed"], result["quarantined"]) == (
        "raw_crm_orders",
        "zoho_crm",
        4,
        2,
        2,
    )
    assert result["success"] is False and result["blocking_breach"] is False
    summary = result["summary"]
    assert summary["expectations"]["expect_column_values_to_be_between(quantity)"] == {
        "success": False,
        "unexpected_count": 1,
        "blocking": False,
    }
    assert summary["expectations"]["expect_column_values_to_be_in_set(source)"]["success"] is True
    assert summary["quarantined_records"] == 2
    assert "raw-payload" not in json.dumps(summary)  # counts only, never row payloads


def test_one_bad_line_quarantines_the_whole_order(hub_db: Engine) -> None:
    df = raw_frame(orders=2, lines=3)
    df.loc[4, "unit_price"] = Decimal("-1")  # order 2, line 2
    df.loc[5, ["currency", "line_currency", "quantity"]] = ["XXX", "XXX", 0]  # order 2, line 3
    with hub_db.begin() as conn:
        outcome = run_gate("raw_crm_orders", df, conn=conn, run_id="run-o", max_quarantine_pct=100)
    assert (outcome.evaluated, outcome.quarantined) == (6, 3)
    assert set(outcome.passed["order_number"]) == {"SO-0001"}
    stored = _quarantine(hub_db, "run-o")
    assert list(stored) == ["zoho_crm:SO-0002"]
    record = stored["zoho_crm:SO-0002"]
    assert record["detail"] == (
        "order SO-0002 line 2: unit_price must be ≥ 0 (got -1). "
        "order SO-0002 line 3: currency must be an accepted ISO-4217 code "
        "(CNY, EUR, GBP, HKD, JPY, SGD, USD) (got 'XXX'); quantity must be > 0 (got 0)"
    )
    assert record["field"] == "currency"  # the first broken rule in suite order
    assert record["expectations"] == [
        "expect_column_values_to_be_in_set(currency)",
        "expect_column_values_to_be_between(quantity)",
        "expect_column_values_to_be_between(unit_price)",
    ]
    (result,) = _results(hub_db, "run-o")
    assert (result["passed"], result["quarantined"]) == (3, 3)


def test_passed_rows_keep_their_index_and_columns(sqlite_hub: Engine) -> None:
    df = raw_frame(orders=3, lines=1)
    df.index = pd.Index([10, 20, 30])
    df.loc[20, "quantity"] = 0
    with sqlite_hub.begin() as conn:
        outcome = run_gate("raw_crm_orders", df, conn=conn, run_id="run-i", max_quarantine_pct=100)
    assert list(outcome.passed.index) == [10, 30]
    assert list(outcome.passed.columns) == list(df.columns)
    pd.testing.assert_frame_equal(outcome.passed, df.loc[[10, 30]])


def test_row_without_payload_column_is_stored_json_safe(hub_db: Engine) -> None:
    df = accepted_frame(orders=2, lines=1).astype({"customer_number": object})
    df["due"] = pd.Timestamp("2024-03-05T00:00:00Z")
    df["weight"] = [float("nan"), 1.5]
    df.loc[0, "customer_number"] = None
    with hub_db.begin() as conn:
        run_gate("accepted_orders", df, conn=conn, run_id="run-j", payload_column=None, source="zoho_crm")
    stored = _quarantine(hub_db, "run-j")["zoho_crm:SO-0001"]
    assert stored["source"] == "zoho_crm"
    assert stored["payload"]["customer_number"] is None
    assert stored["payload"]["weight"] is None  # NaN is not JSON
    assert stored["payload"]["net_amount"] == "12.50"  # Decimal kept exact as text
    assert stored["payload"]["due"].startswith("2024-03-05T00:00:00")
    assert stored["field"] == "customer_number"


def test_row_without_key_gets_a_stable_key_and_is_requarantined_in_place(hub_db: Engine) -> None:
    df = frame([raw_line(1, 1), raw_line(2, 1, record_key=None)])
    for run in ("run-k1", "run-k2"):
        with hub_db.begin() as conn:
            outcome = run_gate("raw_crm_orders", df, conn=conn, run_id=run, max_quarantine_pct=100)
        assert outcome.quarantined == 1
    with hub_db.connect() as conn:
        rows = conn.execute(select(quarantine.c.record_key, quarantine.c.detail)).all()
    assert len(rows) == 1, rows  # the re-run found the same derived key
    key = rows[0].record_key
    assert key.startswith("missing-key:")
    assert rows[0].detail == "order SO-0002 line 1: record_key must not be empty"  # named by its order number


def test_missing_required_column_is_a_blocking_breach_recorded_before_raising(hub_db: Engine) -> None:
    df = raw_frame().drop(columns=["currency"])
    with pytest.raises(GateBreach) as caught, hub_db.begin() as conn:
        run_gate("raw_crm_orders", df, conn=conn, run_id="run-b")
    message = str(caught.value)
    assert message.startswith("gate raw_crm_orders: blocking breach: expect_table_columns_to_match_set")
    assert "missing: currency" in message
    # The caller's transaction rolled back with the exception; the result survived all the same.
    (result,) = _results(hub_db, "run-b")
    assert result["blocking_breach"] is True and result["success"] is False
    assert result["evaluated"] == result["passed"] + result["quarantined"] == 6
    assert result["summary"]["breaches"] == caught.value.breaches


def test_control_total_mismatch_blocks_and_names_the_order(hub_db: Engine) -> None:
    df = accepted_frame()
    df.loc[df["record_key"] == "zoho_crm:SO-0002", "order_net_amount"] = Decimal("40.00")
    with pytest.raises(GateBreach) as caught, hub_db.begin() as conn:
        run_gate("accepted_orders", df, conn=conn, run_id="run-c", payload_column=None)
    assert "order zoho_crm:SO-0002: lines sum to 37.50 but the order header says 40.00" in str(caught.value)
    (result,) = _results(hub_db, "run-c")
    assert result["blocking_breach"] is True
    entry = result["summary"]["expectations"][
        "expect_order_net_amount_to_equal_sum_of_line_net_amounts(order_net_amount)"
    ]
    assert entry["success"] is False and entry["blocking"] is True and entry["unexpected_count"] == 1


def test_text_left_in_a_numeric_column_blocks_instead_of_passing_unchecked(hub_db: Engine) -> None:
    df = raw_frame().astype({"unit_price": object})
    df.loc[1, "unit_price"] = "12,5O"  # the frame builder should have turned this into NaN
    with pytest.raises(GateBreach, match=r"expect_column_values_to_be_between\(unit_price\) could not be evaluated"):
        with hub_db.begin() as conn:
            run_gate("raw_crm_orders", df, conn=conn, run_id="run-t")
    assert _results(hub_db, "run-t")[0]["blocking_breach"] is True


def test_quarantine_share_above_the_setting_blocks(hub_db: Engine) -> None:
    df = raw_frame(orders=60, lines=1)  # ≥ gates.min_rows_for_rate = 50 in config/hub.toml
    df.loc[list(range(45)), "quantity"] = -1  # 75 % > gates.max_quarantine_pct = 50
    with pytest.raises(GateBreach, match=r"45 of 60 rows quarantined \(75.0 %\), more than max_quarantine_pct 50"):
        with hub_db.begin() as conn:
            run_gate("raw_crm_orders", df, conn=conn, run_id="run-p")
    (result,) = _results(hub_db, "run-p")
    assert (result["blocking_breach"], result["quarantined"], result["passed"]) == (True, 45, 15)
    assert len(_quarantine(hub_db, "run-p")) == 45  # committed with the result, for operations to see

    with hub_db.begin() as conn:
        outcome = run_gate("raw_crm_orders", df, conn=conn, run_id="run-p2", max_quarantine_pct=80)
    assert outcome.quarantined == 45 and not outcome.success


def test_a_small_batch_is_not_judged_by_its_share(hub_db: Engine) -> None:
    """One bad order in a quiet 15-minute interval is 100 %, not a reason to fail the run."""
    df = raw_frame(orders=4, lines=1)
    df.loc[[0, 1, 2], "quantity"] = -1
    with hub_db.begin() as conn:
        outcome = run_gate("raw_crm_orders", df, conn=conn, run_id="run-s")
    assert (outcome.quarantined, len(outcome.passed)) == (3, 1)
    assert _results(hub_db, "run-s")[0]["blocking_breach"] is False
    with pytest.raises(GateBreach):  # an explicit limit applies at any size
        with hub_db.begin() as conn:
            run_gate("raw_crm_orders", df, conn=conn, run_id="run-s2", max_quarantine_pct=50)


def test_empty_frame_records_zeros(hub_db: Engine) -> None:
    df = raw_frame().iloc[0:0]
    with hub_db.begin() as conn:
        outcome = run_gate("raw_crm_orders", df, conn=conn, run_id="run-e", source="fxiaoke")
    assert (outcome.evaluated, outcome.quarantined, outcome.success, len(outcome.passed)) == (0, 0, True, 0)
    (result,) = _results(hub_db, "run-e")
    assert (result["evaluated"], result["passed"], result["quarantined"], result["success"]) == (0, 0, 0, True)
    assert result["source"] == "fxiaoke" and result["blocking_breach"] is False
    with hub_db.connect() as conn:
        assert conn.execute(select(func.count()).select_from(quarantine)).scalar() == 0


def test_unknown_gate_names_the_known_ones() -> None:
    with pytest.raises(KeyError, match="no data-quality suite 'nope'; known: accepted_orders"):
        evaluate("nope", raw_frame())
