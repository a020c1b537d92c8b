"""Seeded master data and order book shared by every emulator.

``generate(seed, orders, now)`` is deterministic: the same arguments give the same customers,
materials, plants, price lists, stock and orders, down to every id and timestamp. Each part draws
from its own random stream, so asking for more orders does not change the master data.

The CRMs' order books hold the bad records real CRMs hold. Each defective order is listed in
``SeedData.defects`` (order number → defect kinds) so tests can check where each one ends.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from functools import cached_property
from itertools import accumulate

from sandbox import seed_vocab as vocab
from sandbox.ids import ObjectIds, zoho_id

ZOHO = "zoho_crm"
FXIAOKE = "fxiaoke"
CRMS = (ZOHO, FXIAOKE)
ZOHO_SHARE = 0.55  # of the orders; the rest live in Fxiaoke

CURRENCIES = ("CNY", "EUR", "USD")
# Units of each currency per 1 CNY; the price lists are quoted from CNY with these rates.
FX_FROM_CNY = {"CNY": Decimal("1"), "EUR": Decimal("0.1290"), "USD": Decimal("0.1385")}
EXPORT_MARKUP = Decimal("1.08")
CN_VAT = Decimal("13")
CENT = Decimal("0.01")

DEFAULT_ORDERS = 600
DEFAULT_CUSTOMERS = 120
DEFAULT_MATERIALS = 2400
ORDER_HISTORY = timedelta(weeks=6)
DEFECT_RATE = 0.005  # per kind, per CRM; at least one of each kind per CRM when there are enough orders
# Regular buyers: one customer x part pair per this many orders buys that part again at a steady
# interval (fleet workshops restocking brake pads every two weeks), on orders of their own, on top of
# the ``orders`` random ones. They are what reorder reminders find; they carry no defects.
ORDERS_PER_STANDING_PAIR = 50
STANDING_INTERVALS_DAYS = (7, 10, 14)

CN_TZ = timezone(timedelta(hours=8))


class DefectKind(StrEnum):
    MISSING_CUSTOMER = "missing_customer"  # no account on the order
    UNKNOWN_PRODUCT = "unknown_product"  # product whose code is not a material in master data
    BAD_QUANTITY = "bad_quantity"  # zero or negative quantity
    NON_NUMERIC_PRICE = "non_numeric_price"  # e.g. "12,5a" where a number belongs
    DUPLICATE_LINE_NUMBERS = "duplicate_line_numbers"
    CURRENCY_MISMATCH = "currency_mismatch"  # line / price book currency differs from the order's
    EMOJI_TEXT = "emoji_text"  # emoji in the order and line descriptions
    LONG_TEXT = "long_text"  # 500-character order and line descriptions
    UNKNOWN_EXTRA_FIELDS = "unknown_extra_fields"  # custom fields the hub does not know
    MISSING_OPTIONAL_FIELDS = "missing_optional_fields"  # no PO, delivery date, ship-to, carrier, notes
    BLOCKED_CUSTOMER = "blocked_customer"  # customer blocked in master data
    BELOW_MOQ = "below_moq"  # positive quantity below the material's minimum order quantity
    PACK_SIZE_VIOLATION = "pack_size_violation"  # quantity not a multiple of the pack size
    PRICE_OUT_OF_TOLERANCE = "price_out_of_tolerance"  # 45 % below the price list


# Defects a careful hub must quarantine, and those it should accept after cleaning (truncating text,
# ignoring unknown fields, defaulting optional ones). Clean lines carry at most a 2 % discount.
QUARANTINE_DEFECTS = frozenset(
    {
        DefectKind.MISSING_CUSTOMER,
        DefectKind.UNKNOWN_PRODUCT,
        DefectKind.BAD_QUANTITY,
        DefectKind.NON_NUMERIC_PRICE,
        DefectKind.DUPLICATE_LINE_NUMBERS,
        DefectKind.CURRENCY_MISMATCH,
        DefectKind.BLOCKED_CUSTOMER,
        DefectKind.BELOW_MOQ,
        DefectKind.PACK_SIZE_VIOLATION,
        DefectKind.PRICE_OUT_OF_TOLERANCE,
    }
)
TOLERATED_DEFECTS = frozenset(DefectKind) - QUARANTINE_DEFECTS


@dataclass
class Address:
    street: str
    city: str
    postal_code: str
    region: str
    country: str  # ISO 3166 alpha-2


@dataclass
class Plant:
    code: str
    name: str
    city: str
    country: str
    sales_org: str
    currency: str
    utc_offset_hours: int
    # The 3PL warehouse (Qimen warehouseCode) that runs this plant; None: the company's own warehouse,
    # where SAP posts goods issue itself. For a 3PL plant goods issue waits for the warehouse's confirm.
    warehouse: str | None = None


@dataclass
class Customer:
    number: str  # the ERP (SAP) customer number every CRM account carries
    name: str
    address: Address
    language: str  # "zh" or "en"
    currency: str
    vat_rate: Decimal  # percent charged on this customer's orders
    credit_limit: Decimal  # in the customer's currency
    blocked: bool
    crm: str  # the CRM that holds this customer's account and orders
    email: str
    phone: str
    sales_rep: int  # index into seed_vocab.SALES_REPS
    utc_offset_hours: int
    weight: float  # relative share of orders


@dataclass
class Material:
    number: str  # e.g. "SP-10023"; also the CRM product code
    description_zh: str
    description_en: str
    category: str
    base_unit: str
    moq: int
    pack_size: int
    list_prices: dict[str, Decimal]  # currency → unit price
    weight_kg: Decimal
    demand_probability: float  # chance the part is ordered in a given week (intermittent demand)
    demand_shape: float  # gamma shape of an order line's quantity
    demand_scale: float  # gamma scale, in base units
    lead_time_days: int
    plants: tuple[str, ...]


@dataclass
class UnknownProduct:
    """A product the CRMs sell that has no material in master data (a legacy or mistyped code)."""

    code: str
    description_zh: str
    description_en: str
    list_prices: dict[str, Decimal]


@dataclass
class PriceList:
    id: str
    name: str
    currency: str
    valid_from: date
    valid_to: date
    prices: dict[str, Decimal]  # material number → unit price


@dataclass
class StockLevel:
    plant: str
    material: str
    unrestricted: int
    safety_stock: int
    reorder_point: int
    max_stock: int


@dataclass
class OrderLine:
    line_number: int
    material_number: str
    quantity: Decimal
    unit_price: Decimal | str  # a string only in a non-numeric-price defect
    currency: str  # the line's price book currency; differs from the order's only in a defect
    discount_percent: Decimal
    description: str | None
    crm_id: str
    extra_fields: dict[str, str] = field(default_factory=dict)


@dataclass
class SalesOrder:
    number: str  # the CRM order number (Zoho SO_Number, Fxiaoke name); unique across CRMs
    crm: str
    crm_id: str  # the record id in its CRM
    customer_number: str | None
    currency: str
    vat_rate: Decimal
    order_time: datetime
    modified_time: datetime
    status: str
    requested_delivery_date: date | None
    purchase_order: str | None
    ship_to: Address | None
    carrier: str | None
    description: str | None
    sales_rep: int
    lines: list[OrderLine]
    extra_fields: dict[str, str] = field(default_factory=dict)
    defects: list[str] = field(default_factory=list)
    regular: tuple[str, int] | None = None  # a regular buyer's order: (the part, its interval in days)


@dataclass
class SeedData:
    seed: int
    now: datetime
    plants: list[Plant]
    customers: list[Customer]
    materials: list[Material]
    unknown_products: list[UnknownProduct]
    price_lists: list[PriceList]
    stock: list[StockLevel]
    orders: list[SalesOrder]
    defects: dict[str, list[str]]  # order number → defect kinds

    @cached_property
    def customer_by_number(self) -> dict[str, Customer]:
        return {c.number: c for c in self.customers}

    @cached_property
    def material_by_number(self) -> dict[str, Material]:
        return {m.number: m for m in self.materials}

    @cached_property
    def order_by_number(self) -> dict[str, SalesOrder]:
        return {o.number: o for o in self.orders}

    def customers_of(self, crm: str) -> list[Customer]:
        return [c for c in self.customers if c.crm == crm]

    def orders_of(self, crm: str) -> list[SalesOrder]:
        return [o for o in self.orders if o.crm == crm]


def generate(seed: int, orders: int = DEFAULT_ORDERS, now: datetime | None = None) -> SeedData:
    """The whole data set for ``seed``: master data, then ``orders`` orders over the six weeks before
    ``now`` (default: the sandbox's fixed start instant)."""
    from sandbox.clock import DEFAULT_START

    now = (now or DEFAULT_START).astimezone(UTC)
    plants = _plants()
    customers = _customers(_rng(seed, "customers"))
    materials = _materials(_rng(seed, "materials"), plants)
    unknown = _unknown_products(_rng(seed, "unknown"), {m.number for m in materials})
    price_lists = _price_lists(materials, now)
    stock = _stock(_rng(seed, "stock"), materials)
    book = _OrderBook(seed, now, customers, materials, unknown)
    order_list = book.build(orders)
    _set_credit_limits(customers, order_list)
    defects = {o.number: list(o.defects) for o in order_list if o.defects}
    return SeedData(
        seed=seed,
        now=now,
        plants=plants,
        customers=customers,
        materials=materials,
        unknown_products=unknown,
        price_lists=price_lists,
        stock=stock,
        orders=order_list,
        defects=defects,
    )


def _rng(seed: int, part: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}:{part}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _plants() -> list[Plant]:
    return [
        Plant("1010", "Shanghai Parts Center", "Shanghai", "CN", "1000", "CNY", 8, warehouse="WH-SH01"),
        Plant("1020", "Shenzhen Parts Center", "Shenzhen", "CN", "1000", "CNY", 8, warehouse="WH-SZ01"),
        Plant("2010", "Hamburg Distribution Center", "Hamburg", "DE", "2000", "EUR", 1),
    ]


def _customers(rng: random.Random, count: int = DEFAULT_CUSTOMERS) -> list[Customer]:
    n_cn = round(count * 0.57)
    customers: list[Customer] = []
    used_names: set[str] = set()
    for i in range(count):
        number = str(1000100 + i)
        if i < n_cn:
            customers.append(_chinese_customer(rng, number, used_names))
        else:
            customers.append(_foreign_customer(rng, number, used_names))
    # Chinese accounts are split between the CRMs; foreign ones (EUR/USD) are all in Zoho.
    for c in customers:
        c.crm = FXIAOKE if c.currency == "CNY" and rng.random() < 0.7 else ZOHO
    for crm in CRMS:
        members = [c for c in customers if c.crm == crm]
        for c in members:
            c.blocked = rng.random() < 0.06
        if not any(c.blocked for c in members):
            rng.choice(members).blocked = True
    return customers


def _unique(draw: Callable[[int], str], used: set[str]) -> str:
    """A company name not used yet: ``draw(attempt)`` proposes one, later attempts more varied."""
    for attempt in range(200):
        name = draw(attempt)
        if name not in used:
            used.add(name)
            return name
    raise RuntimeError("ran out of company names")


def _chinese_customer(rng: random.Random, number: str, used: set[str]) -> Customer:
    city, prefix, streets, post = rng.choice(vocab.CN_CITIES)
    name = _unique(lambda _: f"{city}{rng.choice(vocab.CN_NAME_KEYWORDS)}{rng.choice(vocab.CN_NAME_SUFFIXES)}", used)
    street = f"{prefix}{rng.choice(streets)}{rng.randint(1, 1999)}号"
    postcode = f"{post}{rng.randint(0, 9999):04d}"
    region = prefix.removesuffix(city + "市") or prefix
    return Customer(
        number=number,
        name=name,
        address=Address(street, city, postcode, region, "CN"),
        language="zh",
        currency="CNY",
        vat_rate=CN_VAT,
        credit_limit=Decimal(0),
        blocked=False,
        crm=ZOHO,
        email=f"purchase{number[-3:]}@example.cn",
        phone=f"+86 1{rng.randint(30, 99)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
        sales_rep=rng.choice([0, 1, 4]),
        utc_offset_hours=8,
        weight=rng.paretovariate(1.3),
    )


def _foreign_customer(rng: random.Random, number: str, used: set[str]) -> Customer:
    country, lang, currency, vat, city, post, streets, names, phone = rng.choice(vocab.FOREIGN_PLACES)

    def draw(attempt: int) -> str:
        name = rng.choice(names)
        # Past the few names a place has, a family name replaces the first word: "Wagner Autoteile GmbH".
        return name if attempt < 3 else f"{rng.choice(vocab.SURNAMES)} {name.split(' ', 1)[1]}"

    name = _unique(draw, used)
    offsets = {"US": -6, "BR": -3, "MX": -6, "AE": 4}
    slug = "".join(ch for ch in name.lower() if ch.isascii() and ch.isalnum())[:12]
    return Customer(
        number=number,
        name=name,
        address=Address(f"{rng.choice(streets)} {rng.randint(1, 240)}", city, post, "", country),
        language=lang,
        currency=currency,
        vat_rate=Decimal(vat),
        credit_limit=Decimal(0),
        blocked=False,
        crm=ZOHO,
        email=f"orders@{slug}.example.com",
        phone=f"{phone} {rng.randint(100000, 9999999)}",
        sales_rep=2 if currency == "EUR" else 3,
        utc_offset_hours=offsets.get(country, 1),
        weight=rng.paretovariate(1.3),
    )


def _materials(rng: random.Random, plants: list[Plant], count: int = DEFAULT_MATERIALS) -> list[Material]:
    numbers = sorted(rng.sample(range(10000, 40000), count))
    materials = []
    for n in numbers:
        category, zh, en, (w_lo, w_hi), (p_lo, p_hi), packs = rng.choice(vocab.PART_TYPES)
        app_zh, app_en = rng.choice(vocab.APPLICATIONS)
        var_zh, var_en = rng.choice(vocab.VARIANTS)
        pack = rng.choice(packs)
        moq = pack * rng.choice([1, 1, 1, 2, 5])
        cny = Decimal(str(round(math.exp(rng.uniform(math.log(p_lo), math.log(p_hi))), 1)))
        cny = max(cny, Decimal("0.5"))
        prices = {"CNY": money(cny)}
        for cur in ("EUR", "USD"):
            prices[cur] = max(money(cny * FX_FROM_CNY[cur] * EXPORT_MARKUP), CENT)
        probability = min(max(rng.betavariate(0.5, 5.0), 0.002), 0.95)
        shape = rng.uniform(0.6, 3.0)
        mean_size = moq * rng.uniform(1.0, 6.0)
        in_plants = ["1010"]
        if rng.random() < 0.6:
            in_plants.append("1020")
        if probability > 0.12 or rng.random() < 0.3:
            in_plants.append("2010")
        materials.append(
            Material(
                number=f"SP-{n}",
                description_zh=" ".join(x for x in (app_zh, zh + var_zh) if x),
                description_en=", ".join(x for x in (en + (f" ({var_en})" if var_en else ""), app_en) if x),
                category=category,
                base_unit="PC",
                moq=moq,
                pack_size=pack,
                list_prices=prices,
                weight_kg=Decimal(str(round(rng.uniform(w_lo, w_hi), 3))),
                demand_probability=round(probability, 4),
                demand_shape=round(shape, 3),
                demand_scale=round(mean_size / shape, 3),
                lead_time_days=rng.choice([7, 14, 21, 28, 45, 60]),
                plants=tuple(p.code for p in plants if p.code in in_plants),
            )
        )
    return materials


def _unknown_products(rng: random.Random, known: set[str]) -> list[UnknownProduct]:
    products = []
    codes = [f"SP-0{rng.randint(1000, 9999)}", f"OLD-{rng.randint(1000, 9999)}", f"SP-{rng.randint(40000, 49999)}X"]
    for i, code in enumerate(codes):
        if code in known:
            code = f"{code}-{i}"
        cny = Decimal(rng.randint(20, 900))
        products.append(
            UnknownProduct(
                code=code,
                description_zh=f"停产件 {code}",
                description_en=f"Discontinued part {code}",
                list_prices={cur: money(cny * FX_FROM_CNY[cur]) for cur in CURRENCIES},
            )
        )
    return products


def _price_lists(materials: list[Material], now: datetime) -> list[PriceList]:
    year = now.year
    return [
        PriceList(
            id=f"PL-{cur}-{year}",
            name=f"Spare parts {cur} {year}",
            currency=cur,
            valid_from=date(year, 1, 1),
            valid_to=date(year, 12, 31),
            prices={m.number: m.list_prices[cur] for m in materials},
        )
        for cur in CURRENCIES
    ]


def _round_up(value: float, step: int) -> int:
    return max(step, math.ceil(value / step) * step)


def _stock(rng: random.Random, materials: list[Material]) -> list[StockLevel]:
    levels = []
    for m in materials:
        mean_size = m.demand_shape * m.demand_scale
        second_moment = m.demand_shape * m.demand_scale**2 * (1 + m.demand_shape)
        weekly_mean = m.demand_probability * mean_size
        weekly_sd = math.sqrt(max(m.demand_probability * second_moment - weekly_mean**2, 0.0))
        lead_weeks = m.lead_time_days / 7
        for plant in m.plants:
            share = 1.0 if plant == "1010" else 0.5
            safety = _round_up(1.65 * weekly_sd * share * math.sqrt(lead_weeks), m.pack_size)
            reorder = _round_up(weekly_mean * share * lead_weeks + safety, m.pack_size)
            maximum = reorder + _round_up(max(weekly_mean * share * 4, m.moq), m.pack_size)
            on_hand = 0 if rng.random() < 0.08 else rng.randint(0, maximum // m.pack_size) * m.pack_size
            levels.append(StockLevel(plant, m.number, on_hand, safety, reorder, maximum))
    return levels


def _set_credit_limits(customers: list[Customer], orders: list[SalesOrder]) -> None:
    # Generous limits: the order book never exceeds half of any limit, so a clean order is never held
    # for credit unless a test lowers the limit on purpose.
    totals: dict[str, Decimal] = {}
    for o in orders:
        if o.customer_number is None:
            continue
        for line in o.lines:
            if isinstance(line.unit_price, Decimal):
                amount = abs(line.unit_price * line.quantity)
                totals[o.customer_number] = totals.get(o.customer_number, Decimal(0)) + amount
    for c in customers:
        floor = Decimal(500000) if c.currency == "CNY" else Decimal(50000)
        limit = max(floor, totals.get(c.number, Decimal(0)) * 2)
        c.credit_limit = Decimal(math.ceil(limit / 10000) * 10000)


_LONG_SENTENCE = (
    "请注意：本订单包含多个批次的备件，需分开包装并在外箱标注客户订单号与零件号。"
    "Please pack each batch separately and label every carton with the order and part number. "
)
LONG_TEXT = (_LONG_SENTENCE * 8)[:500]


class _OrderBook:
    """Builds the orders of both CRMs, then plants the defects."""

    def __init__(
        self,
        seed: int,
        now: datetime,
        customers: list[Customer],
        materials: list[Material],
        unknown: list[UnknownProduct],
    ) -> None:
        self.seed = seed
        self.now = now
        self.rng = _rng(seed, "orders")
        self.defect_rng = _rng(seed, "defects")
        self.customers = customers
        self.materials = materials
        self.unknown = unknown
        self.by_number = {m.number: m for m in materials}
        self.material_weights = list(accumulate(m.demand_probability for m in materials))
        self.object_ids = ObjectIds(seed, "orders")
        self.zoho_lines = 0

    def build(self, count: int) -> list[SalesOrder]:
        n_zoho = round(count * ZOHO_SHARE)
        crms = [ZOHO] * n_zoho + [FXIAOKE] * (count - n_zoho)
        self.rng.shuffle(crms)
        pools = {crm: [c for c in self.customers if c.crm == crm and not c.blocked] for crm in CRMS}
        weights = {crm: list(accumulate(c.weight for c in pool)) for crm, pool in pools.items()}
        drafts = []
        for crm in crms:
            customer = self.rng.choices(pools[crm], cum_weights=weights[crm])[0]
            drafts.append((self._order_time(customer), crm, customer))
        drafts.sort(key=lambda d: d[0])
        orders = []
        seq = {ZOHO: 0, FXIAOKE: 0}
        for order_time, crm, customer in drafts:
            seq[crm] += 1
            orders.append(self._order(crm, seq[crm], customer, order_time))
        for crm in CRMS:
            self._plant_defects([o for o in orders if o.crm == crm])
        # Drawn from a stream of their own after everything else, so the random orders and their
        # defects are the same with or without them.
        self.rng = _rng(self.seed, "standing")
        orders.extend(self._standing_orders(count // ORDERS_PER_STANDING_PAIR, pools, seq))
        orders.sort(key=lambda o: o.order_time)
        return orders

    def _standing_orders(self, pairs: int, pools: dict[str, list[Customer]], seq: dict[str, int]) -> list[SalesOrder]:
        """Orders of ``pairs`` customer x part pairs bought every 7, 10 or 14 days (± a day), each with
        the part at about its usual quantity and now and then a part or two more."""
        rng = self.rng
        start = self.now - ORDER_HISTORY
        orders = []
        for _ in range(pairs):
            crm = rng.choice(CRMS)
            customer = rng.choice(pools[crm])
            part = rng.choices(self.materials, cum_weights=self.material_weights)[0]
            interval = rng.choice(STANDING_INTERVALS_DAYS)
            usual = max(part.moq, _round_up(part.demand_shape * part.demand_scale * 2, part.pack_size))
            at = start + timedelta(days=rng.uniform(0, interval))
            while at < self.now - timedelta(hours=12):
                seq[crm] += 1
                local_day = (at + timedelta(hours=customer.utc_offset_hours)).date()
                local = datetime.combine(local_day, datetime.min.time()) + timedelta(hours=rng.uniform(8, 17))
                moment = (local - timedelta(hours=customer.utc_offset_hours)).replace(tzinfo=UTC, microsecond=0)
                moment = min(max(moment, start), self.now - timedelta(minutes=30))
                order = self._order(crm, seq[crm], customer, moment, first=part)
                order.regular = (part.number, interval)
                order.lines[0].quantity = Decimal(
                    max(part.moq, _round_up(usual * rng.uniform(0.8, 1.2), part.pack_size))
                )
                orders.append(order)
                at += timedelta(days=interval + rng.choice((-1, 0, 0, 1)))
        return orders

    def _order_time(self, customer: Customer) -> datetime:
        start = self.now - ORDER_HISTORY
        while True:
            day = start + timedelta(days=self.rng.randrange(ORDER_HISTORY.days))
            local_day = (day + timedelta(hours=customer.utc_offset_hours)).date()
            # Business days mostly; a few orders come in at weekends.
            if local_day.weekday() < 5 or self.rng.random() < 0.15:
                break
        local = datetime.combine(local_day, datetime.min.time()) + timedelta(hours=self.rng.uniform(7.5, 18.5))
        moment = (local - timedelta(hours=customer.utc_offset_hours)).replace(tzinfo=UTC, microsecond=0)
        return min(max(moment, start), self.now - timedelta(minutes=30))

    def _modified_time(self, order_time: datetime) -> datetime:
        r = self.rng.random()
        if r < 0.55:
            delta = timedelta(seconds=self.rng.randint(1, 120))
        elif r < 0.9:
            delta = timedelta(seconds=self.rng.randint(600, 8 * 3600))
        else:
            delta = timedelta(seconds=self.rng.randint(86400, 10 * 86400))
        return min(order_time + delta, self.now - timedelta(minutes=1))

    def _order(
        self, crm: str, seq: int, customer: Customer, order_time: datetime, first: Material | None = None
    ) -> SalesOrder:
        if crm == ZOHO:
            number, crm_id = f"SO-{100000 + seq}", zoho_id("Sales_Orders", seq)
        else:
            number = f"{order_time.astimezone(CN_TZ):%Y%m%d}-{seq:06d}"
            crm_id = self.object_ids.next(order_time)
        rng = self.rng
        n_lines = rng.choices(range(1, 9), weights=[30, 22, 15, 11, 8, 6, 4, 4])[0]
        if first is not None:  # a regular buyer's order: their part, and now and then one or two more
            n_lines = rng.choices((1, 2, 3), weights=(6, 3, 1))[0]
        order = SalesOrder(
            number=number,
            crm=crm,
            crm_id=crm_id,
            customer_number=customer.number,
            currency=customer.currency,
            vat_rate=customer.vat_rate,
            order_time=order_time,
            modified_time=self._modified_time(order_time),
            status="Created" if rng.random() < 0.75 else "Approved",
            requested_delivery_date=order_time.date() + timedelta(days=rng.choice([7, 10, 14, 21, 28])),
            purchase_order=self._purchase_order(customer, seq),
            ship_to=customer.address,
            carrier=rng.choice(vocab.CARRIERS_CN if customer.currency == "CNY" else vocab.CARRIERS_INTL),
            description=rng.choice(vocab.ORDER_NOTES_CN if customer.language == "zh" else vocab.ORDER_NOTES_EN) or None,
            sales_rep=customer.sales_rep,
            lines=[],
        )
        chosen: set[str] = set()
        if first is not None:
            chosen.add(first.number)
            order.lines.append(self._line(order, 1, first))
        while len(order.lines) < n_lines:
            material = rng.choices(self.materials, cum_weights=self.material_weights)[0]
            if material.number in chosen:
                continue
            chosen.add(material.number)
            order.lines.append(self._line(order, len(order.lines) + 1, material))
        return order

    def _purchase_order(self, customer: Customer, seq: int) -> str:
        if customer.language == "zh":
            return f"CG{self.rng.randint(2026000, 2026999)}-{seq % 100:02d}"
        return f"45{self.rng.randint(10000000, 99999999)}"

    def _line_id(self, order: SalesOrder) -> str:
        if order.crm == ZOHO:
            self.zoho_lines += 1
            return zoho_id("Ordered_Items", self.zoho_lines)
        return self.object_ids.next(order.order_time)

    def _line(self, order: SalesOrder, line_number: int, material: Material) -> OrderLine:
        size = self.rng.gammavariate(material.demand_shape, material.demand_scale)
        quantity = max(material.moq, _round_up(size, material.pack_size))
        return OrderLine(
            line_number=line_number,
            material_number=material.number,
            quantity=Decimal(quantity),
            unit_price=material.list_prices[order.currency],
            currency=order.currency,
            discount_percent=Decimal(2) if self.rng.random() < 0.2 else Decimal(0),
            description=None,
            crm_id=self._line_id(order),
        )

    # -- defects ------------------------------------------------------------------------------------

    def _plant_defects(self, orders: list[SalesOrder]) -> None:
        if not orders:
            return
        rng = self.defect_rng
        pool = list(orders)
        rng.shuffle(pool)
        # At most a third of the orders are bad, so even a tiny order book is mostly clean; from about
        # 45 orders per CRM there is room for every kind.
        pool = pool[: len(pool) // 3]
        wanted = max(1, round(len(orders) * DEFECT_RATE))
        for kind in DefectKind:
            # One defect per order, so each can be traced on its own.
            for _ in range(wanted):
                if not pool:
                    return
                order = pool.pop()
                self._apply(kind, order)
                order.defects.append(kind.value)

    def _apply(self, kind: DefectKind, order: SalesOrder) -> None:
        rng = self.defect_rng
        line = rng.choice(order.lines)
        if kind is DefectKind.MISSING_CUSTOMER:
            order.customer_number = None
        elif kind is DefectKind.UNKNOWN_PRODUCT:
            product = rng.choice(self.unknown)
            line.material_number = product.code
            line.unit_price = product.list_prices[order.currency]
        elif kind is DefectKind.BAD_QUANTITY:
            line.quantity = Decimal(0) if rng.random() < 0.5 else -Decimal(self._material(line).pack_size)
        elif kind is DefectKind.NON_NUMERIC_PRICE:
            line.unit_price = rng.choice(vocab.NON_NUMERIC_PRICES)
        elif kind is DefectKind.DUPLICATE_LINE_NUMBERS:
            if len(order.lines) < 2:
                self._add_line(order)
            order.lines[1].line_number = order.lines[0].line_number
        elif kind is DefectKind.CURRENCY_MISMATCH:
            other = {"CNY": "USD", "EUR": "USD", "USD": "EUR"}[order.currency]
            line.currency = other
            if isinstance(line.unit_price, Decimal):
                line.unit_price = self._price(line.material_number, other)
        elif kind is DefectKind.EMOJI_TEXT:
            order.description = rng.choice(vocab.EMOJI_NOTES)
            line.description = rng.choice(vocab.EMOJI_NOTES)
        elif kind is DefectKind.LONG_TEXT:
            order.description = LONG_TEXT
            line.description = LONG_TEXT
        elif kind is DefectKind.UNKNOWN_EXTRA_FIELDS:
            order.extra_fields = {"legacy_channel": "EDI-OLD", "promo_code": "WINTER26"}
            line.extra_fields = {"old_part_ref": f"OLD-{rng.randint(10000, 99999)}"}
        elif kind is DefectKind.MISSING_OPTIONAL_FIELDS:
            order.requested_delivery_date = None
            order.purchase_order = None
            order.ship_to = None
            order.carrier = None
            order.description = None
            for each in order.lines:
                each.description = None
        elif kind is DefectKind.BLOCKED_CUSTOMER:
            self._rebill_to(order, rng.choice([c for c in self.customers if c.crm == order.crm and c.blocked]))
        elif kind is DefectKind.BELOW_MOQ:
            material = self._pick(order, lambda m: m.moq > m.pack_size)
            self._set_material(line, material, material.moq - material.pack_size)
        elif kind is DefectKind.PACK_SIZE_VIOLATION:
            material = self._pick(order, lambda m: m.pack_size > 1)
            self._set_material(line, material, material.moq + 1)
        elif kind is DefectKind.PRICE_OUT_OF_TOLERANCE:
            if isinstance(line.unit_price, Decimal):
                line.unit_price = max(money(line.unit_price * Decimal("0.55")), CENT)
            line.discount_percent = Decimal(0)

    def _material(self, line: OrderLine) -> Material:
        return self.by_number.get(line.material_number) or self.materials[0]

    def _price(self, number: str, currency: str) -> Decimal:
        material = self.by_number.get(number)
        if material is not None:
            return material.list_prices[currency]
        return next(p.list_prices[currency] for p in self.unknown if p.code == number)

    def _add_line(self, order: SalesOrder) -> None:
        used = {line.material_number for line in order.lines}
        material = next(m for m in self.materials if m.number not in used)
        order.lines.append(self._line(order, len(order.lines) + 1, material))

    def _pick(self, order: SalesOrder, fits: Callable[[Material], bool]) -> Material:
        used = {line.material_number for line in order.lines}
        return self.defect_rng.choice([m for m in self.materials if fits(m) and m.number not in used])

    def _set_material(self, line: OrderLine, material: Material, quantity: int) -> None:
        line.material_number = material.number
        line.quantity = Decimal(quantity)
        line.unit_price = material.list_prices[line.currency]

    def _rebill_to(self, order: SalesOrder, customer: Customer) -> None:
        order.customer_number = customer.number
        order.vat_rate = customer.vat_rate
        order.ship_to = customer.address
        if customer.currency != order.currency:
            order.currency = customer.currency
            for line in order.lines:
                line.currency = customer.currency
                if isinstance(line.unit_price, Decimal):
                    line.unit_price = self._price(line.material_number, customer.currency)


__all__ = [
    "CRMS",
    "CURRENCIES",
    "FXIAOKE",
    "QUARANTINE_DEFECTS",
    "TOLERATED_DEFECTS",
    "ZOHO",
    "Address",
    "Customer",
    "DefectKind",
    "Material",
    "OrderLine",
    "Plant",
    "PriceList",
    "SalesOrder",
    "SeedData",
    "StockLevel",
    "UnknownProduct",
    "generate",
]
