"""Per-client API usage: what a materialization reports and a benchmark compares."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ClientMetrics:
    """Requests, cost points, throttle waits, retries by cause and latencies of one client."""

    requests: int = 0
    cost_requested: float = 0.0
    cost_actual: float = 0.0
    throttle_wait_seconds: float = 0.0
    throttled_responses: int = 0
    token_renewals: int = 0  # access tokens renewed after Shopify refused one as expired
    retries: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record(self, *, latency: float, requested: float = 0.0, actual: float = 0.0) -> None:
        with self._lock:
            self.requests += 1
            self.cost_requested += requested
            self.cost_actual += actual
            self.latencies.append(latency)

    def percentile(self, q: float) -> float:
        """Latency at quantile ``q`` (0..1), in seconds; 0 when nothing was measured."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    def as_metadata(self, prefix: str = "api") -> dict[str, Any]:
        """Flat numbers for Dagster metadata (plottable across materializations)."""
        return {
            f"{prefix}_requests": self.requests,
            f"{prefix}_cost_requested": round(self.cost_requested, 1),
            f"{prefix}_cost_actual": round(self.cost_actual, 1),
            f"{prefix}_throttle_wait_s": round(self.throttle_wait_seconds, 2),
            f"{prefix}_throttled": self.throttled_responses,
            f"{prefix}_retries": sum(self.retries.values()),
            f"{prefix}_latency_p50_ms": round(self.percentile(0.5) * 1000, 1),
            f"{prefix}_latency_p95_ms": round(self.percentile(0.95) * 1000, 1),
        }
