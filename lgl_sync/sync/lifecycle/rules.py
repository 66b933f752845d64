"""Order lifecycle rules: what an imported order's LGL order must become when its source changes.

Plain data in, decisions out; no I/O. A new shipping address goes onto the LGL order while
nothing has shipped (afterwards a person is told). A source order cancelled after import:
- its LGL order is cancelled (restocked, no customer notice) while nothing of it has shipped;
- once something shipped, the fulfillment orders still open are put on hold and a person decides
  (a shipment cannot be called back by an API);
- an LGL order already cancelled needs nothing more.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

HOLD_HANDLE = "lgl-sync-retailer-cancelled"
OPEN_STATUSES = ("OPEN", "IN_PROGRESS", "SCHEDULED")


@dataclass(frozen=True)
class SourceChange:
    """An imported retailer order that changed: cancelled, or its shipping address."""

    id: str
    name: str
    cancelled_at: datetime | None
    shipping_address: dict[str, Any] | None


@dataclass(frozen=True)
class LglOrderState:
    """An LGL order as read by id."""

    id: str
    name: str
    cancelled: bool
    shipped: bool  # at least one fulfillment that is not cancelled
    open_fulfillment_orders: tuple[str, ...]  # OPEN / IN_PROGRESS / SCHEDULED, not yet held
    on_hold: bool  # some fulfillment order is on hold already


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
