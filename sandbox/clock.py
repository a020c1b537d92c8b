"""The sandbox clock: every emulator reads time from here, never from the wall clock.

It starts at a fixed instant so a run is reproducible, then (unless frozen) moves with real time so
token lifetimes and rate windows pass naturally during a long demo. Tests jump it forward instead of
sleeping.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

DEFAULT_START = datetime(2026, 11, 30, tzinfo=UTC)


def parse_instant(text: str) -> datetime:
    """An ISO-8601 instant; a naive value is taken as UTC."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def iso_z(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class SandboxClock:
    def __init__(self, start: datetime = DEFAULT_START, *, frozen: bool = False) -> None:
        self._base = start.astimezone(UTC)
        self._anchor = time.monotonic()
        self._frozen = frozen

    @property
    def frozen(self) -> bool:
        return self._frozen

    def now(self) -> datetime:
        if self._frozen:
            return self._base
        return self._base + timedelta(seconds=time.monotonic() - self._anchor)

    def now_ms(self) -> int:
        return int(self.now().timestamp() * 1000)

    def set(self, moment: datetime) -> None:
        self._base = moment.astimezone(UTC)
        self._anchor = time.monotonic()

    def advance(self, seconds: float) -> None:
        self.set(self.now() + timedelta(seconds=seconds))

    def freeze(self, frozen: bool) -> None:
        # Re-anchor first so the switch itself does not jump the clock.
        self.set(self.now())
        self._frozen = frozen
