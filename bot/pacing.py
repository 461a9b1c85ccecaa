"""Token buckets: the one pacing rule shared by the command throttle and, later, the sender.

Pure: the caller passes the current time, so tests drive a clock instead of sleeping.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class TokenBucket:
    """`capacity` events at once, refilled at `rate` per second."""

    capacity: float
    rate: float
    tokens: float = -1.0
    updated: float = 0.0

    def __post_init__(self) -> None:
        if self.tokens < 0:
            self.tokens = self.capacity

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def try_take(self, now: float, amount: float = 1.0) -> bool:
        self._refill(now)
        if self.tokens >= amount:
            self.tokens -= amount
            return True
        return False

    def delay(self, now: float, amount: float = 1.0) -> float:
        """Seconds until `amount` tokens are available (0 when they already are)."""
        self._refill(now)
        return max(0.0, (amount - self.tokens) / self.rate)

    def is_full(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.capacity
