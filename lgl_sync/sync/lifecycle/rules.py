"""Order lifecycle rules: what an imported order's LGL order must become when its source changes.

Plain data in, decisions out; no I/O. A new shipping address goes onto the LGL order while
nothing has shipped (afterwards a person is told). A source order cancelled after import:
- its LGL order is cancelled (restocked, no customer notice) while nothing of it has shipped;
- once something shipped, the fulfillment orders still open are put on hold and a person decides
  (a shipment cannot be called back by an API);
- an LGL order already cancelled needs nothing more.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

HOLD_HANDLE = "lgl-sync-retailer-cancelled"
# The retailer put the order's fulfillment order at the LGL location on hold: LGL holds its own
# until the retailer releases theirs (then only this hold is released, never a person's).
RETAILER_HOLD_HANDLE = "lgl-sync-retailer-hold"
OPEN_STATUSES = ("OPEN", "IN_PROGRESS", "SCHEDULED")


@dataclass(frozen=True)
class SourceChange:
    """An imported retailer order that changed: cancelled, or its shipping address."""

    id: str
    name: str
    cancelled_at: datetime | None
    shipping_address: dict[str, Any] | None
    fulfilled: bool = False  # shipped in full at the retailer: nothing left to edit


@dataclass(frozen=True)
class LglLine:
    """A line of an LGL order: ``current`` leaves out removed units, ``unfulfilled`` is what
    can still be edited."""

    id: str
    sku: str | None
    variant_id: str | None
    current: int
    unfulfilled: int


@dataclass(frozen=True)
class LglOrderState:
    """An LGL order as read by id."""

    id: str
    name: str
    cancelled: bool
    shipped: bool  # at least one fulfillment that is not cancelled
    open_fulfillment_orders: tuple[str, ...]  # OPEN / IN_PROGRESS / SCHEDULED, not yet held
    on_hold: bool  # some fulfillment order is on hold already
    lines: tuple[LglLine, ...] = ()
    # (fulfillment order id, hold id) of LGL Sync's holds for a hold at the retailer
    retailer_holds: tuple[tuple[str, str], ...] = ()
    created_at: datetime | None = None

    def units(self) -> dict[str, int]:
        """{sku: units} of the order's lines, shipped or not."""
        total: dict[str, int] = {}
        for line in self.lines:
            if line.sku and line.current:
                total[line.sku] = total.get(line.sku, 0) + line.current
        return total


@dataclass(frozen=True)
class EditPlan:
    """What an LGL order's lines must change by to match the retailer's LGL lines."""

    add: dict[str, int]  # sku -> units to add
    remove: dict[str, int]  # sku -> unfulfilled units to take off
    shipped_over: dict[str, int]  # sku -> units shipped beyond what is wanted now (a person)

    def __bool__(self) -> bool:
        return bool(self.add or self.remove)


def edit_plan(wanted: dict[str, int], state: LglOrderState) -> EditPlan:
    """By state, never by replaying a recorded change: wanted units per SKU against the LGL
    order's lines now. Units already shipped cannot be taken off: they are reported."""
    have = state.units()
    open_units: dict[str, int] = {}
    for line in state.lines:
        if line.sku:
            open_units[line.sku] = open_units.get(line.sku, 0) + line.unfulfilled
    add, remove, over = {}, {}, {}
    for sku in sorted(set(wanted) | set(have)):
        delta = wanted.get(sku, 0) - have.get(sku, 0)
        if delta > 0:
            add[sku] = delta
        elif delta < 0:
            removable = min(-delta, open_units.get(sku, 0))
            if removable:
                remove[sku] = removable
            if -delta > removable:
                over[sku] = -delta - removable
    return EditPlan(add, remove, over)


def describe(plan: EditPlan) -> str:
    """``+2 SKU-A, -1 SKU-B`` for a person."""
    parts = [f"+{n} {sku}" for sku, n in plan.add.items()]
    parts += [f"-{n} {sku}" for sku, n in plan.remove.items()]
    return ", ".join(parts)


class Action(StrEnum):
    NOTHING = "nothing"  # already cancelled at LGL
    CANCEL = "cancel"
    HOLD_REST = "hold_rest"  # part shipped: hold what is still open, tell a person
    TELL = "tell"  # everything shipped already: only a person can act


def decide(state: LglOrderState) -> Action:
    if state.cancelled:
        return Action.NOTHING
    if not state.shipped:
        return Action.CANCEL
    return Action.HOLD_REST if state.open_fulfillment_orders else Action.TELL


def staff_note(retailer_id: str, source_name: str) -> str:
    """The note on the LGL order's cancellation (Shopify keeps at most 255 characters)."""
    return f"Cancelled at retailer {retailer_id} ({source_name}); cancelled by LGL Sync."[:255]


def wanted_units(
    assigned: Iterable[tuple[str, int]], prefulfilled: dict[str, int]
) -> dict[str, int]:
    """The units per SKU the LGL order should carry: the retailer's units at its LGL location
    (``assigned``), less those someone else fulfilled there before import (never LGL's)."""
    wanted = {sku: n - prefulfilled.get(sku, 0) for sku, n in assigned}
    return {sku: n for sku, n in wanted.items() if n > 0}


def lines_fingerprint(wanted: dict[str, int]) -> str:
    """A digest of {sku: units}: equal digests, same LGL lines wanted."""
    return hashlib.sha256(json.dumps(sorted(wanted.items())).encode()).hexdigest()[:32]
