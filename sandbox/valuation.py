"""Standard prices of the seeded materials, the valuation SAP (MBEW) and the ERP extract share.

A material's standard price per base unit in a plant is a seeded 55–65 % of its list price in the
plant's company currency (CNY for 1010/1020, company code 1000; EUR for 2010, company code 2000),
quantised to the cent and never below 0.01. The share is drawn per material and plant from the seed,
so the same seed always values stock the same way: SAP's physical-inventory documents
(``DifferenceAmountInCoCodeCrcy`` = difference × standard price) and ``material_plants.csv``
(``unit_cost``) agree to the cent.
"""

from __future__ import annotations

import hashlib
from decimal import ROUND_HALF_UP, Decimal

from sandbox.seed_data import SeedData

CENT = Decimal("0.01")
SHARE_LOW, SHARE_HIGH = 55, 65  # percent of the list price


class Valuation:
    """Standard prices and company currencies of one seed's materials and plants."""

    def __init__(self, data: SeedData) -> None:
        self.data = data
        self._currency = {p.code: p.currency for p in data.plants}
        self._cache: dict[tuple[str, str], Decimal] = {}

    def currency(self, plant: str) -> str:
        """The company-code currency of ``plant`` (KeyError for a plant the seed does not have)."""
        return self._currency[plant]

    def standard_price(self, material: str, plant: str) -> Decimal:
        """Price per base unit of ``material`` in ``plant``, in the plant's company currency.

        KeyError for a material or plant the seed does not know."""
        key = (material, plant)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        list_price = self.data.material_by_number[material].list_prices[self.currency(plant)]
        # A hash, not a shared random stream: the price of one pair never depends on which pairs
        # were valued before it.
        digest = hashlib.sha256(f"{self.data.seed}:valuation:{material}:{plant}".encode()).digest()
        permille = SHARE_LOW * 10 + int.from_bytes(digest[:4], "big") % ((SHARE_HIGH - SHARE_LOW) * 10 + 1)
        price = max((list_price * permille / 1000).quantize(CENT, rounding=ROUND_HALF_UP), CENT)
        self._cache[key] = price
        return price
