"""The sandbox's clock: real time, optionally sped up so throttle-bound tests take seconds."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class SandboxClock:
    """Monotonic seconds that run ``speed`` times faster than real time.

    Shopify's leaky bucket refills at a fixed rate per second; a test of a 100,000-SKU sync at
    the standard plan's 100 points/s would take minutes in real time. The bucket, bulk jobs and
    search lag read this clock, and a client given the same clock sleeps in the same units, so
    speeding it up shortens a run without changing any number Shopify would report.
    """

    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("clock speed must be positive")
        self._lock = threading.Lock()
        self._speed = speed
        self._real_origin = time.monotonic()
        self._origin = 0.0
        self._offset = 0.0

    @property
    def speed(self) -> float:
        return self._speed

    def set_speed(self, speed: float) -> None:
        """Changes the speed from now on, keeping the current reading continuous."""
        with self._lock:
            now = self._read()
            self._speed = speed
            self._real_origin = time.monotonic()
            self._origin = now

    def _read(self) -> float:
        return self._origin + (time.monotonic() - self._real_origin) * self._speed + self._offset

    def monotonic(self) -> float:
        """Seconds on the sandbox's clock."""
        with self._lock:
            return self._read()

    def sleep(self, seconds: float) -> None:
        """Sleeps ``seconds`` of sandbox time."""
        if seconds > 0:
            time.sleep(seconds / self._speed)

    def advance(self, seconds: float) -> None:
        """Jumps the clock forward (a test's way to let a bucket refill or a lag pass)."""
        with self._lock:
            self._offset += seconds

    def utcnow(self) -> datetime:
        """Wall-clock time as Shopify would stamp it, moved by any ``advance``."""
        return datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=self._offset)
