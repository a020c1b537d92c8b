"""How the emulated warehouse will ship one order: seeded by the sandbox seed and the deliveryOrderCode.

The same seed and order code always give the same plan, so a test finds an order that ships
partially or short with :func:`traits` before creating it. Draws (per order code):

- kind: ``short`` 1 in 30 (the final confirm ships one line short: actualQty < planQty), ``partial``
  3 in 25 (an intermediate confirm, confirmType 1, 1–3 days before the final one), else ``complete``
  (one final confirm). A partial order needs 2 units or more, a short one a line of 2 or more;
  otherwise it ships complete.
- carrier: ``PICKUP`` (到仓自提: logisticsCode OTHER, no tracking number) 1 in 16, else ZTO 1 in 5,
  else SF. The create's hints win: ``transportMode`` 到仓自提 or a ``pickerInfo`` → pickup; a
  ``logisticsCode`` of SF or ZTO → that carrier (unless the draw was a pickup).
- parcels per shipment: 1, or 2–3 for one order in four.
- times after acceptance: picking 0.5–3 h, packing 0.3–1.5 h later, shipping 0.5–4 h after packing.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

CARRIERS = {"SF": ("SF", "顺丰速运"), "ZTO": ("ZTO", "中通快递"), "PICKUP": ("OTHER", "到仓自提")}
PICKUP_MODE = "到仓自提"


def order_rng(seed: int, code: str, stream: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}:qimen:{code}:{stream}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@dataclass(frozen=True)
class Traits:
    kind: str  # complete | partial | short
    carrier: str  # SF | ZTO | PICKUP
    parcels: int  # packages per shipment


def traits(seed: int, code: str) -> Traits:
    """The seeded shipping traits of an order code, before the create's hints and line counts."""
    rng = order_rng(seed, code, "traits")
    r_kind, r_carrier, r_parcels = rng.random(), rng.random(), rng.random()
    kind = "short" if r_kind < 1 / 30 else "partial" if r_kind < 1 / 30 + 0.12 else "complete"
    carrier = "PICKUP" if r_carrier < 1 / 16 else "ZTO" if r_carrier < 1 / 16 + 0.2 else "SF"
    parcels = 1 if r_parcels < 0.75 else rng.choice((2, 3))
    return Traits(kind, carrier, parcels)


@dataclass(frozen=True)
class PlannedShipment:
    due: datetime
    confirm_type: int  # 0 final, 1 intermediate
    quantities: dict[str, int]  # line key → units in this shipment (incremental)


@dataclass(frozen=True)
class Plan:
    kind: str
    carrier: str
    parcels: int
    pick: datetime
    pack: datetime
    shipments: tuple[PlannedShipment, ...]


def _later(moment: datetime, hours: float) -> datetime:
    # Whole seconds, as every time the WMS writes (GMT+8 yyyy-MM-dd HH:mm:ss) and the control API shows.
    return (moment + timedelta(hours=hours)).replace(microsecond=0)


def plan_order(
    seed: int, code: str, lines: dict[str, int], accepted: datetime, *, requested: str | None, pickup: bool
) -> Plan:
    """The plan for an order whose lines (key → planQty) are all in, accepted at ``accepted``."""
    base = traits(seed, code)
    rng = order_rng(seed, code, "plan")
    carrier = (
        "PICKUP" if pickup or base.carrier == "PICKUP" else requested if requested in ("SF", "ZTO") else base.carrier
    )
    pick = _later(accepted, rng.uniform(0.5, 3))
    pack = _later(pick, rng.uniform(0.3, 1.5))
    ship = _later(pack, rng.uniform(0.5, 4))
    kind = base.kind
    if kind == "partial" and sum(lines.values()) < 2:
        kind = "complete"
    if kind == "short" and max(lines.values()) < 2:
        kind = "complete"
    if kind == "partial":
        first = {key: rng.randint(0, qty) for key, qty in lines.items()}
        keys = list(lines)
        if sum(first.values()) == 0:
            first[keys[0]] = 1
        if sum(first.values()) == sum(lines.values()):
            first[next(k for k in keys if first[k] > 0)] -= 1  # keep a unit back for the final shipment
        rest = {key: lines[key] - first[key] for key in keys}
        later = _later(ship, rng.uniform(24, 72))
        shipments = (PlannedShipment(ship, 1, first), PlannedShipment(later, 0, rest))
    elif kind == "short":
        shipped = dict(lines)
        largest = max(lines, key=lambda k: (lines[k], k))
        shipped[largest] -= rng.randint(1, max(1, lines[largest] // 2))
        shipments = (PlannedShipment(ship, 0, shipped),)
    else:
        shipments = (PlannedShipment(ship, 0, dict(lines)),)
    return Plan(kind, carrier, base.parcels, pick, pack, shipments)


def waybill_number(rng: random.Random, carrier: str) -> str:
    """A tracking number in the carrier's shape: SF + 13 digits; ZTO 14 digits starting with 7."""
    if carrier == "SF":
        return f"SF{rng.randrange(10**12, 10**13)}"
    return f"7{rng.randrange(10**13):013d}"


def split_parcels(items: list[tuple[str, str, int]], parcels: int) -> list[list[tuple[str, str, int]]]:
    """Spread (line key, itemCode, units) over up to ``parcels`` packages: big lines split, then round robin."""
    pieces = [piece for piece in items if piece[2] > 0]
    while len(pieces) < parcels:
        biggest = max(range(len(pieces)), key=lambda i: pieces[i][2])
        key, item, units = pieces[biggest]
        if units < 2:
            break
        pieces[biggest] = (key, item, units - units // 2)
        pieces.append((key, item, units // 2))
    boxes: list[list[tuple[str, str, int]]] = [[] for _ in range(min(parcels, len(pieces)) or 1)]
    for n, piece in enumerate(pieces):
        boxes[n % len(boxes)].append(piece)
    return boxes
