"""Fulfillment pushback rules: how an LGL shipment maps onto the retailer's fulfillment orders.

Plain functions over plain data (DESIGN.md, "Fulfillment pushback — the rules"): no I/O, no
database types. Reading the shipments is ``reads.py``; the protocol that writes them to the
retailer's store exactly once is ``writer.py``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lgl_sync.shopify.models import FulfillmentOrder

PUSHED_TAG = "fulfillment-pushed"


@dataclass(frozen=True)
class Tracking:
    company: str | None
    numbers: tuple[str, ...]
    urls: tuple[str | None, ...]

    def fingerprint(self) -> str:
        return json.dumps([self.company, list(self.numbers), list(self.urls)])

    def as_input(self, company: str | None = None) -> dict[str, Any]:
        """FulfillmentTrackingInput with every number (the old scripts kept only the first);
        URLs are sent only when each number has one, so they stay paired. ``company`` is the
        carrier as Shopify spells it, when it lists it (it then builds the tracking link)."""
        tracking: dict[str, Any] = {}
        if company or self.company:
            tracking["company"] = company or self.company
        if self.numbers:
            tracking["numbers"] = list(self.numbers)
            if all(self.urls) and len(self.urls) == len(self.numbers):
                tracking["urls"] = list(self.urls)
        return tracking


@dataclass(frozen=True)
class Shipment:
    """One LGL fulfillment of an order imported from the retailer."""

    lgl_order_id: str
    lgl_order_name: str
    lgl_fulfillment_id: str
    status: str
    tracking: Tracking
    source_identifier: str | None
    tags: tuple[str, ...]
    created_at: datetime | None = None

    @property
    def cancelled(self) -> bool:
        return self.status == "CANCELLED"


@dataclass(frozen=True)
class ShippedOrder:
    """An LGL order imported from the retailer, with its shipments."""

    id: str
    name: str
    fulfillment_status: str | None
    tags: tuple[str, ...]
    shipments: tuple[Shipment, ...]


def shipment_rows(orders: list[ShippedOrder]) -> list[dict]:
    """LGL's shipments as the history keeps them (boxes: one per tracking number, at least 1)."""
    return [
        {
            "lgl_fulfillment_id": s.lgl_fulfillment_id,
            "lgl_order_id": order.id,
            "shipped_at": s.created_at,
            "carrier": s.tracking.company,
            "boxes": max(1, len(s.tracking.numbers)),
            "cancelled": s.cancelled,
        }
        for order in orders
        for s in order.shipments
    ]


DELIVERED = {"pushed", "already_pushed", "tracking_updated"}


def orders_fully_pushed(orders: list[ShippedOrder], outcomes: dict[str, str]) -> list[str]:
    """LGL orders to tag ``fulfillment-pushed``: fully shipped, not tagged yet, and every live
    shipment on the retailer's order (``outcomes``: status by LGL fulfillment id)."""
    done = []
    for order in orders:
        if order.fulfillment_status != "FULFILLED" or PUSHED_TAG in order.tags:
            continue
        live = [s.lgl_fulfillment_id for s in order.shipments if not s.cancelled]
        if live and all(outcomes.get(f) in DELIVERED for f in live):
            done.append(order.id)
    return done


def late_shipments(orders: list[ShippedOrder], settled: set[str], cutoff: datetime) -> list[str]:
    """Live shipments made before ``cutoff`` that are neither pushed nor reported."""
    return [
        s.lgl_fulfillment_id
        for order in orders
        for s in order.shipments
        if not s.cancelled
        and s.created_at is not None
        and s.created_at < cutoff
        and s.lgl_fulfillment_id not in settled
    ]


def legacy_order_number(tags: tuple[str, ...]) -> str | None:
    """The numeric order-number tag the old system put on the orders it imported."""
    return next((t for t in tags if t.isdigit()), None)


@dataclass(frozen=True)
class Allocation:
    """fulfillmentCreate's lineItemsByFulfillmentOrder, or why there is none."""

    groups: tuple[tuple[str, tuple[tuple[str, int], ...]], ...] = ()
    problem: str | None = None
    detail: str | None = None

    def as_input(self) -> list[dict[str, Any]]:
        return [
            {
                "fulfillmentOrderId": fo,
                "fulfillmentOrderLineItems": [
                    {"id": line, "quantity": quantity} for line, quantity in lines
                ],
            }
            for fo, lines in self.groups
        ]


@dataclass(frozen=True)
class RetailerFulfillment:
    """A fulfillment on the retailer's order: its tracking numbers and (sku, quantity) lines."""

    id: str
    status: str | None
    numbers: frozenset[str]
    lines: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class RetailerOrder:
    """The retailer order a shipment goes onto, as the pushback decides on it."""

    id: str
    name: str
    cancelled: bool
    fulfillment_orders: tuple[FulfillmentOrder, ...]
    fulfillments: tuple[RetailerFulfillment, ...]


def _summed(lines) -> Counter:
    total: Counter = Counter()
    for sku, quantity in lines:
        total[sku] += quantity
    return total


def units_by_sku(lines) -> dict[str, int]:
    """{sku: units} of (sku, quantity) lines, as the ledger records a push."""
    return dict(_summed(lines))


def allocate(
    lines: list[tuple[str, int]], fulfillment_orders: list[FulfillmentOrder], location_id: str
) -> Allocation:
    """Maps shipped (sku, quantity) onto the retailer's fulfillment orders at the LGL location,
    splitting across them when needed and never beyond what remains."""
    at_lgl = [fo for fo in fulfillment_orders if fo.location_id == location_id]
    known = {li.sku for fo in at_lgl for li in fo.lines}
    missing = sorted({sku for sku, _ in lines} - known)
    if missing:
        return Allocation(problem="sku_not_on_retailer_order", detail=", ".join(missing))
    open_lines = [(fo.id, li) for fo in at_lgl if fo.fulfillable for li in fo.lines]
    remaining = _summed((li.sku, li.remaining) for _, li in open_lines)
    wanted = _summed(lines)
    short = {sku: n for sku, n in wanted.items() if remaining[sku] < n}
    if short:
        if any(fo.status == "ON_HOLD" for fo in at_lgl):
            return Allocation(problem="fulfillment_order_on_hold")
        if all(remaining[sku] == 0 for sku in short):
            return Allocation(
                problem="already_fulfilled",
                detail="the retailer order has nothing left to ship for "
                + ", ".join(sorted(short)),
            )
        return Allocation(problem="quantity_exceeds_remaining", detail=json.dumps(short))
    groups: dict[str, list[tuple[str, int]]] = {}
    for fo_id, li in open_lines:
        take = min(wanted[li.sku], li.remaining)
        if take > 0:
            groups.setdefault(fo_id, []).append((li.id, take))
            wanted[li.sku] -= take
    return Allocation(groups=tuple((fo, tuple(items)) for fo, items in groups.items()))


def matching_fulfillment(
    retailer_fulfillments: tuple[RetailerFulfillment, ...],
    tracking: Tracking,
    lines: list[tuple[str, int]],
    linked: set[str],
) -> str | None:
    """After an ambiguous create: the retailer fulfillment that is ours (same tracking numbers
    and lines, not linked to another LGL fulfillment), if one exists."""
    wanted = _summed(lines)
    for fulfillment in retailer_fulfillments:
        if fulfillment.id in linked or fulfillment.status == "CANCELLED":
            continue
        if fulfillment.numbers == set(tracking.numbers) and _summed(fulfillment.lines) == wanted:
            return fulfillment.id
    return None
