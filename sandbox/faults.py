"""Fault configuration per system and the seeded decision of which fault hits which call.

Every call that a fault may hit draws the same number of random values, whatever is configured, so a
given sequence of calls meets the same faults on every run with the same seed.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

FaultKind = Literal["drop", "truncate", "throttle", "server_error", "quota", "concurrency"]

_RATES = ("rate_429", "rate_5xx", "rate_slow", "rate_drop", "rate_truncate")
_COUNTS = ("burst_429", "burst_5xx", "burst_drop")


class FaultConfigError(ValueError):
    """A control-API fault setting that cannot be applied."""


@dataclass
class FaultConfig:
    rate_429: float = 0.0
    retry_after: int | None = None  # seconds; None = no Retry-After header, as the real APIs do
    rate_5xx: float = 0.0
    status_5xx: int = 500
    rate_slow: float = 0.0
    slow_seconds: float = 0.0
    rate_drop: float = 0.0  # close the socket without any response
    rate_truncate: float = 0.0  # send headers and half the body, then close
    burst_429: int = 0  # the next N calls get 429 (or the system's own throttling error)
    burst_5xx: int = 0
    burst_drop: int = 0
    max_concurrency: int | None = None  # calls in flight beyond this get 429
    quota_exhausted: bool = False  # daily credits / quota used up
    throttle_as_http: bool = False  # Fxiaoke only: HTTP 429 from the gateway instead of errorCode 30004
    scope: Literal["api", "all"] = "api"  # "all" also hits the token endpoints
    token_rate_limit: int | None = None  # tokens per window; None = the system's documented limit

    def update(self, changes: dict[str, Any]) -> None:
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise FaultConfigError(f"unknown fault settings: {', '.join(unknown)}")
        for key, value in changes.items():
            setattr(self, key, _checked(key, value))
        # A delay with no rate would silently do nothing; a caller who sets only the delay means "every call".
        if changes.get("slow_seconds") and "rate_slow" not in changes and not self.rate_slow:
            self.rate_slow = 1.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _checked(key: str, value: Any) -> Any:
    if key in _RATES:
        if not isinstance(value, int | float) or isinstance(value, bool) or not 0.0 <= value <= 1.0:
            raise FaultConfigError(f"{key} must be a number between 0 and 1")
        return float(value)
    if key in _COUNTS:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise FaultConfigError(f"{key} must be a non-negative integer")
        return value
    if key in ("retry_after", "max_concurrency", "token_rate_limit"):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise FaultConfigError(f"{key} must be a non-negative integer or null")
        return value
    if key == "slow_seconds":
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise FaultConfigError("slow_seconds must be a non-negative number")
        return float(value)
    if key == "status_5xx":
        if not isinstance(value, int) or not 500 <= value <= 599:
            raise FaultConfigError("status_5xx must be a 5xx status code")
        return value
    if key in ("quota_exhausted", "throttle_as_http"):
        if not isinstance(value, bool):
            raise FaultConfigError(f"{key} must be true or false")
        return value
    if key == "scope":
        if value not in ("api", "all"):
            raise FaultConfigError('scope must be "api" or "all"')
        return value
    raise FaultConfigError(f"unknown fault setting {key}")


@dataclass(frozen=True)
class Decision:
    kind: FaultKind | None = None
    slow_seconds: float = 0.0


def _rng_for(seed: int, system: str) -> random.Random:
    digest = hashlib.sha256(f"{seed}:faults:{system}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


class FaultState:
    """The live fault settings of one system, with its own seeded random stream."""

    def __init__(self, seed: int, system: str) -> None:
        self._seed = seed
        self._system = system
        self.config = FaultConfig()
        self.in_flight = 0
        self._rng = _rng_for(seed, system)

    def apply(self, changes: dict[str, Any]) -> None:
        self.config.update(changes)
        # Restart the random stream so the same control calls followed by the same API calls meet the
        # same faults, however many calls came before.
        self._rng = _rng_for(self._seed, self._system)

    def reset(self) -> None:
        self.config = FaultConfig()
        self._rng = _rng_for(self._seed, self._system)

    def decide(self) -> Decision:
        cfg = self.config
        r_drop, r_trunc, r_429, r_5xx, r_slow = (self._rng.random() for _ in range(5))
        slow = cfg.slow_seconds if r_slow < cfg.rate_slow else 0.0
        kind: FaultKind | None = None
        if cfg.burst_drop > 0:
            cfg.burst_drop -= 1
            kind = "drop"
        elif cfg.burst_429 > 0:
            cfg.burst_429 -= 1
            kind = "throttle"
        elif cfg.burst_5xx > 0:
            cfg.burst_5xx -= 1
            kind = "server_error"
        elif cfg.quota_exhausted:
            kind = "quota"
        elif cfg.max_concurrency is not None and self.in_flight > cfg.max_concurrency:
            kind = "concurrency"
        elif r_drop < cfg.rate_drop:
            kind = "drop"
        elif r_trunc < cfg.rate_truncate:
            kind = "truncate"
        elif r_429 < cfg.rate_429:
            kind = "throttle"
        elif r_5xx < cfg.rate_5xx:
            kind = "server_error"
        return Decision(kind=kind, slow_seconds=slow)
