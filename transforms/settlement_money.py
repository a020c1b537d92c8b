"""Settlement money: net, tax and gross of each billed line, exact, as the settings say (DESIGN §3.3).

Pure functions on the dataclasses of :mod:`transforms.settlement_match`; rounding itself is
:mod:`transforms.money` (``quantize`` and ``line_taxes``), so the hub rounds one way everywhere.

- **Amounts** come as SAP sends them (``Edm.Decimal`` strings, read with :func:`transforms.money.to_decimal`),
  always positive; the billing document's category gives the sign (:func:`document_sign`): invoices and
  debit memos count positive, credit memos and invoice cancellations negative, a credit memo's
  cancellation positive again. Everything is computed on SAP's positive amounts and signed last, so
  a credit memo is the exact mirror of the invoice it reverses (no half-cent drift between them).
- **Net** is SAP's item net amount in the currency's minor unit (``rules.rounding``).
- **Tax** is recomputed, not copied: net × the line's rate, rounded per line or per billing document
  (``rules.tax_scope``, :func:`transforms.money.line_taxes`). The rate is the order line's rate when it
  has one, else the ``standard`` rate of the country on the billing date (:class:`TaxTable`); a rate
  the table does not know on that date is a :class:`TaxRateError` for that line.
- **Gross** = net + tax.
- **Totals**: :func:`compare_with_sap` sums the recomputed lines per billing document and per currency
  and compares them with SAP's billing header totals (``TotalNetAmount``, ``TaxAmount``,
  ``TotalGrossAmount``) to the minor unit; each difference is a :class:`TotalsDifference`.

The domain reference's vector: three lines of 0.35 at 13 % give tax 0.15 per line, 0.14 per document.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal

from transforms.money import MINOR_UNITS, TAX_ROUNDING_SCOPES, MoneyError, line_taxes, quantize

ROUNDING_MODES: dict[str, str] = {"ROUND_HALF_UP": ROUND_HALF_UP, "ROUND_HALF_EVEN": ROUND_HALF_EVEN}

# Billing document categories (SAP VBTYP) and types, and the sign each gives the amounts.
INVOICE_CATEGORIES = frozenset({"M", "P"})  # invoice (F2), debit memo (L2)
CREDIT_CATEGORIES = frozenset({"O"})  # credit memo (G2)
CANCELLATION_CATEGORIES = frozenset({"N", "S"})  # invoice cancellation (S1), credit memo cancellation (S2)
_SIGN_BY_CATEGORY = {"M": 1, "P": 1, "O": -1, "N": -1, "S": 1}
_SIGN_BY_TYPE = {"F1": 1, "F2": 1, "L2": 1, "G2": -1, "RE": -1, "S1": -1, "S2": 1}
CANCELLATION_TYPES = frozenset({"S1", "S2"})


@dataclass(frozen=True)
class MoneyRules:
    """How amounts are rounded: recorded as they are in the settlement manifest.

    ``rounding`` is a :mod:`decimal` mode name (``ROUND_HALF_UP`` | ``ROUND_HALF_EVEN``, settings
    ``tax.rounding_mode``); ``tax_scope`` is ``per_line`` | ``per_document`` (settings ``tax.rounding_scope``).
    """

    rounding: str = "ROUND_HALF_UP"
    tax_scope: str = "per_line"
    country: str = "CN"  # whose tax table gives a line's rate when the order line has none

    def __post_init__(self) -> None:
        if self.rounding not in ROUNDING_MODES:
            raise MoneyError(f"rounding mode {self.rounding!r} is not one of {', '.join(ROUNDING_MODES)}")
        if self.tax_scope not in TAX_ROUNDING_SCOPES:
            raise MoneyError(f"tax rounding scope {self.tax_scope!r} is not one of {', '.join(TAX_ROUNDING_SCOPES)}")

    @property
    def mode(self) -> str:
        return ROUNDING_MODES[self.rounding]

    def as_manifest(self, currencies: Iterable[str] = ()) -> dict[str, object]:
        return {
            "mode": self.rounding,
            "tax_scope": self.tax_scope,
            "country": self.country,
            "minor_units": {c: MINOR_UNITS[c] for c in sorted(set(currencies))},
        }


# -- tax rates, effective-dated ----------------------------------------------------------------------


@dataclass(frozen=True)
class TaxRate:
    """One rate of one country's category, valid from ``valid_from`` until the next row of the same
    country and category starts."""

    country: str
    rate: Decimal
    valid_from: date
    category: str = "standard"


class TaxRateError(MoneyError):
    pass


# China VAT: 17/13 % until 2017-06-30, 17/11 % to 2018-04-30, 16/10 % to 2019-03-31, then 13/9 %
# (MOF/STA/GACC Announcement [2019] No. 39; the VAT Law of 2026 keeps 13/9/6 %); 6 % services; 0 % exports.
CN_VAT: tuple[TaxRate, ...] = (
    TaxRate("CN", Decimal("0.17"), date(1994, 1, 1), "standard"),
    TaxRate("CN", Decimal("0.16"), date(2018, 5, 1), "standard"),
    TaxRate("CN", Decimal("0.13"), date(2019, 4, 1), "standard"),
    TaxRate("CN", Decimal("0.13"), date(1994, 1, 1), "reduced"),
    TaxRate("CN", Decimal("0.11"), date(2017, 7, 1), "reduced"),
    TaxRate("CN", Decimal("0.10"), date(2018, 5, 1), "reduced"),
    TaxRate("CN", Decimal("0.09"), date(2019, 4, 1), "reduced"),
    TaxRate("CN", Decimal("0.06"), date(2016, 5, 1), "services"),
    TaxRate("CN", Decimal("0"), date(1994, 1, 1), "zero"),
)


class TaxTable:
    """Rates by country and category, effective-dated (``valid_from``)."""

    def __init__(self, rates: Iterable[TaxRate] = CN_VAT) -> None:
        self._rows: dict[tuple[str, str], list[TaxRate]] = defaultdict(list)
        for row in rates:
            if not (0 <= row.rate < 1):
                raise TaxRateError(f"tax rate {row.rate} of {row.country}/{row.category} is not a fraction in [0, 1)")
            self._rows[(row.country, row.category)].append(row)
        for key, rows in self._rows.items():
            rows.sort(key=lambda r: r.valid_from)
            days = [r.valid_from for r in rows]
            if len(set(days)) != len(days):
                raise TaxRateError(f"two rates of {key[0]}/{key[1]} start on the same day")
        self._on: dict[tuple[str, date], dict[str, Decimal]] = {}  # rates_on, computed once per day

    def rates_on(self, country: str, day: date) -> dict[str, Decimal]:
        """The rate of each category of ``country`` in force on ``day``."""
        cached = self._on.get((country, day))
        if cached is None:
            cached = self._on[(country, day)] = self._rates_on(country, day)
        return dict(cached)

    def _rates_on(self, country: str, day: date) -> dict[str, Decimal]:
        found: dict[str, Decimal] = {}
        for (ctry, category), rows in self._rows.items():
            if ctry != country:
                continue
            current = [r for r in rows if r.valid_from <= day]
            if current:
                found[category] = current[-1].rate
        return found

    def rate(self, country: str, day: date, category: str = "standard") -> Decimal:
        rates = self.rates_on(country, day)
        if category not in rates:
            raise TaxRateError(f"no {category} tax rate of {country} in force on {day.isoformat()}")
        return rates[category]

    def check(self, country: str, day: date, rate: Decimal) -> Decimal:
        """``rate`` if it is one of the country's rates in force on ``day``, else a TaxRateError."""
        valid = set(self.rates_on(country, day).values())
        if rate not in valid:
            shown = ", ".join(f"{_pct(r)} %" for r in sorted(valid)) or "none"
            raise TaxRateError(
                f"tax rate {_pct(rate)} % is not a rate of {country} on {day.isoformat()} (in force: {shown})"
            )
        return rate


def _pct(rate: Decimal) -> str:
    return format((rate * 100).normalize() + 0, "f")


# -- signs ---------------------------------------------------------------------------------------------


def document_sign(category: str, billing_type: str = "") -> int:
    """+1 or −1: the sign a billing document's (positive) SAP amounts take in the settlement."""
    if category in _SIGN_BY_CATEGORY:
        return _SIGN_BY_CATEGORY[category]
    if billing_type in _SIGN_BY_TYPE:
        return _SIGN_BY_TYPE[billing_type]
    raise MoneyError(f"billing document category {category!r} / type {billing_type!r} has no known sign")


def is_cancellation(category: str, billing_type: str = "") -> bool:
    return category in CANCELLATION_CATEGORIES or billing_type in CANCELLATION_TYPES


# -- line money ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineMoney:
    """The money of one billing item, signed (credit memos and cancellations negative)."""

    billing_document: str
    item: str
    currency: str
    sign: int
    quantity: Decimal
    net: Decimal
    tax_rate: Decimal
    tax: Decimal
    gross: Decimal


@dataclass(frozen=True)
class MoneyInput:
    """What :func:`line_money` needs of a billing item (a :class:`~transforms.settlement_match.BillingLine`
    has all of it) and the rate its order line states, if any."""

    billing_document: str
    item: str
    category: str
    billing_type: str
    currency: str
    quantity: Decimal
    net_amount: Decimal
    billing_date: date
    tax_rate: Decimal | None = None


@dataclass
class MoneyResult:
    lines: dict[tuple[str, str], LineMoney] = field(default_factory=dict)  # (document, item) → money
    errors: dict[tuple[str, str], str] = field(default_factory=dict)  # (document, item) → why not


def line_money(items: Sequence[MoneyInput], rules: MoneyRules, table: TaxTable | None = None) -> MoneyResult:
    """Net, tax and gross of each item. Items of one billing document are taxed together under
    ``per_document``; a document with an item whose rate is refused has its other items taxed
    without it (the refused item is in ``errors``)."""
    table = table or TaxTable()
    result = MoneyResult()
    by_document: dict[str, list[tuple[MoneyInput, Decimal]]] = defaultdict(list)
    for it in items:
        key = (it.billing_document, it.item)
        try:
            if it.currency not in MINOR_UNITS:
                raise MoneyError(f"currency {it.currency!r} is not supported")
            rate = (
                table.check(rules.country, it.billing_date, it.tax_rate)
                if it.tax_rate is not None
                else table.rate(rules.country, it.billing_date)
            )
            document_sign(it.category, it.billing_type)
        except MoneyError as exc:
            result.errors[key] = str(exc)
            continue
        by_document[it.billing_document].append((it, rate))
    for document, entries in by_document.items():
        # one document, one currency in SAP; split defensively if an extract mixes them
        by_currency: dict[str, list[tuple[MoneyInput, Decimal]]] = defaultdict(list)
        for it, rate in entries:
            by_currency[it.currency].append((it, rate))
        for currency, group in by_currency.items():
            nets = [quantize(abs(it.net_amount), currency, rules.mode) for it, _ in group]
            taxes = line_taxes(
                [(n, r) for n, (_, r) in zip(nets, group, strict=True)], currency, rules.tax_scope, rules.mode
            )
            for (it, rate), net, tax in zip(group, nets, taxes, strict=True):
                sign = document_sign(it.category, it.billing_type)
                value_sign = -1 if it.net_amount < 0 else 1  # SAP sends positive amounts; keep a negative one
                s = sign * value_sign
                result.lines[(document, it.item)] = LineMoney(
                    billing_document=document,
                    item=it.item,
                    currency=currency,
                    sign=sign,
                    quantity=sign * it.quantity,
                    net=s * net,
                    tax_rate=rate,
                    tax=s * tax,
                    gross=s * (net + tax),
                )
    return result


# -- totals against SAP's billing headers ------------------------------------------------------------------


@dataclass(frozen=True)
class BillingHeader:
    """SAP's totals of one billing document (``A_BillingDocument``), positive as SAP sends them."""

    billing_document: str
    category: str
    billing_type: str
    currency: str
    total_net: Decimal
    total_tax: Decimal
    total_gross: Decimal
    company_code: str = ""


@dataclass(frozen=True)
class TotalsDifference:
    """A total the settlement recomputed that is not SAP's, to the minor unit. ``billing_document`` is
    empty for the per-currency total."""

    currency: str
    billing_document: str
    amount: str  # net | tax | gross
    ours: Decimal
    sap: Decimal

    @property
    def difference(self) -> Decimal:
        return self.ours - self.sap

    def sentence(self) -> str:
        where = f"billing document {self.billing_document}" if self.billing_document else "all documents"
        return (
            f"{where}: {self.amount} {self.currency} {self.ours} recomputed, SAP says {self.sap} "
            f"(difference {self.difference})"
        )


@dataclass(frozen=True)
class CurrencyTotals:
    net: Decimal
    tax: Decimal
    gross: Decimal


def compare_with_sap(
    lines: Iterable[LineMoney], headers: Iterable[BillingHeader], rules: MoneyRules
) -> tuple[dict[str, CurrencyTotals], list[TotalsDifference]]:
    """Recomputed totals per currency (signed) and every difference with SAP's header totals, per
    billing document and per currency, to the currency's minor unit. A header without lines, or
    lines without a header, differ by the whole amount."""
    lines = list(lines)
    ours_doc: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 3)
    signs: dict[str, int] = {}
    for ln in lines:
        signs[ln.billing_document] = ln.sign
        acc = ours_doc[(ln.billing_document, ln.currency)]
        # back to SAP's positive view of the document to compare with its header
        acc[0] += ln.sign * ln.net
        acc[1] += ln.sign * ln.tax
        acc[2] += ln.sign * ln.gross
    sap_doc: dict[tuple[str, str], list[Decimal]] = {}
    for h in headers:
        sign = document_sign(h.category, h.billing_type)
        signs[h.billing_document] = sign
        sap_doc[(h.billing_document, h.currency)] = [
            quantize(v, h.currency, rules.mode) for v in (h.total_net, h.total_tax, h.total_gross)
        ]
    diffs: list[TotalsDifference] = []
    per_currency_ours: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 3)
    per_currency_sap: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 3)
    zero = [Decimal(0)] * 3
    for key in sorted(set(ours_doc) | set(sap_doc)):
        document, currency = key
        ours, sap = ours_doc.get(key, zero), sap_doc.get(key, zero)
        sign = signs.get(document, 1)
        for i, name in enumerate(("net", "tax", "gross")):
            per_currency_ours[currency][i] += sign * ours[i]
            per_currency_sap[currency][i] += sign * sap[i]
            if ours[i] != sap[i]:
                diffs.append(TotalsDifference(currency, document, name, ours[i], sap[i]))
    totals: dict[str, CurrencyTotals] = {}
    for currency in sorted(set(per_currency_ours) | set(per_currency_sap)):
        o, s = per_currency_ours[currency], per_currency_sap[currency]
        totals[currency] = CurrencyTotals(*o)
        for i, name in enumerate(("net", "tax", "gross")):
            if o[i] != s[i]:
                diffs.append(TotalsDifference(currency, "", name, o[i], s[i]))
    return totals, diffs
