"""Faults on demand, per store and per operation, for the reliability tests.

Kinds (FACTS.md §8.9):
- ``server_error``: HTTP 5xx, nothing applied.
- ``timeout``: the server hangs past the client's timeout and closes, nothing applied.
- ``drop``: the connection closes with no response, nothing applied.
- ``throttled``: Shopify's THROTTLED answer, nothing applied.
- ``too_many_requests``: HTTP 429 with ``Retry-After``, nothing applied.
- ``apply_then_fail`` / ``apply_then_timeout`` / ``apply_then_drop``: the request runs and its
  writes land, then the caller gets a 5xx, a hang or a dropped connection — the ambiguous
  outcome that makes naive importers create duplicates.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = (
    "server_error",
    "timeout",
    "drop",
    "throttled",
    "too_many_requests",
    "apply_then_fail",
    "apply_then_timeout",
    "apply_then_drop",
    "stuck_cursor",
    "null_field",
)


@dataclass
class FaultRule:
    """Fires on requests to one store whose operation name or a root field equals
    ``operation`` (any request when None): the next ``count`` times, or at ``rate``."""

    kind: str
    operation: str | None = None
    rate: float = 0.0
    count: int | None = None
    status: int = 502
    hang_seconds: float = 3.0
    retry_after: float = 1.0
    field: str | None = None  # null_field: the response field answered as null everywhere
    fired: int = 0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {KINDS}")
        if self.count is None and not 0 < self.rate <= 1:
            raise ValueError("a fault needs a count or a rate between 0 and 1")

    @property
    def after_apply(self) -> bool:
        return self.kind.startswith("apply_then_")

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FaultPlan:
    """The fault rules of one store, drawn with a seeded generator for repeatable runs."""

    rules: list[FaultRule] = field(default_factory=list)
    seed: int = 0

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def pick(self, names: set[str]) -> FaultRule | None:
        """The rule that fires for a request touching ``names``, if any; counts it."""
        for rule in self.rules:
            if rule.operation is not None and rule.operation not in names:
                continue
            if rule.count is not None:
                if rule.fired < rule.count:
                    rule.fired += 1
                    return rule
                continue
            if self._random.random() < rule.rate:
                rule.fired += 1
                return rule
        return None
