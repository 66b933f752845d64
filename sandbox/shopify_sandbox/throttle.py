"""Shopify's leaky bucket for the GraphQL Admin API, one per app and store.

FACTS.md §1: the requested cost must be available before a query runs, is deducted up front,
and ``requested - actual`` is refunded afterwards; the bucket refills at the plan's restore rate.
"""

from __future__ import annotations

from dataclasses import dataclass

from shopify_sandbox.clock import SandboxClock

# FACTS.md §1.1: restore rates documented; bucket sizes observed (20 x restore).
PLANS: dict[str, tuple[float, float]] = {
    "standard": (2000.0, 100.0),
    "advanced": (4000.0, 200.0),
    "plus": (20000.0, 1000.0),
    "enterprise": (40000.0, 2000.0),
}
MAX_QUERY_COST = 1000


@dataclass
class BucketStatus:
    maximum_available: float
    currently_available: float
    restore_rate: float

    def as_json(self) -> dict:
        return {
            "maximumAvailable": self.maximum_available,
            "currentlyAvailable": int(self.currently_available),
            "restoreRate": self.restore_rate,
        }


class LeakyBucket:
    """Cost points available to one app on one store."""

    def __init__(self, clock: SandboxClock, plan: str = "standard") -> None:
        self._clock = clock
        self.set_plan(plan)

    def set_plan(self, plan: str) -> None:
        if plan not in PLANS:
            raise ValueError(f"unknown plan {plan!r}; expected one of {sorted(PLANS)}")
        self.plan = plan
        self.maximum, self.restore_rate = PLANS[plan]
        self._available = self.maximum
        self._at = self._clock.monotonic()

    def _refill(self) -> None:
        now = self._clock.monotonic()
        self._available = min(self.maximum, self._available + (now - self._at) * self.restore_rate)
        self._at = now

    def try_take(self, cost: float) -> bool:
        """Deducts ``cost`` if that much is available; False means THROTTLED."""
        self._refill()
        if cost > self._available:
            return False
        self._available -= cost
        return True

    def refund(self, points: float) -> None:
        self._refill()
        self._available = min(self.maximum, self._available + points)

    def drain(self, points: float) -> None:
        """Takes points away as another app's traffic would (used by tests and faults)."""
        self._refill()
        self._available = max(0.0, self._available - points)

    def status(self) -> BucketStatus:
        self._refill()
        return BucketStatus(self.maximum, self._available, self.restore_rate)
