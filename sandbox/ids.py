"""Record ids in each CRM's own shape, derived from counters so a seed always yields the same ids."""

from __future__ import annotations

import hashlib
from datetime import datetime

# Zoho ids are 19-digit numbers that grow with creation; one block per module keeps them apart.
ZOHO_BLOCKS = {
    "Accounts": 1,
    "Products": 2,
    "Sales_Orders": 3,
    "Ordered_Items": 4,
    "Price_Books": 5,
    "users": 6,
    "Tasks": 7,
}


def zoho_id(module: str, n: int) -> str:
    return f"5843104000{ZOHO_BLOCKS[module]}{n:08d}"


class ObjectIds:
    """Fxiaoke ``_id`` values: 24 hex digits, creation second first (like a MongoDB ObjectId), so
    sorting by ``_id`` roughly follows creation time, as the deep-paging recipe assumes."""

    def __init__(self, seed: int, stream: str) -> None:
        # Each stream (seeded orders, master data, records created later) gets its own node part, so
        # ids from different streams never collide even when their counters do.
        digest = hashlib.sha256(f"{seed}:fxiaoke:{stream}".encode()).digest()
        self._node = int.from_bytes(digest[:5], "big")
        self._counter = 0

    def next(self, created: datetime) -> str:
        self._counter += 1
        return f"{int(created.timestamp()) & 0xFFFFFFFF:08x}{self._node:010x}{self._counter & 0xFFFFFF:06x}"
