"""Qimen ``stockout.confirm`` messages read into typed confirms, and the confirms of a delivery combined.

Input is what ``connectors/qimen_xml.parse_request`` gives: canonical camelCase keys, every leaf a
``str``, every list a list (logistics reference §3.3). :func:`read_confirm` never raises on content:
it returns the confirm, or the problems (field path and message), so the flow quarantines the message
naming the field instead of dropping it. Whether the delivery is one the hub sent is the flow's check.

Decisions (the standard leaves them open; reference §3.3, §6):

- **actualQty is per shipment (incremental).** Each confirm (distinct :attr:`ShipmentConfirm.dedupe_key`)
  reports what left in that shipment; :func:`combine` sums the distinct confirms per line. The final
  confirm (``confirmType`` 0) closes the delivery: what has not shipped by then is short-shipped and
  no longer open (pitfall 10), and the sum is what goods issue posts.
- **Dedupe key**: the confirm's ``outBizCode`` when present (unique per confirm message, §3.3).
  Without one: ``sha256:`` + the hex SHA-256 of the delivery, the confirm type and a canonical JSON of
  the content (lines, batches, packages, carrier, tracking numbers; **not** ``orderConfirmTime``, which
  a WMS may restamp on a resend). Two genuinely separate shipments without outBizCode and with the
  same content (same quantities, same carrier, same tracking numbers) are therefore one shipment:
  only possible for pickups, which carry no tracking number; a WMS that splits pickups must send
  outBizCode.
- **Split confirms** (``totalOrderLines``, pitfall 9): parts of one confirm that share an outBizCode
  are merged line by line (a line is identified by its own outBizCode, else by orderLineNo/itemCode and
  its position among lines of that number in the message), so a repeated part counts once and a new
  part adds its lines.
- **Customer pickup** (到仓自提) is recognised when the carrier code is absent or ``OTHER`` and the
  ``logisticsName`` or the ``transportMode`` (in ``deliveryOrder`` or ``extendProps``) is one of
  :data:`PICKUP_WORDS`. A pickup needs no carrier and no tracking number; anything else needs a
  known carrier code (or ``OTHER`` with ``logisticsName``) and a tracking number for every parcel.
- ``confirmType`` absent: read from ``status`` (DELIVERED final, PARTDELIVERED intermediate);
  otherwise a problem. A status that is not a shipment (EXCEPTION, CANCELED, REJECT, …) is a problem:
  a person decides what such a "confirm" means before goods issue is posted from it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from transforms.outbound_orders import CARRIERS, PICKUP, parse_qimen_time

ConfirmType = Literal["final", "intermediate"]
ShipmentState = Literal["open", "partly_shipped", "shipped", "not_shipped"]

CONFIRM_TYPES: dict[str, ConfirmType] = {"0": "final", "1": "intermediate"}
SHIPPED_STATUSES = frozenset({"DELIVERED", "PARTDELIVERED", "CLOSED"})
NOT_SHIPMENTS = frozenset({"NEW", "ACCEPT", "EXCEPTION", "CANCELED", "REJECT", "CANCELEDFAIL", "REFUSE"})
STATUS_TYPES: dict[str, ConfirmType] = {"DELIVERED": "final", "PARTDELIVERED": "intermediate"}

# Spellings of customer pickup seen in the transportMode / logisticsName free text, compared with
# spaces, '-' and '_' removed and in lower case.
PICKUP_WORDS = frozenset({PICKUP, "自提", "客户自提", "上门自提", "仓库自提", "pickup", "customerpickup", "selfpickup"})

_QTY = re.compile(r"^\d+(?:\.0*)?$")  # a whole number, "5" or "5.000"; no sign, no exponent
_TRACKING = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,49}$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class ConfirmProblem:
    field: str  # where in the message: "deliveryOrder.logisticsCode", "orderLines[2].actualQty" (1-based)
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass(frozen=True)
class Batch:
    batch_code: str | None
    inventory_type: str | None
    quantity: Decimal
    product_date: date | None
    expire_date: date | None


@dataclass(frozen=True)
class ConfirmLine:
    line_no: int | None  # orderLineNo: the SAP delivery item the create sent
    item_code: str
    quantity: Decimal  # actualQty of this shipment, whole
    inventory_type: str | None
    out_biz_code: str | None
    batches: tuple[Batch, ...] = ()


@dataclass(frozen=True)
class PackageItem:
    item_code: str
    quantity: Decimal


@dataclass(frozen=True)
class Package:
    package_code: str | None
    logistics_code: str | None
    logistics_name: str | None
    express_code: str | None
    weight_kg: Decimal | None
    items: tuple[PackageItem, ...] = ()


@dataclass(frozen=True)
class Parcel:
    """One thing a carrier moves, with the carrier and tracking number it travels under."""

    shipment: str  # the dedupe key of its confirm
    package_code: str | None
    carrier_code: str | None  # None for a pickup
    carrier_name: str | None
    tracking: str | None  # None for a pickup


@dataclass(frozen=True)
class ShipmentConfirm:
    delivery: str  # deliveryOrderCode = the SAP delivery number
    wms_order_id: str | None  # deliveryOrderId
    out_biz_code: str | None
    confirm_type: ConfirmType
    status: str | None
    warehouse: str | None
    logistics_code: str | None
    logistics_name: str | None
    express_code: str | None
    pickup: bool
    confirmed_at: datetime | None  # orderConfirmTime, aware (GMT+8)
    total_order_lines: int | None
    lines: tuple[ConfirmLine, ...]
    packages: tuple[Package, ...]
    dedupe_key: str

    @property
    def final(self) -> bool:
        return self.confirm_type == "final"

    @property
    def parcels(self) -> tuple[Parcel, ...]:
        """Packages with what they inherit from the order level; the order level alone when no packages."""
        if not self.packages:
            return (self._parcel(None, None, None, None),)
        return tuple(
            self._parcel(p.package_code, p.logistics_code, p.logistics_name, p.express_code) for p in self.packages
        )

    def _parcel(self, code: str | None, carrier: str | None, name: str | None, tracking: str | None) -> Parcel:
        if self.pickup and not carrier:
            return Parcel(self.dedupe_key, code, None, name or self.logistics_name, tracking or self.express_code)
        carrier_code = carrier or self.logistics_code
        if name is None and (carrier is None or carrier == self.logistics_code):
            name = self.logistics_name
        if name is None and carrier_code in CARRIERS and carrier_code != "OTHER":
            name = CARRIERS[carrier_code]
        return Parcel(self.dedupe_key, code, carrier_code, name, tracking or self.express_code)

    @property
    def tracking_numbers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.tracking for p in self.parcels if p.tracking))


@dataclass(frozen=True)
class ConfirmReading:
    """The outcome of reading one message: a confirm, or the problems that keep it from being one."""

    delivery: str | None  # as the message names it, for the quarantine record
    confirm: ShipmentConfirm | None  # None exactly when there are problems
    problems: tuple[ConfirmProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


class _Reader:
    """Collects problems while reading values out of the nested dicts."""

    def __init__(self) -> None:
        self.problems: list[ConfirmProblem] = []

    def problem(self, path: str, message: str) -> None:
        self.problems.append(ConfirmProblem(path, message))

    def text(
        self, node: Mapping[str, Any], key: str, path: str, *, required: bool = False, limit: int = 200
    ) -> str | None:
        value = node.get(key)
        where = f"{path}.{key}" if path else key
        if isinstance(value, list):
            self.problem(where, "appears more than once")
            return None
        if isinstance(value, Mapping):
            self.problem(where, "is a structure, not a value")
            return None
        text = value.strip() if isinstance(value, str) else None
        if not text:
            if required:
                self.problem(where, "is required and missing")
            return None
        if len(text) > limit:
            self.problem(where, f"is {len(text)} characters long, more than {limit}")
            return None
        return text

    def quantity(self, node: Mapping[str, Any], key: str, path: str) -> Decimal | None:
        text = self.text(node, key, path, required=True, limit=30)
        if text is None:
            return None
        if not _QTY.match(text):
            self.problem(f"{path}.{key}", f"must be a non-negative whole number, not {text!r}")
            return None
        return Decimal(int(Decimal(text)))

    def day(self, node: Mapping[str, Any], key: str, path: str) -> date | None:
        text = self.text(node, key, path)
        if text is None:
            return None
        try:
            if not _DATE.match(text[:10]) or len(text) not in (10, 19):
                raise ValueError(text)
            return date.fromisoformat(text[:10]) if len(text) == 10 else _moment(text).date()
        except ValueError:
            self.problem(f"{path}.{key}", f"is not a date (YYYY-MM-DD): {text!r}")
            return None

    def items(self, node: Mapping[str, Any], key: str, path: str) -> list[Mapping[str, Any]]:
        value = node.get(key, [])
        if value in ("", None):
            return []
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            self.problem(f"{path}.{key}" if path else key, "is not a list of elements")
            return []
        return value


def _moment(text: str) -> datetime:
    parsed = parse_qimen_time(text)
    if parsed is None:
        raise ValueError(text)
    return parsed


def is_pickup_word(text: str | None) -> bool:
    return bool(text) and re.sub(r"[\s_-]", "", text).lower() in PICKUP_WORDS


def read_confirm(document: Mapping[str, Any]) -> ConfirmReading:
    """Read one parsed ``stockout.confirm`` request into a :class:`ShipmentConfirm`, or its problems."""
    r = _Reader()
    head = document.get("deliveryOrder")
    if not isinstance(head, Mapping):
        return ConfirmReading(None, None, (ConfirmProblem("deliveryOrder", "is missing"),))
    p = "deliveryOrder"
    delivery = r.text(head, "deliveryOrderCode", p, required=True, limit=50)
    out_biz_code = r.text(head, "outBizCode", p, limit=50)
    status = r.text(head, "status", p, limit=50)
    status = status.upper() if status else None
    confirm_type = _confirm_type(r, head, status)
    if status in NOT_SHIPMENTS:
        r.problem(f"{p}.status", f"{status} is not a shipment: a person decides what this confirm means")
    confirmed_text = r.text(head, "orderConfirmTime", p, limit=19)
    confirmed_at = None
    if confirmed_text is not None:
        confirmed_at = parse_qimen_time(confirmed_text)
        if confirmed_at is None:
            r.problem(f"{p}.orderConfirmTime", f"is not a time (YYYY-MM-DD HH:MM:SS): {confirmed_text!r}")
    total_text = r.text(head, "totalOrderLines", p, limit=9)
    total = None
    if total_text is not None:
        if total_text.isdigit():
            total = int(total_text)
        else:
            r.problem(f"{p}.totalOrderLines", f"is not a count: {total_text!r}")

    extend = document.get("extendProps")
    extend = extend if isinstance(extend, Mapping) else {}
    mode = r.text(head, "transportMode", p) or r.text(extend, "transportMode", "extendProps")
    code = r.text(head, "logisticsCode", p, limit=50)
    code = code.upper() if code else None
    name = r.text(head, "logisticsName", p, limit=200)
    express = r.text(head, "expressCode", p, limit=50)
    pickup = code in (None, "OTHER") and (is_pickup_word(name) or is_pickup_word(mode))

    before = len(r.problems)
    lines = _lines(r, document)
    lines_read = len(r.problems) == before
    packages = _packages(r, document)
    _check_carriers(r, code, name, express, pickup, packages)
    if lines_read:  # a line already refused would make every package look overpacked
        _check_packed(r, lines, packages)
    if confirm_type == "intermediate" and not lines:
        r.problem("orderLines", "is empty: an intermediate confirm ships something")

    if r.problems or delivery is None or confirm_type is None:
        return ConfirmReading(delivery, None, tuple(r.problems))
    key = out_biz_code or content_key(delivery, confirm_type, code, name, express, lines, packages)
    confirm = ShipmentConfirm(
        delivery=delivery,
        wms_order_id=r.text(head, "deliveryOrderId", p, limit=50),
        out_biz_code=out_biz_code,
        confirm_type=confirm_type,
        status=status,
        warehouse=r.text(head, "warehouseCode", p, limit=50),
        logistics_code=code,
        logistics_name=name,
        express_code=express,
        pickup=pickup,
        confirmed_at=confirmed_at,
        total_order_lines=total,
        lines=tuple(lines),
        packages=tuple(packages),
        dedupe_key=key,
    )
    return ConfirmReading(delivery, confirm, ())


def _confirm_type(r: _Reader, head: Mapping[str, Any], status: str | None) -> ConfirmType | None:
    text = r.text(head, "confirmType", "deliveryOrder", limit=5)
    if text is not None:
        if text not in CONFIRM_TYPES:
            r.problem("deliveryOrder.confirmType", f"must be 0 (final) or 1 (intermediate), not {text!r}")
            return None
        return CONFIRM_TYPES[text]
    if status in STATUS_TYPES:
        return STATUS_TYPES[status]
    r.problem("deliveryOrder.confirmType", "is missing and the status does not say whether the confirm is final")
    return None


def _lines(r: _Reader, document: Mapping[str, Any]) -> list[ConfirmLine]:
    lines: list[ConfirmLine] = []
    seen: dict[str, ConfirmLine] = {}
    for i, node in enumerate(r.items(document, "orderLines", ""), 1):
        p = f"orderLines[{i}]"
        before = len(r.problems)
        number_text = r.text(node, "orderLineNo", p, limit=50)
        line_no = None
        if number_text is not None:
            if number_text.isdigit() and int(number_text) > 0:
                line_no = int(number_text)
            else:
                r.problem(f"{p}.orderLineNo", f"is not a delivery item number: {number_text!r}")
        item = r.text(node, "itemCode", p, required=True, limit=50)
        qty = r.quantity(node, "actualQty", p)
        batches = []
        for j, b in enumerate(r.items(node, "batchs", p), 1):
            bp = f"{p}.batchs[{j}]"
            batch_qty = r.quantity(b, "actualQty", bp)
            batches.append(
                Batch(
                    r.text(b, "batchCode", bp, limit=50),
                    r.text(b, "inventoryType", bp, limit=50),
                    batch_qty if batch_qty is not None else Decimal(0),
                    r.day(b, "productDate", bp),
                    r.day(b, "expireDate", bp),
                )
            )
        # The line-level batch fields describe a single batch; they are kept as one when no list came.
        if not batches and (batch_code := r.text(node, "batchCode", p, limit=50)) and qty is not None:
            batches.append(Batch(batch_code, None, qty, r.day(node, "productDate", p), r.day(node, "expireDate", p)))
        elif batches and qty is not None and len(r.problems) == before:
            total = sum((b.quantity for b in batches), Decimal(0))
            if total != qty:
                r.problem(f"{p}.batchs", f"batch quantities add up to {total}, the line's actualQty is {qty}")
        if len(r.problems) > before or item is None or qty is None:
            continue
        line = ConfirmLine(line_no, item, qty, r.text(node, "inventoryType", p, limit=50), None, tuple(batches))
        line_code = r.text(node, "outBizCode", p, limit=50)
        if line_code is not None:
            line = ConfirmLine(line_no, item, qty, line.inventory_type, line_code, line.batches)
            # A part repeated inside one message (pitfall 9): the same line outBizCode counts once.
            if line_code in seen:
                if seen[line_code] != line:
                    r.problem(f"{p}.outBizCode", f"{line_code} repeats with different content")
                continue
            seen[line_code] = line
        lines.append(line)
    return lines


def _packages(r: _Reader, document: Mapping[str, Any]) -> list[Package]:
    packages = []
    for i, node in enumerate(r.items(document, "packages", ""), 1):
        p = f"packages[{i}]"
        code = r.text(node, "logisticsCode", p, limit=50)
        weight_text = r.text(node, "weight", p, limit=30)
        weight = None
        if weight_text is not None:
            try:
                weight = Decimal(weight_text)
                if not weight.is_finite() or weight < 0:
                    raise ArithmeticError
            except ArithmeticError:
                r.problem(f"{p}.weight", f"is not a weight in kg: {weight_text!r}")
                weight = None
        items = []
        for j, node_item in enumerate(r.items(node, "items", p), 1):
            ip = f"{p}.items[{j}]"
            item = r.text(node_item, "itemCode", ip, required=True, limit=50)
            qty = r.quantity(node_item, "quantity", ip)
            if item is not None and qty is not None:
                items.append(PackageItem(item, qty))
        packages.append(
            Package(
                r.text(node, "packageCode", p, limit=50),
                code.upper() if code else None,
                r.text(node, "logisticsName", p, limit=200),
                r.text(node, "expressCode", p, limit=50),
                weight,
                tuple(items),
            )
        )
    return packages


def _carrier_problem(code: str | None, name: str | None) -> str | None:
    if code is None:
        return "is missing: a shipment names its carrier (a known code, or OTHER with logisticsName)"
    if code not in CARRIERS:
        return f"{code} is not a known carrier code: use OTHER with logisticsName"
    if code == "OTHER" and not name:
        return "is OTHER without a logisticsName"
    return None


def _check_carriers(
    r: _Reader, code: str | None, name: str | None, express: str | None, pickup: bool, packages: list[Package]
) -> None:
    if express is not None and not _TRACKING.match(express):
        r.problem("deliveryOrder.expressCode", f"is not a tracking number: {express!r}")
    for i, package in enumerate(packages, 1):
        if package.express_code is not None and not _TRACKING.match(package.express_code):
            r.problem(f"packages[{i}].expressCode", f"is not a tracking number: {package.express_code!r}")
        if package.logistics_code is not None:
            problem = _carrier_problem(package.logistics_code, package.logistics_name or name)
            if problem:
                r.problem(f"packages[{i}].logisticsCode", problem)
    if pickup:
        return  # collected at the warehouse: no carrier, no tracking number
    if not packages or any(p.logistics_code is None for p in packages):
        problem = _carrier_problem(code, name)
        if problem:
            r.problem("deliveryOrder.logisticsCode", problem)
    if not packages:
        if express is None:
            r.problem("deliveryOrder.expressCode", "is missing: every shipment but a pickup has a tracking number")
        return
    for i, package in enumerate(packages, 1):
        if package.express_code is None and express is None:
            r.problem(f"packages[{i}].expressCode", "is missing and the order level has none either")


def _check_packed(r: _Reader, lines: list[ConfirmLine], packages: list[Package]) -> None:
    """Packed quantities may cover part of a shipment (not every WMS lists contents), never more."""
    confirmed: Counter[str] = Counter()
    for line in lines:
        confirmed[line.item_code] += int(line.quantity)
    packed: Counter[str] = Counter()
    for package in packages:
        for item in package.items:
            packed[item.item_code] += int(item.quantity)
    for item, qty in sorted(packed.items()):
        if qty > confirmed[item]:
            r.problem("packages", f"item {item}: {qty} packed, the lines confirm {confirmed[item]}")


def content_key(
    delivery: str,
    confirm_type: ConfirmType,
    carrier: str | None,
    carrier_name: str | None,
    tracking: str | None,
    lines: Iterable[ConfirmLine],
    packages: Iterable[Package],
) -> str:
    """``sha256:<hex>`` of a confirm's content in canonical form: the dedupe key without an outBizCode."""
    content = {
        "delivery": delivery,
        "confirmType": confirm_type,
        "carrier": [carrier, carrier_name, tracking],
        "lines": sorted(_line_form(line) for line in lines),
        "packages": sorted(
            [
                p.package_code or "",
                p.logistics_code or "",
                p.logistics_name or "",
                p.express_code or "",
                sorted([i.item_code, str(i.quantity)] for i in p.items),
            ]
            for p in packages
        ),
    }
    canonical = json.dumps(content, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _line_form(line: ConfirmLine) -> list[Any]:
    return [
        line.line_no or 0,
        line.item_code,
        str(line.quantity),
        line.inventory_type or "",
        line.out_biz_code or "",
        sorted(
            [
                b.batch_code or "",
                b.inventory_type or "",
                str(b.quantity),
                str(b.product_date or ""),
                str(b.expire_date or ""),
            ]
            for b in line.batches
        ),
    ]


# ---------------------------------------------------------------------------------------------------
# Combining the confirms of one delivery


@dataclass(frozen=True)
class LineProgress:
    line_no: int
    material: str | None
    planned: Decimal
    shipped: Decimal  # summed over the distinct confirms
    open: Decimal  # still to come: 0 once the final confirm arrived
    short: Decimal  # closed unshipped by the final confirm

    @property
    def over(self) -> Decimal:
        return max(self.shipped - self.planned, Decimal(0))


@dataclass(frozen=True)
class Shipment:
    """One distinct confirm (parts with one outBizCode merged), matched to the delivery's lines."""

    key: str
    final: bool
    confirmed_at: datetime | None
    pickup: bool
    quantities: tuple[tuple[int, Decimal], ...]  # (delivery item, quantity) of this shipment
    parcels: tuple[Parcel, ...]


@dataclass(frozen=True)
class ShipmentSummary:
    delivery: str | None
    final: bool
    lines: tuple[LineProgress, ...]
    shipments: tuple[Shipment, ...]  # in canonical order (by dedupe key), not arrival order
    problems: tuple[ConfirmProblem, ...] = field(default=())

    @property
    def state(self) -> ShipmentState:
        shipped = any(line.shipped > 0 for line in self.lines)
        if self.final:
            return "shipped" if shipped else "not_shipped"
        return "partly_shipped" if shipped else "open"

    @property
    def short_shipped(self) -> tuple[LineProgress, ...]:
        return tuple(line for line in self.lines if line.short > 0)

    @property
    def goods_issue(self) -> dict[int, Decimal]:
        """Quantity per delivery item that goods issue posts: the shipped sums."""
        return {line.line_no: line.shipped for line in self.lines}

    @property
    def parcels(self) -> tuple[Parcel, ...]:
        return tuple(parcel for shipment in self.shipments for parcel in shipment.parcels)

    @property
    def tracking_numbers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.tracking for p in self.parcels if p.tracking))


def combine(
    planned: Mapping[int, Decimal],
    confirms: Iterable[ShipmentConfirm],
    *,
    materials: Mapping[int, str] | None = None,
    delivery: str | None = None,
) -> ShipmentSummary:
    """What the confirms of one delivery add up to against ``planned`` (delivery item → quantity).

    ``materials`` (delivery item → material) lets a confirm line without orderLineNo match by itemCode,
    and checks the item of a line that has one. ``delivery`` defaults to the confirms' own (when they
    name several, the smallest, and the others are problems, not counted). The result does not depend on
    the order the confirms arrive in nor on repeats: confirms are taken in canonical order, and one
    dedupe key counts once. Over-shipment is reported, never clamped.
    """
    materials = materials or {}
    problems: list[ConfirmProblem] = []
    every = sorted(confirms, key=lambda c: (c.dedupe_key, _canonical(c)))
    if delivery is None and every:
        delivery = min(c.delivery for c in every)
    groups: dict[str, list[ShipmentConfirm]] = defaultdict(list)
    for confirm in every:
        if confirm.delivery != delivery:
            problems.append(
                ConfirmProblem("deliveryOrder.deliveryOrderCode", f"{confirm.delivery} is not delivery {delivery}")
            )
            continue
        if not groups[confirm.dedupe_key] or _canonical(confirm) != _canonical(groups[confirm.dedupe_key][-1]):
            groups[confirm.dedupe_key].append(confirm)

    shipped: dict[int, Decimal] = {n: Decimal(0) for n in planned}
    shipments = []
    finals = []
    for key, parts in groups.items():
        first = parts[0]
        if any(part.confirm_type != first.confirm_type for part in parts):
            problems.append(ConfirmProblem("deliveryOrder.confirmType", f"{key}: parts disagree on final/intermediate"))
        final = any(part.final for part in parts)
        if final:
            finals.append(key)
        quantities: dict[int, Decimal] = defaultdict(Decimal)
        for line in _merged_lines(key, parts, problems):
            line_no = _match(line, planned, materials, key, problems)
            if line_no is not None:
                quantities[line_no] += line.quantity
                shipped[line_no] += line.quantity
        parcels = tuple(dict.fromkeys(parcel for part in parts for parcel in part.parcels))
        shipments.append(
            Shipment(
                key,
                final,
                min((p.confirmed_at for p in parts if p.confirmed_at), default=None),
                first.pickup,
                tuple(sorted(quantities.items())),
                parcels,
            )
        )
    if len(finals) > 1:
        problems.append(
            ConfirmProblem("deliveryOrder.confirmType", f"{len(finals)} final confirms: {', '.join(finals)}")
        )
    final = bool(finals)

    lines = []
    for line_no in sorted(planned):
        plan, done = planned[line_no], shipped[line_no]
        if done > plan:
            problems.append(
                ConfirmProblem("orderLines.actualQty", f"delivery item {line_no}: {done} shipped, only {plan} planned")
            )
        rest = max(plan - done, Decimal(0))
        lines.append(
            LineProgress(
                line_no,
                materials.get(line_no),
                plan,
                done,
                Decimal(0) if final else rest,
                rest if final else Decimal(0),
            )
        )
    return ShipmentSummary(delivery, final, tuple(lines), tuple(shipments), tuple(problems))


def _canonical(confirm: ShipmentConfirm) -> str:
    """The confirm's content as a sortable text: a total order on confirms that share a dedupe key."""
    return content_key(
        confirm.delivery,
        confirm.confirm_type,
        confirm.logistics_code,
        confirm.logistics_name,
        confirm.express_code,
        confirm.lines,
        confirm.packages,
    )


def _merged_lines(key: str, parts: list[ShipmentConfirm], problems: list[ConfirmProblem]) -> list[ConfirmLine]:
    """The lines of the parts of one confirm, each line once (a repeated part adds nothing)."""
    merged: dict[tuple[Any, ...], ConfirmLine] = {}
    for part in parts:
        occurrence: Counter[tuple[Any, ...]] = Counter()
        for line in part.lines:
            if line.out_biz_code is not None:
                identity: tuple[Any, ...] = ("outBizCode", line.out_biz_code)
            else:
                base = ("line", line.line_no) if line.line_no is not None else ("item", line.item_code)
                identity = (*base, occurrence[base])
                occurrence[base] += 1
            if identity in merged:
                if merged[identity] != line:
                    problems.append(
                        ConfirmProblem("orderLines", f"{key}: line {identity[1]} arrives twice with different content")
                    )
                continue
            merged[identity] = line
    return list(merged.values())


def _match(
    line: ConfirmLine,
    planned: Mapping[int, Decimal],
    materials: Mapping[int, str],
    key: str,
    problems: list[ConfirmProblem],
) -> int | None:
    if line.line_no is not None:
        if line.line_no not in planned:
            problems.append(
                ConfirmProblem("orderLines.orderLineNo", f"{key}: {line.line_no} is not an item of the delivery")
            )
            return None
        expected = materials.get(line.line_no)
        if expected is not None and expected != line.item_code:
            problems.append(
                ConfirmProblem(
                    "orderLines.itemCode",
                    f"{key}: item {line.line_no} is {expected}, the confirm says {line.item_code}",
                )
            )
        return line.line_no
    candidates = [n for n in sorted(planned) if materials.get(n) == line.item_code]
    if len(candidates) == 1:
        return candidates[0]
    reason = "is on no item of the delivery" if not candidates else f"is on items {candidates}: which one is unclear"
    problems.append(ConfirmProblem("orderLines.itemCode", f"{key}: {line.item_code} without orderLineNo {reason}"))
    return None
