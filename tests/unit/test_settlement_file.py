import io
import json
from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.settlement import verify_command
from transforms.settlement_file import (
    COLUMNS,
    SettlementFileError,
    SettlementLine,
    _xlsx_rows,
    controls,
    csv_bytes,
    render_rows,
    settlement_lines,
    verify,
    write_settlement,
    xlsx_bytes,
)
from transforms.settlement_match import BillingLine, DeliveredLine, OrderLine, match, money_inputs
from transforms.settlement_money import MoneyRules, line_money

DAY = date(2025, 3, 14)
RULES = MoneyRules()
WHEN = datetime(2025, 3, 15, 1, 0, tzinfo=UTC)


def line(doc="90000001", item="000010", net="0.35", tax="0.05", currency="CNY", material="M1", qty="1", rate="0.13"):
    n, t = D(net), D(tax)
    return SettlementLine(
        "1010", DAY, doc, item, "F2", "M", "", "100", "10", "zoho", "Z-1", 1, "800", "10", material, D(qty),
        currency, n, D(rate), t, n + t,
    )  # fmt: skip


THREE = [line(item=f"0000{i}0") for i in (1, 2, 3)]


def write(folder, lines=THREE, previous=None, run="run-1", rules=RULES, **kw):
    return write_settlement(folder, "1010", DAY, lines, previous, run, rules, created_at=WHEN, **kw)


def test_the_csv_is_rfc4180_utf8_without_bom_with_minor_units(tmp_path):
    lines = [*THREE, line("90000002", "000010", "-1250", "-113", "JPY", '配件 "A", B', qty="-2.5")]
    written = write(tmp_path, lines)
    raw = written.csv.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8")
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    header, first, *_, jpy = text.split("\r\n")[:-1]
    assert header == ",".join(COLUMNS)
    assert first.split(",")[15:] == ["1.000", "CNY", "0.35", "13", "0.05", "0.40", "D"]
    assert '"配件 ""A"", B",-2.500,JPY,-1250,13,-113,-1363,C' in jpy
    assert written.csv.name == "1010_settlement_20250314_v01.csv"
    assert written.xlsx.name == "1010_settlement_20250314_v01.xlsx"
    assert written.manifest.name == "1010_settlement_20250314_v01.manifest.json"


def test_the_manifest(tmp_path):
    written = write(tmp_path, [*THREE, line("90000002", "000010", "-0.70", "-0.09")], data_interval=(WHEN, WHEN))
    m = json.loads(written.manifest.read_text())
    assert m == written.data
    assert m["schema_version"] == 1 and m["version"] == 1 and m["run_id"] == "run-1"
    assert m["created_at"] == "2025-03-15T01:00:00Z"
    assert m["data_interval"] == {"start": WHEN.isoformat(), "end": WHEN.isoformat()}
    assert m["rounding"] == {
        "mode": "ROUND_HALF_UP",
        "tax_scope": "per_line",
        "country": "CN",
        "minor_units": {"CNY": 2},
    }
    assert m["record_count"] == 4
    assert m["hash_total"] == f"{(3 * 90000001 + 90000002) % 10**10:010d}"
    assert m["control_totals"] == {
        "CNY": {"records": 4, "net": "0.35", "tax": "0.06", "tax_by_rate": {"13": "0.06"}, "gross": "0.41",
                "debit": "1.20", "credit": "0.79"}
    }  # fmt: skip
    assert m["supersedes"] is None
    assert set(m["files"]) == {"csv", "xlsx"}
    assert m["files"]["csv"]["size"] == written.csv.stat().st_size


def test_same_inputs_write_nothing_changed_inputs_a_new_version_naming_the_old(tmp_path):
    first = write(tmp_path)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert write(tmp_path, run="run-2") is None
    assert write(tmp_path, previous=first.data, run="run-2") is None
    assert write(tmp_path, previous=first.manifest, run="run-2") is None
    with pytest.raises(SettlementFileError, match="previous manifest is of 1010 2025-03-14, not of 1010 2025-03-15"):
        write_settlement(tmp_path, "1010", date(2025, 3, 15), [], first.data, "r", RULES)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
    second = write(tmp_path, THREE[:2], run="run-3")
    assert second.version == 2 and second.csv.name.endswith("_v02.csv")
    assert second.data["supersedes"] == {
        "file": "1010_settlement_20250314_v01.csv",
        "version": 1,
        "manifest": "1010_settlement_20250314_v01.manifest.json",
        "reason": "inputs changed: records 3 → 2; CNY net 1.05 → 0.70; CNY tax 0.15 → 0.10; CNY gross 1.20 → 0.80",
    }
    assert second.supersedes == "1010_settlement_20250314_v01.csv"
    for name, content in before.items():  # never overwritten
        assert (tmp_path / name).read_bytes() == content
    # other rounding rules are a re-issue even when the rows come out the same
    third = write(tmp_path, THREE[:2], rules=MoneyRules(tax_scope="per_document"), reason="tax scope per document")
    assert third.version == 3 and third.data["supersedes"]["reason"] == "tax scope per document"
    assert verify(first.manifest) == verify(second.manifest) == verify(third.manifest) == []


def test_a_version_left_half_written_is_skipped_never_reused(tmp_path):
    (tmp_path / "1010_settlement_20250314_v01.csv").write_bytes(b"partial")
    written = write(tmp_path)
    assert written.version == 2 and written.data["supersedes"] is None
    assert (tmp_path / "1010_settlement_20250314_v01.csv").read_bytes() == b"partial"
    # a previous manifest known to the caller (e.g. delivered and cleaned up locally) sets the floor
    elsewhere = tmp_path / "other"
    assert write(elsewhere, THREE[:1], previous=written.data).version == 3


def test_the_xlsx_is_byte_identical_on_regeneration_and_holds_the_csv_rows(tmp_path):
    a, b = write(tmp_path / "a"), write(tmp_path / "b", run="run-9")
    assert a.xlsx.read_bytes() == b.xlsx.read_bytes()
    assert a.csv.read_bytes() == b.csv.read_bytes()
    rows = render_rows(THREE)
    assert _xlsx_rows(a.xlsx.read_bytes()) == rows
    from openpyxl import load_workbook

    wb = load_workbook(a.xlsx, read_only=True)
    assert wb.sheetnames == ["settlement", "controls"]
    controls_sheet = [r for r in wb["controls"].iter_rows(values_only=True)]
    assert ("record_count", None, 3) in controls_sheet or ("record_count", "", 3) in controls_sheet
    assert wb.properties.created == datetime(2025, 3, 14)
    wb.close()


def test_cells_that_could_start_a_formula_are_neutralised_numbers_are_not(tmp_path):
    evil = line(material='=HYPERLINK("http://x","y")', net="-0.35", tax="-0.05")
    written = write(
        tmp_path,
        [evil, line("90000002", material="@SUM(A1)"), line("90000003", material="+1"), line("90000004", material="-1")],
    )
    text = written.csv.read_text()
    for bad in ("=HYPERLINK", "@SUM(A1)", "+1", "-1"):
        assert f",'{bad}" in text or f"\"'{bad}" in text
    assert ",-0.35,13,-0.05,-0.40,C" in text
    rows = _xlsx_rows(written.xlsx.read_bytes())
    assert rows[0][COLUMNS.index("material")].startswith("'=HYPERLINK")
    assert rows[0][COLUMNS.index("net")] == "-0.35"
    assert verify(written.manifest) == []


def test_rendering_refuses_what_it_cannot_write_exactly(tmp_path):
    with pytest.raises(SettlementFileError, match="minor unit"):
        render_rows([line(net="0.351", tax="0.05")])
    with pytest.raises(SettlementFileError, match="not supported"):
        render_rows([line(currency="XXX")])
    with pytest.raises(SettlementFileError, match="company code 1010 in the file of 2020"):
        write_settlement(tmp_path, "2020", DAY, THREE, None, "r", RULES)
    with pytest.raises(SettlementFileError, match="letters or digits"):
        write_settlement(tmp_path, "../x", DAY, [], None, "r", RULES)


def test_an_empty_day_still_has_a_file(tmp_path):
    written = write(tmp_path, [])
    assert written.data["record_count"] == 0 and written.data["control_totals"] == {}
    assert verify(written.csv) == [] and verify(written.xlsx) == []


# -- verify ----------------------------------------------------------------------------------------------------


def test_verify_finds_a_tampered_byte_a_changed_total_and_missing_files(tmp_path):
    written = write(tmp_path)
    assert verify(written.csv) == verify(written.xlsx) == verify(written.manifest) == []
    raw = bytearray(written.csv.read_bytes())
    raw[raw.index(b"0.40")] = ord("1")  # 0.40 → 1.40 on the first row
    written.csv.write_bytes(bytes(raw))
    problems = verify(written.csv)
    assert any("SHA-256" in p for p in problems)
    assert any("net + tax" in p or "≠ gross" in p for p in problems)
    assert verify(written.xlsx) == []
    assert len(verify(written.manifest)) == len(problems)

    m = json.loads(written.manifest.read_text())
    m["control_totals"]["CNY"]["net"] = "1.06"
    m["record_count"] = 4
    written.manifest.write_text(json.dumps(m))
    problems = verify(written.xlsx)
    assert "CNY net in the XLSX 1010_settlement_20250314_v01.xlsx is 1.05, the manifest says 1.06" in problems
    assert any("has 3 records, the manifest says 4" in p for p in problems)

    written.xlsx.unlink()
    assert verify(written.xlsx) == ["1010_settlement_20250314_v01.xlsx is missing"]
    written.manifest.unlink()
    assert verify(written.csv) == [
        "no manifest 1010_settlement_20250314_v01.manifest.json beside 1010_settlement_20250314_v01.csv"
    ]
    assert "not a settlement" in verify(tmp_path / "notes.txt")[0]


def test_a_consistently_edited_csv_still_fails_on_its_hash(tmp_path):
    written = write(tmp_path)
    text = written.csv.read_text().replace("90000001,000030", "90000009,000030")
    written.csv.write_bytes(text.encode())
    problems = verify(written.csv)
    assert any("SHA-256" in p for p in problems)
    assert any("hash total" in p for p in problems)


def test_verify_command_prints_a_sentence_per_problem_and_exits_0_or_1(tmp_path):
    written = write(tmp_path)
    out = io.StringIO()
    assert verify_command(written.csv, out) == 0
    assert out.getvalue() == (
        "1010_settlement_20250314_v01.csv verifies against its manifest: version 1, 3 records, hash total "
        "0270000003, CNY net 1.05, tax 0.15, gross 1.20.\n"
    )
    written.xlsx.write_bytes(written.xlsx.read_bytes()[:-10])
    out = io.StringIO()
    assert verify_command(str(written.xlsx), out) == 1
    lines = out.getvalue().splitlines()
    assert lines[-1].startswith("1010_settlement_20250314_v01.xlsx does not verify:")
    assert all(ln.endswith(".") for ln in lines)


def test_from_match_to_file():
    orders = [
        OrderLine("zoho", "Z-1", i, "100", f"{i}0", "M1", D(1), D("0.35"), "CNY", None, D("0.13")) for i in (1, 2, 3)
    ]
    deliveries = [DeliveredLine("800", f"{i}0", "100", f"{i}0", "M1", D(1), DAY) for i in (1, 2, 3)]
    billing = [
        BillingLine("90000001", f"0000{i}0", "F2", "M", False, "", "100", f"{i}0", "800", f"{i}0", "M1", D(1),
                    D("0.350"), D("0.050"), D("0.400"), "CNY", DAY, "1010")
        for i in (1, 2, 3)
    ]  # fmt: skip
    result = match(orders, deliveries, billing)
    money = line_money(money_inputs(billing, orders), MoneyRules(tax_scope="per_document"))
    lines, refused = settlement_lines(result.matched, money, "1010")
    assert refused == [] and len(lines) == 3
    assert controls(render_rows(lines))["control_totals"]["CNY"]["tax"] == "0.14"
    assert settlement_lines(result.matched, money, "2020") == ([], [])
    money.errors[("90000001", "000020")] = "no rate"
    lines, refused = settlement_lines(result.matched, money, "1010")
    assert len(lines) == 2 and refused[0][1] == "90000001/000020: no rate"


# -- round trip ------------------------------------------------------------------------------------------------

texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@st.composite
def lines_(draw):
    out = []
    for n in range(draw(st.integers(0, 8))):
        currency = draw(st.sampled_from(["CNY", "EUR", "JPY"]))
        places = 0 if currency == "JPY" else 2
        net = draw(st.decimals(min_value=-(10**9), max_value=10**9, places=places))
        rate = draw(st.sampled_from([D("0"), D("0.06"), D("0.09"), D("0.13")]))
        tax = (net * rate).quantize(D(1).scaleb(-places))
        out.append(
            SettlementLine("1010", DAY, f"9{n:07d}", f"{n:06d}", "F2", "M", "", "100", "10", draw(texts), draw(texts),
                           n, "800", "10", draw(texts), draw(st.decimals(-1000, 1000, places=3)), currency, net, rate,
                           tax, net + tax)
        )  # fmt: skip
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines_(), st.data())
def test_write_then_verify_passes_and_one_changed_byte_fails(tmp_path_factory, lines, data):
    folder = tmp_path_factory.mktemp("rt")
    written = write(folder, lines)
    assert verify(written.manifest) == []
    assert _xlsx_rows(written.xlsx.read_bytes()) == render_rows(lines)
    assert xlsx_bytes(render_rows(lines), controls(render_rows(lines)), DAY, "t") == xlsx_bytes(
        render_rows(lines), controls(render_rows(lines)), DAY, "t"
    )
    assert written.csv.read_bytes() == csv_bytes(render_rows(lines))
    target = data.draw(st.sampled_from([written.csv, written.xlsx]))
    raw = bytearray(target.read_bytes())
    i = data.draw(st.integers(0, len(raw) - 1))
    raw[i] = (raw[i] + data.draw(st.integers(1, 255))) % 256
    target.write_bytes(bytes(raw))
    assert verify(target) != []
