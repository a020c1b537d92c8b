"""The settlement file of one company code and business day: CSV, an XLSX copy, a JSON manifest, and
:func:`verify`, which re-reads a file and recomputes every control its manifest states.

Files (DESIGN §3.4, domain report §3.3), named ``{company}_settlement_{YYYYMMDD}_v{NN}``:

- ``….csv``: RFC 4180 (comma, ``"`` quoting where needed, CRLF line ends), UTF-8 **without** a
  byte-order mark: the CSV is the machine-readable file finance systems import, and importers read a
  BOM as part of the first column's name; people open the XLSX copy. One row per billing item
  (:data:`COLUMNS`), sorted by billing document and item. Amounts are plain decimals with exactly the
  currency's minor units (``12.50``, JPY ``1250``), negative for credits, no thousands separators;
  quantities with SAP's three places; dates ISO ``YYYY-MM-DD``; the tax rate in percent (``13``).
  Text cells that could start a spreadsheet formula (``= + - @``, tab, CR) get a leading apostrophe
  (:func:`transforms.report_html.safe_cell`); number columns are numbers and never touched. Line
  ends inside text are LF, and characters XML 1.0 cannot hold become U+FFFD, in both files alike.
- ``….xlsx``: the same rows (numbers as numbers, shown with the currency's minor units) and a
  ``controls`` sheet; workbook properties and zip entry times are fixed to the business day, so the
  same rows give the same bytes on every regeneration.
- ``….manifest.json``: :data:`SCHEMA_VERSION`, record count, control totals per currency (net, tax
  by rate, gross, debit, credit), hash total, SHA-256 and size of each file, version, run id, data
  interval, rounding rules and ``supersedes`` (the file it replaces and why) when re-issued.

Every file is written under a temporary name, flushed and then hard-linked to its final name, which
fails if that name exists: an existing version is never overwritten, whatever runs beside. The
manifest is written last: a version without its manifest is incomplete and is skipped (never reused).

Versions: the same rows and rules as the latest version → nothing written (``None``). Anything else
→ the next version, naming the latest in ``supersedes``.

Control totals are computed from the rendered text rows (:func:`controls`), both when writing and in
:func:`verify`, so the file and its manifest are checked by the same arithmetic.

Hash total: Σ of the billing document numbers (their digits) of all rows, modulo 10¹⁰, as NACHA's
entry hash, written as ten digits.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import zipfile
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from transforms.money import MINOR_UNITS, minor_unit
from transforms.report_html import safe_cell
from transforms.settlement_match import Matched
from transforms.settlement_money import MoneyResult, MoneyRules

SCHEMA_VERSION = 1
GENERATOR = "spare-parts-order-hub transforms.settlement_file"
HASH_MODULUS = 10**10
XLSX_MAX_ROWS = 1_048_575  # a worksheet's 1,048,576 rows less the header

COLUMNS: tuple[str, ...] = (
    "company_code",
    "billing_date",
    "billing_document",
    "item",
    "billing_type",
    "category",
    "cancelled_document",
    "sap_order",
    "sap_item",
    "source",
    "crm_order_id",
    "crm_line_no",
    "delivery",
    "delivery_item",
    "material",
    "quantity",
    "currency",
    "net",
    "tax_rate_pct",
    "tax",
    "gross",
    "debit_credit",
)
AMOUNT_COLUMNS = ("net", "tax", "gross")
NUMBER_COLUMNS = frozenset({"quantity", "tax_rate_pct", *AMOUNT_COLUMNS})
_COMPANY = re.compile(r"^[A-Za-z0-9]{1,10}$")
_NAME = re.compile(r"^(?P<company>[A-Za-z0-9]{1,10})_settlement_(?P<day>\d{8})_v(?P<version>\d{2,})$")
_QTY = Decimal("0.001")
# What XML 1.0 cannot hold (control characters but tab and line feed, and U+FFFE/U+FFFF): each becomes
# U+FFFD in both files, so the CSV and the XLSX say the same and the reader sees something was there.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class SettlementFileError(ValueError):
    pass


@dataclass(frozen=True)
class SettlementLine:
    """One row of the settlement file: a billing item of a matched order line, signed."""

    company_code: str
    billing_date: date
    billing_document: str
    item: str
    billing_type: str
    category: str
    cancelled_document: str
    sap_order: str
    sap_item: str
    source: str
    crm_order_id: str
    crm_line_no: int
    delivery: str
    delivery_item: str
    material: str
    quantity: Decimal
    currency: str
    net: Decimal
    tax_rate: Decimal  # a fraction: 0.13
    tax: Decimal
    gross: Decimal


@dataclass(frozen=True)
class Written:
    version: int
    csv: Path
    xlsx: Path
    manifest: Path
    data: dict[str, Any]  # the manifest as written

    @property
    def supersedes(self) -> str | None:
        sup = self.data.get("supersedes")
        return sup["file"] if sup else None


# -- lines -------------------------------------------------------------------------------------------------


def settlement_lines(
    matched: Iterable[Matched], money: MoneyResult, company_code: str
) -> tuple[list[SettlementLine], list[tuple[Matched, str]]]:
    """The file rows of the matched order lines billed by ``company_code``, and the matched groups
    left out because the money of one of their billing items could not be computed (with why).
    A group is kept or left out whole, so an order line is never half in the file."""
    lines: list[SettlementLine] = []
    refused: list[tuple[Matched, str]] = []
    for group in matched:
        order = group.order
        assert order is not None
        mine = [b for b in group.billing if b.company_code == company_code]
        if not mine:
            continue
        errors = [f"{b.billing_document}/{b.item}: {money.errors[b.ref]}" for b in mine if b.ref in money.errors]
        missing = [f"{b.billing_document}/{b.item}: no money computed" for b in mine if b.ref not in money.lines]
        if errors or missing:
            refused.append((group, "; ".join(errors or missing)))
            continue
        for b in mine:
            m = money.lines[b.ref]
            lines.append(
                SettlementLine(
                    company_code=b.company_code,
                    billing_date=b.billing_date,
                    billing_document=b.billing_document,
                    item=b.item,
                    billing_type=b.billing_type,
                    category=b.category,
                    cancelled_document=b.cancelled_document,
                    sap_order=b.sap_order,
                    sap_item=b.sap_item,
                    source=order.source,
                    crm_order_id=order.crm_order_id,
                    crm_line_no=order.line_no,
                    delivery=b.delivery,
                    delivery_item=b.delivery_item,
                    material=b.material,
                    quantity=m.quantity,
                    currency=m.currency,
                    net=m.net,
                    tax_rate=m.tax_rate,
                    tax=m.tax,
                    gross=m.gross,
                )
            )
    return lines, refused


# -- rendering ---------------------------------------------------------------------------------------------


def _amount(value: Decimal, currency: str) -> str:
    unit = minor_unit(currency)
    shown = value.quantize(unit)
    if shown != value:
        raise SettlementFileError(f"amount {value} has more places than {currency}'s minor unit: round it first")
    return format(shown if not shown.is_zero() else shown.copy_abs(), "f")


def _quantity(value: Decimal) -> str:
    shown = value.quantize(_QTY) if value == value.quantize(_QTY) else value
    return format(shown if not shown.is_zero() else shown.copy_abs(), "f")


def _rate_pct(rate: Decimal) -> str:
    pct = (rate * 100).normalize()
    return format(pct if not pct.is_zero() else Decimal(0), "f")


def _text(value: str) -> str:
    """Line ends as LF (XML reads CR as LF), no character XML cannot hold, never a formula."""
    return safe_cell(_NOT_XML.sub("\ufffd", value.replace("\r\n", "\n").replace("\r", "\n")))


def render_rows(lines: Iterable[SettlementLine]) -> list[list[str]]:
    """The data rows as text, sorted by billing document and item (no header)."""
    rows: list[list[str]] = []
    for ln in sorted(lines, key=lambda x: (x.billing_document, x.item)):
        if ln.currency not in MINOR_UNITS:
            raise SettlementFileError(f"currency {ln.currency!r} is not supported")
        if ln.net + ln.tax != ln.gross:
            raise SettlementFileError(f"{ln.billing_document}/{ln.item}: net + tax is not gross")
        values = {
            "company_code": ln.company_code,
            "billing_date": ln.billing_date.isoformat(),
            "billing_document": ln.billing_document,
            "item": ln.item,
            "billing_type": ln.billing_type,
            "category": ln.category,
            "cancelled_document": ln.cancelled_document,
            "sap_order": ln.sap_order,
            "sap_item": ln.sap_item,
            "source": ln.source,
            "crm_order_id": ln.crm_order_id,
            "crm_line_no": str(ln.crm_line_no),
            "delivery": ln.delivery,
            "delivery_item": ln.delivery_item,
            "material": ln.material,
            "quantity": _quantity(ln.quantity),
            "currency": ln.currency,
            "net": _amount(ln.net, ln.currency),
            "tax_rate_pct": _rate_pct(ln.tax_rate),
            "tax": _amount(ln.tax, ln.currency),
            "gross": _amount(ln.gross, ln.currency),
            "debit_credit": "C" if ln.gross < 0 else "D",
        }
        rows.append([v if c in NUMBER_COLUMNS else _text(v) for c, v in ((c, values[c]) for c in COLUMNS)])
    return rows


def csv_bytes(rows: Sequence[Sequence[str]]) -> bytes:
    """RFC 4180: header + rows, minimal quoting, CRLF; UTF-8 without a BOM (see the module)."""
    buf = io.StringIO(newline="")
    writer = csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(COLUMNS)
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


# -- controls ---------------------------------------------------------------------------------------------


def _digits(document: str) -> int:
    digits = re.sub(r"\D", "", document)
    return int(digits) if digits else 0


_AMOUNT_PATTERNS: dict[int, re.Pattern[str]] = {}


def _amount_pattern(places: int) -> re.Pattern[str]:
    """An amount with exactly ``places`` decimals (compiled once per number of places)."""
    if places not in _AMOUNT_PATTERNS:
        _AMOUNT_PATTERNS[places] = re.compile(r"-?\d+" + (rf"\.\d{{{places}}}" if places else ""))
    return _AMOUNT_PATTERNS[places]


def controls(rows: Sequence[Sequence[str]]) -> dict[str, Any]:
    """Record count, hash total and totals per currency of rendered rows; SettlementFileError naming
    the row and column when a row cannot be read (wrong width, an amount not in the minor unit,
    net + tax ≠ gross, a debit/credit flag that disagrees with the amount)."""
    col = {c: i for i, c in enumerate(COLUMNS)}
    hash_total = 0
    per: dict[str, dict[str, Any]] = {}
    for n, row in enumerate(rows, start=2):  # row 1 is the header
        if len(row) != len(COLUMNS):
            raise SettlementFileError(f"row {n} has {len(row)} columns, not {len(COLUMNS)}")
        currency = row[col["currency"]]
        if currency not in MINOR_UNITS:
            raise SettlementFileError(f"row {n}: currency {currency!r} is not supported")
        places = MINOR_UNITS[currency]
        amounts: dict[str, Decimal] = {}
        for name in AMOUNT_COLUMNS:
            text = row[col[name]]
            if not _amount_pattern(places).fullmatch(text):
                raise SettlementFileError(
                    f"row {n}: {name} {text!r} is not an amount with exactly {places} decimals for {currency}"
                )
            amounts[name] = Decimal(text)
        if amounts["net"] + amounts["tax"] != amounts["gross"]:
            raise SettlementFileError(
                f"row {n}: net {amounts['net']} + tax {amounts['tax']} ≠ gross {amounts['gross']}"
            )
        flag = row[col["debit_credit"]]
        if flag != ("C" if amounts["gross"] < 0 else "D"):
            raise SettlementFileError(f"row {n}: debit_credit {flag!r} disagrees with gross {amounts['gross']}")
        try:
            rate = Decimal(row[col["tax_rate_pct"]])
        except InvalidOperation:
            raise SettlementFileError(f"row {n}: tax_rate_pct {row[col['tax_rate_pct']]!r} is not a number") from None
        hash_total = (hash_total + _digits(row[col["billing_document"]])) % HASH_MODULUS
        t = per.setdefault(
            currency,
            {"records": 0, "net": Decimal(0), "tax": Decimal(0), "tax_by_rate": defaultdict(Decimal),
             "gross": Decimal(0), "debit": Decimal(0), "credit": Decimal(0)},
        )  # fmt: skip
        t["records"] += 1
        t["net"] += amounts["net"]
        t["tax"] += amounts["tax"]
        t["tax_by_rate"][format(rate.normalize(), "f")] += amounts["tax"]
        t["gross"] += amounts["gross"]
        t["debit" if amounts["gross"] >= 0 else "credit"] += abs(amounts["gross"])
    totals: dict[str, Any] = {}
    for currency in sorted(per):
        t = per[currency]

        def money(v: Decimal, cur: str = currency) -> str:
            return _amount(v, cur)

        totals[currency] = {
            "records": t["records"],
            "net": money(t["net"]),
            "tax": money(t["tax"]),
            "tax_by_rate": {r: money(v) for r, v in sorted(t["tax_by_rate"].items(), key=lambda kv: Decimal(kv[0]))},
            "gross": money(t["gross"]),
            "debit": money(t["debit"]),
            "credit": money(t["credit"]),
        }
    return {"record_count": len(rows), "hash_total": f"{hash_total:010d}", "control_totals": totals}


# -- XLSX ---------------------------------------------------------------------------------------------------


def xlsx_bytes(rows: Sequence[Sequence[str]], ctl: Mapping[str, Any], business_day: date, title: str) -> bytes:
    """The rows (numbers as numbers) and a ``controls`` sheet; same rows → same bytes."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.writer.excel import ExcelWriter

    if len(rows) > XLSX_MAX_ROWS:
        raise SettlementFileError(f"{len(rows)} rows do not fit one worksheet ({XLSX_MAX_ROWS} at most)")
    stamp = datetime.combine(business_day, time())
    wb = Workbook(write_only=True)
    props = wb.properties
    props.creator = props.lastModifiedBy = "spare-parts order hub"
    props.title = title
    props.created = props.modified = stamp  # fixed: a regeneration writes the same bytes

    def bold(ws: Any, text: str) -> Any:
        cell = WriteOnlyCell(ws, value=text)
        cell.font = Font(bold=True)
        return cell

    def number(ws: Any, text: str, fmt: str) -> Any:
        cell = WriteOnlyCell(ws, value=Decimal(text))
        cell.number_format = fmt
        return cell

    def money_format(currency: str) -> str:
        places = MINOR_UNITS.get(currency, 2)
        return "0" + ("." + "0" * places if places else "")

    ws = wb.create_sheet("settlement")
    ws.freeze_panes = "A2"
    ws.append([bold(ws, c) for c in COLUMNS])
    cur_i = COLUMNS.index("currency")
    for row in rows:
        cells: list[Any] = []
        for c, v in zip(COLUMNS, row, strict=True):
            if c in AMOUNT_COLUMNS:
                cells.append(number(ws, v, money_format(row[cur_i])))
            elif c == "quantity":
                cells.append(number(ws, v, "0.000"))
            elif c == "tax_rate_pct":
                cells.append(number(ws, v, "0.##"))
            else:
                cells.append(v)
        ws.append(cells)

    ws = wb.create_sheet("controls")
    ws.append([bold(ws, "control"), bold(ws, "currency"), bold(ws, "value")])
    ws.append(["record_count", "", ctl["record_count"]])
    ws.append(["hash_total", "", ctl["hash_total"]])
    for currency, t in ctl["control_totals"].items():
        ws.append(["records", currency, t["records"]])
        for name in ("net", "tax", "gross", "debit", "credit"):
            ws.append([name, currency, number(ws, t[name], money_format(currency))])
        for rate, amount in t["tax_by_rate"].items():
            ws.append([f"tax at {rate} %", currency, number(ws, amount, money_format(currency))])

    raw = io.BytesIO()
    # ExcelWriter rather than Workbook.save: save() stamps "modified" with the wall clock.
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).save()
    return _fixed_zip(raw.getvalue(), stamp)


def _fixed_zip(content: bytes, stamp: datetime) -> bytes:
    """The same archive with every entry's time set to ``stamp`` (zipfile stamps the wall clock)."""
    out = io.BytesIO()
    when = (max(stamp.year, 1980), stamp.month, stamp.day, 0, 0, 0)
    with zipfile.ZipFile(io.BytesIO(content)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=when)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, src.read(info.filename))
    return out.getvalue()


def _xlsx_rows(content: bytes) -> list[list[str]]:
    """The settlement sheet's data rows back as the CSV's text (numbers formatted as written)."""
    from openpyxl import load_workbook

    wb = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    try:
        ws = wb["settlement"]
        found = list(ws.iter_rows(values_only=True))
    finally:
        wb.close()
    if not found or tuple("" if v is None else str(v) for v in found[0]) != COLUMNS:
        raise SettlementFileError("the settlement sheet's header is not the settlement columns")
    cur_i = COLUMNS.index("currency")
    rows: list[list[str]] = []
    for values in found[1:]:
        row: list[str] = []
        currency = "" if values[cur_i] is None else str(values[cur_i])
        for c, v in zip(COLUMNS, values, strict=False):
            if v is None:
                row.append("")
            elif c in NUMBER_COLUMNS and isinstance(v, int | float) and not isinstance(v, bool):
                number = Decimal(repr(v)) if isinstance(v, float) else Decimal(v)
                if c in AMOUNT_COLUMNS and currency in MINOR_UNITS:
                    row.append(format(number.quantize(minor_unit(currency)), "f"))
                elif c == "quantity":
                    row.append(_quantity(number))
                else:
                    row.append(_rate_pct(number / 100))
            else:
                row.append(str(v))
        rows.append(row + [""] * (len(values) - len(row)))
    return rows


# -- names, versions, writing ----------------------------------------------------------------------------


def base_name(company_code: str, business_day: date, version: int) -> str:
    return f"{company_code}_settlement_{business_day:%Y%m%d}_v{version:02d}"


def _versions(folder: Path, company_code: str, business_day: date) -> dict[int, set[str]]:
    """Versions present in ``folder`` → the suffixes found (csv, xlsx, manifest.json, or temporaries)."""
    found: dict[int, set[str]] = defaultdict(set)
    prefix = f"{company_code}_settlement_{business_day:%Y%m%d}_v"
    if not folder.is_dir():
        return found
    for p in folder.iterdir():
        name = p.name.lstrip(".")
        if not name.startswith(prefix):
            continue
        stem, _, suffix = name.partition(".")
        m = _NAME.match(stem)
        if m:
            found[int(m["version"])].add(suffix)
    return found


def latest_manifest(folder: Path, company_code: str, business_day: date) -> dict[str, Any] | None:
    """The manifest of the highest complete version in ``folder`` (None if there is none)."""
    for version in sorted(_versions(folder, company_code, business_day), reverse=True):
        path = folder / f"{base_name(company_code, business_day, version)}.manifest.json"
        if path.is_file():
            return json.loads(path.read_text(encoding="utf-8"))
    return None


def _create(path: Path, content: bytes) -> None:
    """Write ``content`` under a temporary name, flush it, then link it to ``path``; FileExistsError
    if ``path`` exists (never overwritten, even by a writer running beside)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, path)
        except OSError as exc:
            if isinstance(exc, FileExistsError):
                raise
            # a file system without hard links: check, then rename (not atomic against a racing writer)
            if path.exists():
                raise FileExistsError(str(path)) from None
            os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def _reason(previous: Mapping[str, Any], new: Mapping[str, Any]) -> str:
    changes: list[str] = []
    if previous.get("rounding") != new["rounding"]:
        changes.append("rounding rules changed")
    if previous.get("record_count") != new["record_count"]:
        changes.append(f"records {previous.get('record_count')} → {new['record_count']}")
    old_totals = previous.get("control_totals", {})
    for currency in sorted(set(old_totals) | set(new["control_totals"])):
        for name in ("net", "tax", "gross"):
            a = old_totals.get(currency, {}).get(name)
            b = new["control_totals"].get(currency, {}).get(name)
            if a != b:
                changes.append(f"{currency} {name} {a or '—'} → {b or '—'}")
    return "inputs changed: " + ("; ".join(changes) if changes else "line contents changed, totals equal")


def write_settlement(
    folder: Path,
    company_code: str,
    business_day: date,
    lines: Sequence[SettlementLine],
    previous_manifest: Mapping[str, Any] | Path | None,
    run_id: str,
    rules: MoneyRules,
    *,
    data_interval: tuple[datetime, datetime] | None = None,
    created_at: datetime | None = None,
    reason: str | None = None,
) -> Written | None:
    """Write the day's settlement files and manifest as the next version, or nothing (None) when the
    rows and rules are those of the latest version.

    ``previous_manifest``: the latest version's manifest (as read, or its path) as the caller knows
    it, e.g. from the delivery ledger; None → the latest complete manifest found in ``folder``. The
    new version is above both it and every version present in ``folder``. ``reason`` overrides the
    ``supersedes`` reason computed from what changed. SettlementFileError if a line belongs to another
    company code or cannot be rendered."""
    if not _COMPANY.match(company_code):
        raise SettlementFileError(f"company code {company_code!r} is not 1-10 letters or digits")
    others = sorted({ln.company_code for ln in lines} - {company_code})
    if others:
        raise SettlementFileError(f"lines of company code {', '.join(others)} in the file of {company_code}")
    folder.mkdir(parents=True, exist_ok=True)
    if isinstance(previous_manifest, Path):
        previous: Mapping[str, Any] | None = json.loads(previous_manifest.read_text(encoding="utf-8"))
    else:
        previous = (
            previous_manifest if previous_manifest is not None else latest_manifest(folder, company_code, business_day)
        )

    if previous is not None and (
        previous.get("company_code") != company_code or previous.get("business_day") != business_day.isoformat()
    ):
        raise SettlementFileError(
            f"the previous manifest is of {previous.get('company_code')} {previous.get('business_day')}, "
            f"not of {company_code} {business_day.isoformat()}"
        )
    rows = render_rows(lines)
    content = csv_bytes(rows)
    ctl = controls(rows)
    rounding = rules.as_manifest(ctl["control_totals"])
    if (
        previous is not None
        and previous.get("files", {}).get("csv", {}).get("sha256") == _sha256(content)
        and (previous.get("rounding") == rounding)
    ):
        return None

    present = _versions(folder, company_code, business_day)
    version = max([0, *present, int(previous["version"]) if previous else 0]) + 1
    name = base_name(company_code, business_day, version)
    xlsx = xlsx_bytes(rows, ctl, business_day, f"{company_code} settlement {business_day.isoformat()} v{version:02d}")
    start, end = data_interval or (
        datetime.combine(business_day, time(), UTC),
        datetime.combine(date.fromordinal(business_day.toordinal() + 1), time(), UTC),
    )
    manifest: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "generator": GENERATOR,
        "company_code": company_code,
        "business_day": business_day.isoformat(),
        "version": version,
        "run_id": run_id,
        "created_at": (created_at or datetime.now(UTC)).astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "data_interval": {"start": start.isoformat(), "end": end.isoformat()},
        "rounding": rounding,
        "columns": list(COLUMNS),
        **ctl,
        "files": {
            "csv": {"name": f"{name}.csv", "sha256": _sha256(content), "size": len(content)},
            "xlsx": {"name": f"{name}.xlsx", "sha256": _sha256(xlsx), "size": len(xlsx)},
        },
        "supersedes": None,
    }
    if previous is not None:
        manifest["supersedes"] = {
            "file": previous["files"]["csv"]["name"],
            "version": int(previous["version"]),
            "manifest": f"{base_name(company_code, business_day, int(previous['version']))}.manifest.json",
            "reason": reason or _reason(previous, manifest),
        }
    csv_path, xlsx_path, manifest_path = (folder / f"{name}{s}" for s in (".csv", ".xlsx", ".manifest.json"))
    _create(csv_path, content)
    _create(xlsx_path, xlsx)
    _create(manifest_path, (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    return Written(version, csv_path, xlsx_path, manifest_path, manifest)


# -- verify ---------------------------------------------------------------------------------------------------


def manifest_path_of(path: Path) -> Path:
    name = path.name
    for suffix in (".manifest.json", ".csv", ".xlsx"):
        if name.endswith(suffix):
            return path.with_name(name[: -len(suffix)] + ".manifest.json")
    raise SettlementFileError(f"{name} is not a settlement CSV, XLSX or manifest")


def _compare(kind: str, label: str, found: Mapping[str, Any], stated: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    if found["record_count"] != stated.get("record_count"):
        problems.append(
            f"the {kind} {label} has {found['record_count']} records, the manifest says {stated.get('record_count')}"
        )
    if found["hash_total"] != stated.get("hash_total"):
        problems.append(
            f"the {kind} {label}'s hash total is {found['hash_total']}, the manifest says {stated.get('hash_total')}"
        )
    mine, theirs = found["control_totals"], stated.get("control_totals") or {}
    for currency in sorted(set(mine) | set(theirs)):
        a, b = mine.get(currency), theirs.get(currency)
        if a is None or b is None:
            where = "the manifest" if a is None else f"the {kind}"
            problems.append(f"{currency} totals are only in {where}")
            continue
        for key in ("records", "net", "tax", "gross", "debit", "credit", "tax_by_rate"):
            if a.get(key) != b.get(key):
                problems.append(
                    f"{currency} {key.replace('_', ' ')} in the {kind} {label} is {a.get(key)}, "
                    f"the manifest says {b.get(key)}"
                )
    return problems


def verify(path: Path) -> list[str]:
    """Every problem found re-reading ``path`` (a settlement CSV or XLSX, or a manifest: then all its
    files) against its manifest, as sentences; empty = the file is what its manifest says.

    Checks: the manifest is readable and of this schema; the file is there under the name the
    manifest gives, with its size and SHA-256; its rows can be read (columns, amounts in the minor
    unit, net + tax = gross, debit/credit); record count, hash total and every control total
    recomputed from the rows equal the manifest's."""
    path = Path(path)
    try:
        mpath = manifest_path_of(path)
    except SettlementFileError as exc:
        return [str(exc)]
    if not mpath.is_file():
        return [f"no manifest {mpath.name} beside {path.name}"]
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return [f"the manifest {mpath.name} cannot be read: {exc}"]
    if not isinstance(manifest, dict) or manifest.get("schema_version") != SCHEMA_VERSION:
        return [f"the manifest {mpath.name} is not a settlement manifest of schema version {SCHEMA_VERSION}"]
    problems: list[str] = []
    stem = mpath.name[: -len(".manifest.json")]
    m = _NAME.match(stem)
    if not m or int(m["version"]) != manifest.get("version") or m["company"] != manifest.get("company_code"):
        problems.append(f"the manifest {mpath.name} states version {manifest.get('version')} of "
                        f"{manifest.get('company_code')}, its name says otherwise")  # fmt: skip
    if manifest.get("columns") != list(COLUMNS):
        problems.append("the manifest's columns are not the settlement columns of this schema version")
    files = manifest.get("files") or {}
    if path.name.endswith(".manifest.json"):
        kinds = [k for k in ("csv", "xlsx") if k in files]
    else:
        kinds = ["csv" if path.name.endswith(".csv") else "xlsx"]
    for kind in kinds:
        problems += _verify_file(mpath.parent, kind, files.get(kind), manifest, stem)
    return problems


def _verify_file(
    folder: Path, kind: str, stated: Mapping[str, Any] | None, manifest: Mapping[str, Any], stem: str
) -> list[str]:
    expected_name = f"{stem}.{kind}"
    if not stated:
        return [f"the manifest lists no {kind.upper()} file"]
    if stated.get("name") != expected_name:
        return [f"the manifest names the {kind.upper()} file {stated.get('name')}, not {expected_name}"]
    fpath = folder / expected_name
    if not fpath.is_file():
        return [f"{expected_name} is missing"]
    content = fpath.read_bytes()
    problems: list[str] = []
    if len(content) != stated.get("size"):
        problems.append(f"{expected_name} has {len(content)} bytes, the manifest says {stated.get('size')}")
    if _sha256(content) != stated.get("sha256"):
        problems.append(f"{expected_name}'s SHA-256 is not the manifest's: the file was changed after it was written")
    try:
        rows = _csv_rows(content) if kind == "csv" else _xlsx_rows(content)
        found = controls(rows)
    except SettlementFileError as exc:
        return [*problems, f"{expected_name}: {exc}"]
    except Exception as exc:  # noqa: BLE001 - an unreadable file is a problem to report, not a crash
        return [*problems, f"{expected_name} cannot be read as {kind.upper()}: {exc}"]
    return problems + _compare(kind.upper(), expected_name, found, manifest)


def _csv_rows(content: bytes) -> list[list[str]]:
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise SettlementFileError(f"not UTF-8 ({exc})") from None
    if text.startswith("\ufeff"):
        raise SettlementFileError("starts with a byte-order mark, which the settlement CSV never has")
    rows = list(csv.reader(io.StringIO(text, newline=""), strict=True))
    if not rows or tuple(rows[0]) != COLUMNS:
        raise SettlementFileError("the header is not the settlement columns")
    return rows[1:]
