"""Three-way match per order line: ordered (hub/SAP order) vs delivered (goods issue) vs billed (billing item).

Pure: plain dataclasses in, a :class:`MatchResult` out. Every input line ends in exactly one output:
a :class:`Matched` group (its billing lines go to the settlement), a :class:`MatchException` (with a
reason from :data:`REASONS`), or :attr:`MatchResult.pending` (an order line nothing has happened to
yet, or whose unbilled deliveries are all after the cut-off).

Lines are grouped by the SAP order item ``(sap_order, sap_item)``. Quantities and amounts of billing
lines are signed by their document's category (:func:`transforms.settlement_money.document_sign`):
invoices and debit memos add, credit memos (category O, type G2) and invoice cancellations (S1, N)
subtract, a credit memo's cancellation (S2, S) adds again; so an invoice and its cancellation, or an
invoice and a credit memo, net out inside their order line. Returns deliveries are expected with a
negative ``issued_qty``. A delivery without a goods issue date has not left the warehouse and counts
as not delivered.

The match is cumulative: it compares everything it is given for an order line, so the flow passes
every billing line and delivery of the order lines it settles, not only the day's.

Decision per order line, first that applies:

1. ``missing_order``: deliveries or billing lines whose order line is not among the inputs.
2. ``currency_mismatch``: a billing line in another currency than the order line.
3. ``cancelled``: billing lines that net to zero quantity and amount with a cancellation (or a
   document SAP flags cancelled) among them; or a line SAP flags cancelled whose cancellation
   document is not in the extract.
4. no billing (net zero quantity, no cancellation): ``missing_billing`` if the quantity delivered
   (goods issue) by the cut-off exceeds the tolerance, else pending.
5. ``billing_without_delivery``: billed, nothing delivered.
6. ``over_billed``: billed more than ordered (beyond ``qty``).
7. ``under_delivered``: billed more than delivered (beyond ``qty``).
8. ``missing_billing``: billed less than delivered by the cut-off (beyond ``qty``).
9. ``price_difference``: billed net differs from billed quantity × the order's unit price by more
   than ``amount`` and more than ``pct`` % of the expected amount (within either is tolerated).
10. otherwise matched.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from transforms.settlement_money import MoneyInput, document_sign, is_cancellation

REASONS: tuple[str, ...] = (
    "over_billed",
    "under_delivered",
    "price_difference",
    "missing_billing",
    "billing_without_delivery",
    "currency_mismatch",
    "cancelled",
    "missing_order",
)

Key = tuple[str, str]  # (sap_order, sap_item)


@dataclass(frozen=True)
class OrderLine:
    source: str
    crm_order_id: str
    line_no: int
    sap_order: str
    sap_item: str
    material: str
    ordered_qty: Decimal
    unit_price: Decimal
    currency: str
    net_amount: Decimal | None = None  # the order line's net; None → unit_price × ordered_qty
    tax_rate: Decimal | None = None  # a fraction (0.13); None → the country's standard rate

    @property
    def key(self) -> Key:
        return (self.sap_order, self.sap_item)


@dataclass(frozen=True)
class DeliveredLine:
    delivery: str
    item: str
    sap_order: str
    sap_item: str
    material: str
    issued_qty: Decimal
    goods_issue_date: date | None

    @property
    def key(self) -> Key:
        return (self.sap_order, self.sap_item)


@dataclass(frozen=True)
class BillingLine:
    billing_document: str
    item: str
    billing_type: str  # F2, G2, L2, S1, S2, …
    category: str  # SAP SDDocumentCategory: M invoice, O credit memo, P debit memo, N/S cancellations
    is_cancelled: bool
    cancelled_document: str  # of a cancellation: the document it cancels; else ""
    sap_order: str
    sap_item: str
    delivery: str
    delivery_item: str
    material: str
    quantity: Decimal  # positive, as SAP sends it
    net_amount: Decimal
    tax_amount: Decimal
    gross_amount: Decimal
    currency: str
    billing_date: date
    company_code: str

    @property
    def key(self) -> Key:
        return (self.sap_order, self.sap_item)

    @property
    def ref(self) -> tuple[str, str]:
        return (self.billing_document, self.item)

    @property
    def sign(self) -> int:
        return document_sign(self.category, self.billing_type)

    @property
    def cancellation(self) -> bool:
        return is_cancellation(self.category, self.billing_type)


@dataclass(frozen=True)
class Tolerances:
    """Filled by the flow from the settings. ``qty`` in the order's unit, ``amount`` in the order's
    currency, ``pct`` in percent of the expected net amount. Zero everywhere = exact match."""

    qty: Decimal = Decimal(0)
    amount: Decimal = Decimal(0)
    pct: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        if min(self.qty, self.amount, self.pct) < 0:
            raise ValueError("tolerances are never negative")


@dataclass(frozen=True)
class Figures:
    """The three sides of one order line, summed and signed."""

    ordered_qty: Decimal | None
    delivered_qty: Decimal
    delivered_by_cutoff: Decimal
    billed_qty: Decimal
    expected_net: Decimal | None  # billed quantity at the order's price
    billed_net: Decimal


@dataclass(frozen=True)
class Group:
    """The lines of one SAP order item, as the match saw them."""

    key: Key
    order: OrderLine | None
    deliveries: tuple[DeliveredLine, ...]
    billing: tuple[BillingLine, ...]
    figures: Figures


@dataclass(frozen=True)
class Matched(Group):
    """Ordered, delivered and billed agree: the billing lines go to the settlement."""


@dataclass(frozen=True)
class Pending(Group):
    """Nothing to settle yet: ordered, and not delivered by the cut-off nor billed."""


@dataclass(frozen=True)
class MatchException(Group):
    reason: str = ""
    detail: str = ""


@dataclass
class MatchResult:
    matched: list[Matched] = field(default_factory=list)
    exceptions: list[MatchException] = field(default_factory=list)
    pending: list[Pending] = field(default_factory=list)

    def by_reason(self) -> dict[str, int]:
        counts = dict.fromkeys(REASONS, 0)
        for exc in self.exceptions:
            counts[exc.reason] += 1
        return counts

    def groups(self) -> list[Group]:
        return [*self.matched, *self.exceptions, *self.pending]


class MatchInputError(ValueError):
    pass


def _sum(values: Iterable[Decimal]) -> Decimal:
    return sum(values, Decimal(0))


def _expected_net(order: OrderLine, billed_qty: Decimal) -> Decimal:
    if order.net_amount is not None and billed_qty == order.ordered_qty:
        return order.net_amount
    return billed_qty * order.unit_price


def _within(diff: Decimal, expected: Decimal, tol: Tolerances) -> bool:
    diff = abs(diff)
    return diff <= tol.amount or diff * 100 <= tol.pct * abs(expected)


def match(
    orders: Sequence[OrderLine],
    deliveries: Sequence[DeliveredLine],
    billing: Sequence[BillingLine],
    tolerances: Tolerances = Tolerances(),  # noqa: B008 - frozen
    cutoff: date | None = None,
) -> MatchResult:
    """Match each order line with its deliveries and billing lines (see the module for the rules).

    ``cutoff``: deliveries with a goods issue after it may still be unbilled without being
    ``missing_billing`` (None: every goods issue counts). Two order lines for one SAP order item, or
    a billing item given twice, are a :class:`MatchInputError` (the input is wrong, not the data)."""
    order_by_key: dict[Key, OrderLine] = {}
    for o in orders:
        if o.key in order_by_key:
            raise MatchInputError(f"two order lines for SAP order {o.sap_order} item {o.sap_item}")
        order_by_key[o.key] = o
    seen: set[tuple[str, str]] = set()
    for b in billing:
        if b.ref in seen:
            raise MatchInputError(f"billing document {b.billing_document} item {b.item} given twice")
        seen.add(b.ref)
        b.sign  # noqa: B018 - an unknown category is an input error, raised here
    seen_deliveries: set[tuple[str, str]] = set()
    for d in deliveries:
        if (d.delivery, d.item) in seen_deliveries:
            raise MatchInputError(f"delivery {d.delivery} item {d.item} given twice")
        seen_deliveries.add((d.delivery, d.item))

    deliveries_by_key: dict[Key, list[DeliveredLine]] = defaultdict(list)
    for d in deliveries:
        deliveries_by_key[d.key].append(d)
    billing_by_key: dict[Key, list[BillingLine]] = defaultdict(list)
    for b in billing:
        billing_by_key[b.key].append(b)
    cancelled_documents = {b.cancelled_document for b in billing if b.cancellation and b.cancelled_document}

    result = MatchResult()
    for key in sorted(set(order_by_key) | set(deliveries_by_key) | set(billing_by_key)):
        order = order_by_key.get(key)
        ds = tuple(sorted(deliveries_by_key.get(key, ()), key=lambda d: (d.delivery, d.item)))
        bs = tuple(sorted(billing_by_key.get(key, ()), key=lambda b: b.ref))
        _decide(result, key, order, ds, bs, tolerances, cutoff, cancelled_documents)
    return result


def _decide(
    result: MatchResult,
    key: Key,
    order: OrderLine | None,
    ds: tuple[DeliveredLine, ...],
    bs: tuple[BillingLine, ...],
    tol: Tolerances,
    cutoff: date | None,
    cancelled_documents: set[str],
) -> None:
    issued = [d for d in ds if d.goods_issue_date is not None]
    delivered = _sum(d.issued_qty for d in issued)
    by_cutoff = _sum(d.issued_qty for d in issued if cutoff is None or d.goods_issue_date <= cutoff)
    billed_qty = _sum(b.sign * b.quantity for b in bs)
    billed_net = _sum(b.sign * b.net_amount for b in bs)
    expected = _expected_net(order, billed_qty) if order is not None else None
    figures = Figures(
        ordered_qty=order.ordered_qty if order else None,
        delivered_qty=delivered,
        delivered_by_cutoff=by_cutoff,
        billed_qty=billed_qty,
        expected_net=expected,
        billed_net=billed_net,
    )

    def exception(reason: str, detail: str) -> None:
        result.exceptions.append(MatchException(key, order, ds, bs, figures, reason=reason, detail=detail))

    where = f"SAP order {key[0]} item {key[1]}"
    if order is None:
        exception("missing_order", f"{where}: delivered or billed, but the order line is not among the inputs")
        return
    other = sorted({b.currency for b in bs} - {order.currency})
    if other:
        exception("currency_mismatch", f"{where}: ordered in {order.currency}, billed in {', '.join(other)}")
        return
    touched_by_cancellation = any(b.cancellation or b.is_cancelled for b in bs)
    orphans = sorted({b.billing_document for b in bs if b.is_cancelled} - cancelled_documents)
    if touched_by_cancellation and billed_qty == 0 and billed_net == 0:
        exception("cancelled", f"{where}: billed and cancelled, nothing billed on balance")
        return
    if orphans:
        exception(
            "cancelled",
            f"{where}: SAP flags billing document {', '.join(orphans)} cancelled, but its cancellation "
            "document is not in the extract",
        )
        return
    q = tol.qty
    if not bs:
        if by_cutoff > q:
            exception("missing_billing", f"{where}: {by_cutoff} delivered by the cut-off, nothing billed")
        else:
            result.pending.append(Pending(key, order, ds, bs, figures))
        return
    if delivered <= q and billed_qty > q:
        exception("billing_without_delivery", f"{where}: {billed_qty} billed, nothing delivered")
        return
    if billed_qty > order.ordered_qty + q:
        exception("over_billed", f"{where}: {billed_qty} billed, {order.ordered_qty} ordered")
        return
    if billed_qty > delivered + q:
        exception("under_delivered", f"{where}: {billed_qty} billed, {delivered} delivered")
        return
    if billed_qty < by_cutoff - q:
        exception("missing_billing", f"{where}: {by_cutoff} delivered by the cut-off, {billed_qty} billed")
        return
    assert expected is not None
    if not _within(billed_net - expected, expected, tol):
        exception(
            "price_difference",
            f"{where}: billed net {billed_net} {order.currency}, {expected} expected at the order's price "
            f"{order.unit_price} (difference {billed_net - expected})",
        )
        return
    result.matched.append(Matched(key, order, ds, bs, figures))


def outputs_of(result: MatchResult) -> dict[tuple[str, tuple[str, str]], list[Group]]:
    """Which outputs hold each input line: ``("order", (sap_order, sap_item))``, ``("delivery",
    (delivery, item))``, ``("billing", (document, item))`` → the groups naming it (exactly one each)."""
    found: dict[tuple[str, tuple[str, str]], list[Group]] = defaultdict(list)
    for group in result.groups():
        if group.order is not None:
            found[("order", group.order.key)].append(group)
        for d in group.deliveries:
            found[("delivery", (d.delivery, d.item))].append(group)
        for b in group.billing:
            found[("billing", b.ref)].append(group)
    return dict(found)


def money_inputs(billing: Iterable[BillingLine], orders: Iterable[OrderLine]) -> list[MoneyInput]:
    """What :func:`transforms.settlement_money.line_money` needs of each billing line: its amounts and
    the tax rate its order line states (None: the country's standard rate on the billing date)."""
    rate_by_key = {o.key: o.tax_rate for o in orders}
    return [
        MoneyInput(
            billing_document=b.billing_document,
            item=b.item,
            category=b.category,
            billing_type=b.billing_type,
            currency=b.currency,
            quantity=b.quantity,
            net_amount=b.net_amount,
            billing_date=b.billing_date,
            tax_rate=rate_by_key.get(b.key),
        )
        for b in billing
    ]
