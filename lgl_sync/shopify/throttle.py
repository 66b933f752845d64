"""Cost-aware pacing from Shopify's own figures (``extensions.cost.throttleStatus``)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float: ...
    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """Real time."""

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


_clocks: list[Clock] = [SystemClock()]


def default_clock() -> Clock:
    """The clock a client waits on when it is given none: real time, except inside
    ``waiting_on`` (a benchmark's sped-up sandbox, so every sleep is on the sandbox's clock)."""
    return _clocks[-1]


@contextmanager
def waiting_on(clock: Clock) -> Iterator[None]:
    """Every client made in this process meanwhile waits on ``clock``."""
    _clocks.append(clock)
    try:
        yield
    finally:
        _clocks.remove(clock)


@dataclass
class _Status:
    maximum: float
    available: float
    restore_rate: float
    at: float


class ThrottleGate:
    """Waits before a call whose expected cost exceeds what the bucket holds now.

    The projection starts from the last ``throttleStatus`` the server sent and adds the restore
    rate since. Waits carry a little jitter so that clients in several processes sharing a
    store spread out instead of retrying in lockstep.
    """

    def __init__(self, clock: Clock, rng: random.Random | None = None) -> None:
        self._clock = clock
        self._status: _Status | None = None
        self._lock = threading.Lock()
        self._random = rng or random.Random()

    def observe(self, throttle_status: dict | None, at: float | None = None) -> None:
        """Records the server's figures as of ``at`` (the clock reading they describe)."""
        if not throttle_status:
            return
        with self._lock:
            self._status = _Status(
                float(throttle_status["maximumAvailable"]),
                float(throttle_status["currentlyAvailable"]),
                float(throttle_status["restoreRate"]),
                self._clock.monotonic() if at is None else at,
            )

    def wait_needed(self, expected_cost: float, reserve: float = 0.0) -> float:
        """Seconds to wait before spending ``expected_cost`` points (0 when affordable), leaving
        ``reserve`` (a share of the bucket) unspent for the store's other clients."""
        with self._lock:
            status = self._status
            if status is None or status.restore_rate <= 0:
                return 0.0
            elapsed = self._clock.monotonic() - status.at
            projected = min(status.maximum, status.available + elapsed * status.restore_rate)
            cost = min(expected_cost + reserve * status.maximum, status.maximum)
            if cost <= projected:
                return 0.0
            return (cost - projected) / status.restore_rate

    def throttled_wait(self, requested: float, throttle_status: dict | None) -> float:
        """Seconds to wait after a THROTTLED answer for ``requested`` points to be there."""
        self.observe(throttle_status)
        wait = self.wait_needed(requested) if throttle_status else 1.0
        return max(wait, 0.05)

    def jitter(self, seconds: float) -> float:
        """``seconds`` plus a little random spread (up to 3%, at least 20 ms, at most 1 s), so
        that processes woken by the same refill do not all call at the same instant."""
        return seconds + self._random.uniform(0, min(1.0, max(0.02, seconds * 0.03)))
